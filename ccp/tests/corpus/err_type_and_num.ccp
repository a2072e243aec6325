(def (Report.a false))
(when true (:= Report.a (&& 1 true)))
