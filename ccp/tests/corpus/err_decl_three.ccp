(def (Report.a 1 2))
(when true (report))
