(def (volatile 0))
(when true (report))
