(def (Report.a 0))
(when (> = 1 2) (report))
