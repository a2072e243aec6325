# Reno-style per-ACK fold; a leading comment is rejected by portus.
(def (Report (volatile acked 0)))
(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (report)
)
