(def (Report.a 0))
(when true
    (:= Report.a (blah 10 20))
)
