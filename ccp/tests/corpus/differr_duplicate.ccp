(def (Report.a 0) (Report (a 1)))
(when true (report))
