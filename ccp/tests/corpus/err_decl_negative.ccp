(def (Report.a -1))
(when true (report))
