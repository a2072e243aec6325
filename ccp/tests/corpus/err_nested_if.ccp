(def (Report.a 0))
(when true (:= Report.a (if true (if false 3))))
