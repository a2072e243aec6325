(def (Report.a 0))
(when true (:= Report.a (+ (if true 1) 2)))
