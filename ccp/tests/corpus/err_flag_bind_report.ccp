(def (Report.a false))
(when (:= Report.a true) (report))
