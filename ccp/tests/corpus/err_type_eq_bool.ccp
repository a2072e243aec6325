(def (Report.a false))
(when true (:= Report.a (== Flow.was_timeout true)))
