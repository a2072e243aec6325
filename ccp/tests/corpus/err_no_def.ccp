(when true (report))
