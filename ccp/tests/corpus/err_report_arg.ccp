(def (Report.a 0))
(when true (report 1))
