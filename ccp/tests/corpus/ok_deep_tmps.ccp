(def (Report.a 0))
(when true
    (:= Report.a (+ (+ (+ (+ 1 2) (+ 3 4)) (+ (+ 5 6) 7)) 8))
)
