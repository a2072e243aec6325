(def (Report.a 0))
(when true
    (:= Report.a (+ 10 20)
