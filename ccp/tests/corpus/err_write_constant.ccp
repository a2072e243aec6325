(def (Report.a 0))
(when true (:= 5 1))
