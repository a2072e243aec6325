(def (Report (volatile foo 0)))
(when true
    (bind Report.foo 4)
)
