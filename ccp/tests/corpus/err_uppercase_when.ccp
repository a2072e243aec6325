(def (Report.a 0))
(WHEN true (report))
