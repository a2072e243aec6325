(def (Report.a 0))
(when true (:= l0 1) (:= l1 1) (:= l2 1) (:= l3 1) (:= l4 1) (:= l5 1) (:= l6 1))
