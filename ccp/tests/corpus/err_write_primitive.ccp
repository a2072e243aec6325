(def (Report.a 0))
(when true (:= Ack.bytes_acked 1))
