(def (Report (volatile acked 0)))
(when true
    (:= Report.acked Flow.was_timeout)
)
