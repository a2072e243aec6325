(def (Report.a 0))
(when true (ewma 1 2))
