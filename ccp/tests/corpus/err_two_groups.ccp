(def (Report (a 0)) (Report (b 0)))
(when true (report))
