(def (Report (volatile a 0)))
(when true
    (:= Cwnd (if (> Ack.lost_pkts_sample 0) (/ Cwnd 2)))
    (:= smoothed (ewma 8 Flow.rtt_sample_us))
    (:= Report.a smoothed)
)
