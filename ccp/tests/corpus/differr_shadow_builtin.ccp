(def (Cwnd 10))
(when true (:= Cwnd 5))
