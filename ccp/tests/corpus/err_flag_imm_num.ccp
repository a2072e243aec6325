(def (Report.a 0))
(when 1 (:= Report.a 1))
