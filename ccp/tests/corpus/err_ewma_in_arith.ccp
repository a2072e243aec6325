(def (Report.a 0))
(when true (:= Report.a (+ (ewma 2 Ack.now) 2)))
