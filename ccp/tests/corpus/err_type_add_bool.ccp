(def (Report.a 0))
(when true (:= Report.a (+ true 1)))
