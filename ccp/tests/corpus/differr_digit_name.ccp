(def (0abc 0))
(when true (report))
