(def (Report (volatile acked 0)))
(when true
    (:= Report.ackd Ack.bytes_acked)
)
