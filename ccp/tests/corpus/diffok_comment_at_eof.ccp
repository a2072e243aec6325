(def (Report.a 0))
(when true (report)) # no newline at end