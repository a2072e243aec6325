(def (Report (foo 0))) # this is a comment
(when true # this is a comment
    (bind Report.foo 4)
)
