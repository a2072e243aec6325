(def (Report (a 2147483647)))
(when true
    (:= Report.a (+ 2147483647 +infinity))
)
