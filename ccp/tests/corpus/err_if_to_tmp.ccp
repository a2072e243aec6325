(def (Report.a 0))
(when true (:= (+ 1 2) (if true 1)))
