(def (Report.a 0))
(when true (if true 1))
