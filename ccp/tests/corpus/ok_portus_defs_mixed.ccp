(def (Bar 0) (Report (Foo 0) (volatile Baz 0)) (Qux 0) (volatile Qux2 0))
(when true
    (:= Report.Foo (+ Bar Qux))
    (:= Report.Baz (max Report.Baz Qux2))
    (:= Qux2 (wrapped_max Qux2 Ack.now))
)
