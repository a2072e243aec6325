(def (Report.a foo))
(when true (report))
