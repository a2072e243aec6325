(def (Report.a 0))
(when (if true false) (report))
