(def (foo 0) (bar 0)) # this is a comment
(when (> foo 0)
    (:= bar (+ bar 1)) # this is a comment
    (:= foo (* foo 2))
)
(when true
    (:= bar 0)
    (:= foo 0)
)
