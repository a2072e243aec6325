(def (Report.a 4294967295))
(when true (report))
