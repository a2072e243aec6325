(def (Report (volatile acked 0)))
(when true
    (:= Report.acked (if 1 Ack.bytes_acked))
)
