(def (Report.foo 0))
(when true
    (bind bar 3)
    (bind Report.foo (+ 2 bar))
)
