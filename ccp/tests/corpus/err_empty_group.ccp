(def (Report))
(when true (report))
