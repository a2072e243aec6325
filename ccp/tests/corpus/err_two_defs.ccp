(def (Report.a 0))
(def (Report.b 0))
(when true (report))
