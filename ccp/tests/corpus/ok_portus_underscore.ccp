(def (Report.foo_bar 0))
(when true
    (bind Report.foo_bar 4)
)
