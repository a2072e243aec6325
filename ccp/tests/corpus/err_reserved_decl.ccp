(def (__a 0))
(when true (report))
