(def (Report (a 0) (b 1) (c 2) (d 3) (e 4) (f 5) (g 6) (h 7)) (Report.i 8) (Report.j 9) (z 1) (y 2) (x 3) (volatile w 4))
(when true
    (:= Report.a (+ Report.j z))
    (:= w (+ x y))
)
