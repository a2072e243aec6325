(def (Report.a 0))
(when true (:= Report.a (+ 2 (if true 1))))
