(def (Report.a 0))
(when (report) (report))
