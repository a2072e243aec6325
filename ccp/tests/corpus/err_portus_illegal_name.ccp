(def (__illegalname 0))
(when true (report))
