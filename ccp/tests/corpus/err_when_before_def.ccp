(when true (report))
(def (Report.a 0))
