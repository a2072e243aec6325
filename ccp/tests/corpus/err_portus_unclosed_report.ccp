(def (Report.foo 0))
(when true
    (bind Report.foo 4)
    (fallthrough)
)
(when (> Micros 3000)
    (report
)
