(def (Report (a 0) (b 0)))
(when true
    (:= Report.a (:= Report.b 5))
)
