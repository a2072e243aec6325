(def (Report.a 0))
