(def (Report.foo 0))
(when true
    (bind Report.foo 4)
)
(when (> 2 3)
    (bind Report.foo 5)
)
