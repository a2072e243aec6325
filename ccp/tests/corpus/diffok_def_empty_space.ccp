(def )
(when true (report))
