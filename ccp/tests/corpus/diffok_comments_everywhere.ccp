(def # fields
    (Report (volatile acked 0)) # acked bytes
)
# two comment lines
# in a row
(when true # always
    # a comment inside the body
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (report)
)
# trailing comment without newline
