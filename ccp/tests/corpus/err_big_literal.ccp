(def (Report.a 0))
(when true (:= Report.a 2147483648))
