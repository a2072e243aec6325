(def (Report.a 0))
(when true (:= x (+ x 1)))
