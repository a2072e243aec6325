(def (Report.a 0))
(when true)
