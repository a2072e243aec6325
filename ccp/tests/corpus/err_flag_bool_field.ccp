(def (volatile timeout false))
(when timeout
    (report)
)
