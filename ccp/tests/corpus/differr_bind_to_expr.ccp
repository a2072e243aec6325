(def (Report.a 0))
(when true (:= (+ 1 2) 3))
