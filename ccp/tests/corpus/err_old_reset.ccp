(def (Report
    (volatile minrtt +infinity)
))
(when true
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
)
(when (> Micros 42000)
    (report)
    (reset)
)
