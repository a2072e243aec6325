(def (Report (volatile a 0)))
# one comment before the first clause
(when true
    (:= Report.a (+ Report.a 1))
    (fallthrough)
)
# one comment between clauses
(when (> Report.a 10)
    (report)
)
