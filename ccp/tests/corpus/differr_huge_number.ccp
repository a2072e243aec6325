(def (Report.a 0))
(when true (:= Report.a 99999999999999999999))
