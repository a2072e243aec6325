(def(Report(volatile a 0))(b 1))(when(> Micros 10)(:= Report.a(+ Report.a b))
	(report))
  (when   true
(:=
Report.a
1
)
)
