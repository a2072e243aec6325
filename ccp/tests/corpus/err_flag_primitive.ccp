(def (Report.a 0))
(when Flow.was_timeout (:= Report.a 1))
