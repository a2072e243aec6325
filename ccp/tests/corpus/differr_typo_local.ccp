(def (Report (volatile acked 0)))
(when true
    (:= Report.acked Ack.bytes_ackd)
)
