(def (Report.a 0) (c 2))
(when true (:= Report.a (addc 1)))
