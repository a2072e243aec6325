(def (Report.a))
(when true (report))
