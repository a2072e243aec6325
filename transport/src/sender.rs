//! The sending half: a sans-IO state machine that segments a byte stream, keeps a SACK
//! scoreboard, detects loss (DupThresh SACKed segments above a hole, or DupThresh duplicate ACKs),
//! runs one recovery episode per window, retransmits on RTO (RFC 6298), paces, samples RTT and
//! delivery rate, and asks a [`CongestionControl`] how much it may send.
//!
//! Window reductions, as Linux's TCP states: a fast-recovery episode (Linux's Recovery) starts
//! when loss is detected and ends when the cumulative ACK reaches the `snd_nxt` of its start; a
//! CWR episode starts on an ECN echo when the controller asks for it
//! ([`CongestionControl::enters_cwr_on_ecn`]) and ends when the cumulative ACK passes the
//! `snd_nxt` of its start; a timeout ends either (Linux's Loss). During either the controller's
//! window is the target (Linux's ssthresh) and, with [`RecoveryMode::Prr`], PRR
//! (RFC 6937) sets the window in force from the data delivered and sent since the start.
//!
//! Connection setup (with [`TransportConfig::handshake`]): the first transmission is a zero-length
//! SYN; no data goes out until its SYN-ACK arrives, which gives the first RTT sample. The SYN
//! lives outside the scoreboard (it takes no sequence space, is never in the pipe and is not
//! paced); its timer is the retransmission timer (initial RTO, exponential backoff). SYN-ACKs
//! arriving after the connection is established are ignored.
//!
//! Drive it like quinn-proto: feed [`Sender::on_ack`], drain [`Sender::poll_transmit`] until it
//! returns `None`, arm a timer at [`Sender::poll_timeout`] and call [`Sender::on_timeout`] when it
//! fires (calling it early or spuriously is harmless).
//!
//! Submodules: `handshake` (SYN / SYN-ACK), `loss` (loss detection and the retransmission
//! queue), `prr` (proportional rate reduction).
//!
//! Cost: every ACK is O(1) amortized plus O(number of SACKed ranges); the scoreboard is a
//! `VecDeque` indexed arithmetically (all segments but the last are exactly one MSS), and the
//! loss scan only ever moves forward. Nothing allocates per ACK once the buffers are warm.

use std::collections::VecDeque;

use netrt::{Duration, Instant};

use crate::cc::{AckSignals, CongestionControl, LossEvent};
use crate::config::{RecoveryMode, TransportConfig};
use crate::rangeset::RangeSet;
use crate::rtt::RttEstimator;
use crate::wire::{AckInfo, Segment, MAX_SACK_BLOCKS};

/// Counters of one sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Segments transmitted, including retransmissions and SYNs.
    pub segments_sent: u64,
    /// Payload bytes transmitted, including retransmissions.
    pub bytes_sent: u64,
    /// Segments retransmitted (fast retransmits, after timeouts, and retransmitted SYNs).
    pub retransmitted_segments: u64,
    /// Payload bytes retransmitted.
    pub retransmitted_bytes: u64,
    /// Retransmissions of segments found lost by duplicate ACKs / SACK.
    pub fast_retransmits: u64,
    /// Recovery episodes entered by duplicate ACKs / SACK.
    pub recoveries: u64,
    /// Retransmission timeouts (SYN timeouts included).
    pub timeouts: u64,
    /// SYN retransmissions (each after a timeout of the SYN).
    pub syn_retransmits: u64,
    /// CWR episodes: window reductions in answer to ECN echoes (at most one per window).
    pub cwr_episodes: u64,
    /// ACKs processed.
    pub acks: u64,
    /// Smoothed RTT (None before the first sample).
    pub srtt: Option<Duration>,
    /// RTT variation.
    pub rttvar: Duration,
    /// The latest RTT sample.
    pub latest_rtt: Option<Duration>,
    /// The smallest RTT sample.
    pub min_rtt: Option<Duration>,
    /// The current retransmission timeout (including backoff).
    pub rto: Duration,
}

/// One transmitted, not yet cumulatively acknowledged segment.
#[derive(Clone, Copy, Debug)]
struct SegState {
    seq: u64,
    len: u32,
    /// Time of the latest transmission.
    sent_at: Instant,
    /// Delivery-rate bookkeeping at the latest transmission (BBR's rate sampling).
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    transmissions: u32,
    sacked: bool,
    /// Marked lost and waiting for a retransmission.
    lost: bool,
    /// Counted in the pipe.
    in_flight: bool,
}

impl SegState {
    fn end(&self) -> u64 {
        self.seq + u64::from(self.len)
    }
}

#[derive(Clone, Copy, Debug)]
struct Recovery {
    /// The episode ends when the cumulative ACK reaches this.
    end: u64,
    /// Fast recovery (true) or recovery after a timeout (false).
    fast: bool,
}

/// The candidate segment of a delivery-rate sample: the most recently sent of those delivered.
#[derive(Clone, Copy, Debug)]
struct RateCandidate {
    sent_at: Instant,
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
}

/// The sending side of one flow.
#[derive(Debug)]
pub struct Sender {
    cfg: TransportConfig,
    mss: u64,
    total: Option<u64>,
    cc: Box<dyn CongestionControl>,
    /// `Some` until the connection is established (`None` from the start without handshake).
    syn: Option<SynState>,
    /// Oldest unacknowledged byte.
    snd_una: u64,
    /// Next new byte to send (the highest byte ever sent + 1).
    snd_nxt: u64,
    scoreboard: VecDeque<SegState>,
    sacked: RangeSet,
    /// Segments below this have been examined by the SACK loss rule.
    lost_scan: u64,
    /// Sequence numbers waiting for a retransmission, ascending.
    rtx_queue: VecDeque<u64>,
    pipe_bytes: u64,
    pipe_pkts: u64,
    dupacks: u32,
    recovery: Option<Recovery>,
    /// A CWR episode (RFC 3168 window reduction on an ECN echo) ends when the cumulative ACK
    /// passes this (the `snd_nxt` at its start).
    cwr_end: Option<u64>,
    /// PRR state during a reduction (fast recovery or CWR) with `recovery = "prr"`.
    prr: Option<Prr>,
    /// Send the first retransmission of a fast-recovery episode even if the window is full.
    force_rtx: bool,
    rtt: RttEstimator,
    rto_deadline: Option<Instant>,
    timeout_since_ack: bool,
    next_send: Instant,
    // Delivery-rate sampling.
    delivered: u64,
    delivered_time: Instant,
    first_sent_time: Instant,
    rate_outgoing: u64,
    rate_incoming: u64,
    last_signals: Option<AckSignals>,
    stats: SenderStats,
}

impl Sender {
    /// A sender of `total_bytes` (`None`: an endless bulk flow) starting at `now`.
    pub fn new(
        cfg: TransportConfig,
        total_bytes: Option<u64>,
        mut cc: Box<dyn CongestionControl>,
        now: Instant,
    ) -> Self {
        cc.configure(&cfg);
        let rtt = RttEstimator::new(cfg.initial_rto(), cfg.min_rto(), cfg.max_rto());
        let stats = SenderStats {
            rto: rtt.rto(),
            ..SenderStats::default()
        };
        Sender {
            syn: cfg.handshake.then(SynState::default),
            mss: cfg.mss_bytes(),
            cfg,
            total: total_bytes,
            cc,
            snd_una: 0,
            snd_nxt: 0,
            scoreboard: VecDeque::new(),
            sacked: RangeSet::default(),
            lost_scan: 0,
            rtx_queue: VecDeque::new(),
            pipe_bytes: 0,
            pipe_pkts: 0,
            dupacks: 0,
            recovery: None,
            cwr_end: None,
            prr: None,
            force_rtx: false,
            rtt,
            rto_deadline: None,
            timeout_since_ack: false,
            next_send: now,
            delivered: 0,
            delivered_time: now,
            first_sent_time: now,
            rate_outgoing: 0,
            rate_incoming: 0,
            last_signals: None,
            stats,
        }
    }

    /// Processes an acknowledgement. Malformed, stale or duplicate ACKs are tolerated: the
    /// cumulative point is clamped to what was sent and SACK blocks outside the window ignored.
    pub fn on_ack(&mut self, now: Instant, ack: &AckInfo) {
        self.stats.acks += 1;
        if self.syn.is_some() || ack.syn {
            self.on_syn_ack(now, ack);
            return;
        }
        let was_complete = self.is_complete();
        self.on_data_ack(now, ack);
        if !was_complete && self.is_complete() {
            self.cc.on_close(now);
        }
    }

    /// [`Sender::on_ack`] for an ACK of data.
    fn on_data_ack(&mut self, now: Instant, ack: &AckInfo) {
        let mss32 = u32::try_from(self.mss).unwrap_or(u32::MAX);
        let mut sig = AckSignals {
            now,
            mss: mss32,
            snd_cwnd: self.cc.cwnd_bytes(),
            was_timeout: std::mem::take(&mut self.timeout_since_ack),
            ..AckSignals::default()
        };
        let una_before = self.snd_una;
        let mut rate: Option<RateCandidate> = None;
        let mut delivered_pkts = 0u64;
        let mut delivered_bytes = 0u64;
        let ackno = ack.ack.min(self.snd_nxt);
        let mut duplicate = false;

        // Cumulative ACK.
        if ackno > self.snd_una {
            while let Some(front) = self.scoreboard.front().copied() {
                if front.end() > ackno {
                    break;
                }
                self.scoreboard.pop_front();
                if front.in_flight {
                    self.pipe_bytes = self.pipe_bytes.saturating_sub(u64::from(front.len));
                    self.pipe_pkts = self.pipe_pkts.saturating_sub(1);
                }
                sig.bytes_acked += u64::from(front.len);
                sig.packets_acked += 1;
                if !front.sacked {
                    delivered_bytes += u64::from(front.len);
                    delivered_pkts += 1;
                    Self::rate_candidate(&mut rate, &front);
                }
            }
            let new_una = self.scoreboard.front().map_or(self.snd_nxt, |s| s.seq);
            if new_una > self.snd_una {
                self.snd_una = new_una;
                self.dupacks = 0;
                self.sacked.remove_below(self.snd_una);
                self.lost_scan = self.lost_scan.max(self.snd_una);
                self.rto_deadline = (!self.scoreboard.is_empty()).then(|| now + self.rtt.rto());
            }
        } else if ackno == self.snd_una && self.snd_nxt > self.snd_una {
            self.dupacks = self.dupacks.saturating_add(1);
            duplicate = true;
        }

        // SACK blocks.
        let n = usize::from(ack.n_sack).min(MAX_SACK_BLOCKS);
        for b in &ack.sack[..n] {
            let start = b.start.max(self.snd_una);
            let end = b.end.min(self.snd_nxt);
            if start >= end {
                continue;
            }
            let (mut nb, mut np) = (0u64, 0u64);
            let (scoreboard, sacked) = (&mut self.scoreboard, &mut self.sacked);
            let (mss, mut pipe_b, mut pipe_p) = (self.mss, self.pipe_bytes, self.pipe_pkts);
            sacked.insert(start, end, |s, e| {
                // Newly covered [s, e): mark the segments that lie entirely inside.
                let Some(base) = scoreboard.front().map(|f| f.seq) else {
                    return;
                };
                let mut idx =
                    usize::try_from(s.saturating_sub(base).div_ceil(mss)).unwrap_or(usize::MAX);
                while let Some(seg) = scoreboard.get_mut(idx) {
                    if seg.end() > e {
                        break;
                    }
                    if seg.seq >= s && !seg.sacked {
                        seg.sacked = true;
                        seg.lost = false;
                        if seg.in_flight {
                            seg.in_flight = false;
                            pipe_b = pipe_b.saturating_sub(u64::from(seg.len));
                            pipe_p = pipe_p.saturating_sub(1);
                        }
                        nb += u64::from(seg.len);
                        np += 1;
                        Self::rate_candidate(&mut rate, seg);
                    }
                    idx += 1;
                }
            });
            self.pipe_bytes = pipe_b;
            self.pipe_pkts = pipe_p;
            sig.bytes_misordered += nb;
            sig.packets_misordered += np;
        }
        delivered_bytes += sig.bytes_misordered;
        delivered_pkts += sig.packets_misordered;
        if sig.packets_misordered == 0 && duplicate {
            sig.packets_misordered = 1;
        }

        // Recovery and CWR exits (before new losses can open the next episode). As Linux, CWR
        // lasts until something above its start point is acknowledged.
        if let Some(r) = self.recovery {
            if self.snd_una >= r.end {
                self.recovery = None;
                self.force_rtx = false;
                self.prr = None;
                if r.fast {
                    self.cc.on_recovery_exit(now);
                }
            }
        }
        if self.cwr_end.is_some_and(|end| self.snd_una > end) {
            self.cwr_end = None;
            self.prr = None;
        }

        // Loss detection.
        let pipe_before = self.pipe_bytes;
        let (lost_p, lost_b) = self.detect_losses();
        sig.lost_pkts_sample = lost_p;
        if lost_p > 0 && self.recovery.is_none() {
            // A loss during CWR turns the reduction into a recovery episode that starts from
            // the window in force.
            let prior_cwnd = self.send_window();
            self.cwr_end = None;
            self.recovery = Some(Recovery {
                end: self.snd_nxt,
                fast: true,
            });
            match self.cfg.recovery {
                RecoveryMode::Immediate => self.force_rtx = true,
                RecoveryMode::Prr => self.start_prr(prior_cwnd),
            }
            self.stats.recoveries += 1;
            let ev = LossEvent {
                lost_packets: lost_p,
                lost_bytes: lost_b,
                bytes_in_flight: pipe_before.saturating_add(lost_b),
                recovery_point: self.snd_nxt,
            };
            self.cc.on_loss(now, &ev);
        }

        // RTT sample from the timestamp echo, only for ACKs that deliver something new.
        if delivered_pkts > 0 || sig.packets_acked > 0 {
            let r = now.saturating_since(ack.ts_echo);
            self.rtt.sample(r);
            sig.rtt_sample = Some(r);
            self.update_rtt_stats(r);
        }

        sig.bytes_delivered = delivered_bytes;
        sig.packets_delivered = delivered_pkts;
        // ECN echo.
        if self.cfg.ecn && ack.ece {
            sig.ecn_bytes = delivered_bytes;
            sig.ecn_packets = delivered_pkts;
        }

        // Delivery rate.
        if delivered_bytes > 0 {
            self.delivered = self.delivered.saturating_add(delivered_bytes);
            self.delivered_time = now;
        }
        if let Some(c) = rate {
            let bytes = self.delivered.saturating_sub(c.delivered);
            let send_elapsed = c.sent_at.saturating_since(c.first_sent_time);
            let ack_elapsed = now.saturating_since(c.delivered_time);
            if let Some(r) = per_sec(bytes, send_elapsed) {
                self.rate_outgoing = r;
            }
            if let Some(r) = per_sec(bytes, ack_elapsed) {
                self.rate_incoming = r;
            }
            self.first_sent_time = c.sent_at;
        }

        sig.rate_outgoing = self.rate_outgoing;
        sig.rate_incoming = self.rate_incoming;
        sig.bytes_in_flight = self.pipe_bytes;
        sig.packets_in_flight = self.pipe_pkts;
        sig.bytes_pending = self.bytes_pending();
        sig.snd_una = self.snd_una;
        sig.snd_nxt = self.snd_nxt;
        sig.in_recovery = self.in_recovery();
        sig.in_cwr = self.cwr_end.is_some();
        sig.ecn_echo = self.cfg.ecn && ack.ece && self.recovery.is_none() && !sig.in_cwr;
        self.prune_rtx_queue();
        let cwnd_before = self.cc.cwnd_bytes();
        self.cc.on_ack(now, &sig);
        if sig.ecn_echo && self.cc.enters_cwr_on_ecn() {
            // The controller set its reduced window on this ACK: a CWR episode.
            self.cwr_end = Some(self.snd_nxt);
            self.stats.cwr_episodes += 1;
            if self.cfg.recovery == RecoveryMode::Prr {
                self.start_prr(cwnd_before);
            }
        }
        if self.prr.is_some() {
            // RFC 6937: without SACK information a duplicate ACK counts as one segment
            // delivered (Linux: the Reno SACK emulation).
            let newly = if delivered_bytes == 0 && duplicate && ack.n_sack == 0 {
                self.mss
            } else {
                delivered_bytes
            };
            self.prr_on_ack(newly, self.snd_una > una_before, lost_p);
        }
        self.last_signals = Some(sig);
    }

    /// The next segment to put on the wire at `now`, if the window, the pacer and the data allow.
    /// Retransmissions go before new data.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Segment> {
        if self.syn.is_some() {
            return self.transmit_syn(now);
        }
        if self.pacing_rate_bps().is_some() && now < self.next_send {
            return None;
        }
        self.prune_rtx_queue();
        let (idx, len) = self.candidate()?;
        let retransmit = idx.is_some();
        let seq = match idx {
            Some(i) => self.scoreboard.get(i)?.seq,
            None => self.snd_nxt,
        };
        let forced = retransmit && self.force_rtx;
        if !forced && !self.window_allows(len) {
            return None;
        }
        if forced {
            self.force_rtx = false;
        }
        if self.pipe_bytes == 0 {
            self.first_sent_time = now;
            self.delivered_time = now;
        }
        let st = SegState {
            seq,
            len,
            sent_at: now,
            delivered: self.delivered,
            delivered_time: self.delivered_time,
            first_sent_time: self.first_sent_time,
            transmissions: 1,
            sacked: false,
            lost: false,
            in_flight: true,
        };
        match idx {
            Some(i) => {
                self.rtx_queue.pop_front();
                if let Some(s) = self.scoreboard.get_mut(i) {
                    *s = SegState {
                        transmissions: s.transmissions.saturating_add(1),
                        ..st
                    };
                }
                self.stats.retransmitted_segments += 1;
                self.stats.retransmitted_bytes += u64::from(len);
                if self.recovery.is_some_and(|r| r.fast) {
                    self.stats.fast_retransmits += 1;
                }
            }
            None => {
                self.scoreboard.push_back(st);
                self.snd_nxt += u64::from(len);
            }
        }
        self.pipe_bytes += u64::from(len);
        self.pipe_pkts += 1;
        if let Some(p) = self.prr.as_mut() {
            p.out = p.out.saturating_add(u64::from(len));
        }
        self.stats.segments_sent += 1;
        self.stats.bytes_sent += u64::from(len);
        if self.rto_deadline.is_none() {
            self.rto_deadline = Some(now + self.rtt.rto());
        }
        if let Some(rate) = self.pacing_rate_bps() {
            self.next_send = now + Duration::transmission(u64::from(len), rate);
        }
        let fin = self.total.is_some_and(|t| seq + u64::from(len) >= t);
        Some(Segment {
            seq,
            len,
            ts: now,
            retransmit,
            fin,
            syn: false,
        })
    }

    /// When the sender next needs [`Sender::on_timeout`] (or [`Sender::poll_transmit`], for the
    /// pacer): the earlier of the RTO deadline and the next pacing release (only when the window
    /// would let a segment out).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.syn.is_some() {
            return self.rto_deadline;
        }
        let pace =
            (self.pacing_rate_bps().is_some() && self.can_send_unpaced()).then_some(self.next_send);
        match (self.rto_deadline, pace) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the retransmission timer if it is due at `now` (otherwise does nothing): backs the
    /// RTO off, tells the controller, marks every outstanding un-SACKed segment lost and goes back
    /// to the oldest one.
    pub fn on_timeout(&mut self, now: Instant) {
        let Some(deadline) = self.rto_deadline else {
            return;
        };
        if let Some(syn) = self.syn.as_mut() {
            // The SYN timed out: back off and send it again (from poll_transmit).
            if now >= deadline && syn.outstanding {
                syn.outstanding = false;
                self.stats.timeouts += 1;
                self.rtt.backoff();
                self.stats.rto = self.rtt.rto();
                self.rto_deadline = None;
            }
            return;
        }
        if now < deadline || self.scoreboard.is_empty() {
            if self.scoreboard.is_empty() {
                self.rto_deadline = None;
            }
            return;
        }
        self.stats.timeouts += 1;
        self.rtt.backoff();
        self.stats.rto = self.rtt.rto();
        self.timeout_since_ack = true;
        self.rtx_queue.clear();
        for s in self.scoreboard.iter_mut() {
            if s.sacked {
                continue;
            }
            s.in_flight = false;
            s.lost = true;
            self.rtx_queue.push_back(s.seq);
        }
        self.pipe_bytes = 0;
        self.pipe_pkts = 0;
        self.lost_scan = self.snd_nxt;
        self.dupacks = 0;
        self.force_rtx = false;
        self.prr = None;
        self.cwr_end = None;
        self.recovery = Some(Recovery {
            end: self.snd_nxt,
            fast: false,
        });
        self.cc.on_timeout(now);
        self.next_send = now;
        self.rto_deadline = Some(now + self.rtt.rto());
    }

    /// The application stops writing: the flow becomes a sized flow of the bytes sent so far
    /// (at most its size); data in flight, lost or not, is still delivered. Calls the
    /// controller's `on_close` if that completes the flow at once. Returns the size.
    pub fn end_stream(&mut self, now: Instant) -> u64 {
        let size = self.total.map_or(self.snd_nxt, |t| t.min(self.snd_nxt));
        let was_complete = self.is_complete();
        self.total = Some(size);
        if !was_complete && self.is_complete() {
            self.cc.on_close(now);
        }
        size
    }

    /// True once every byte of a sized flow is cumulatively acknowledged.
    pub fn is_complete(&self) -> bool {
        self.total.is_some_and(|t| self.snd_una >= t)
    }

    /// Counters and RTT state.
    pub fn stats(&self) -> &SenderStats {
        &self.stats
    }

    /// The congestion window in force (bytes): during a PRR reduction (fast recovery or CWR
    /// with `recovery = "prr"`) the PRR window, which falls gradually towards the controller's;
    /// otherwise the controller's window ([`CongestionControl::cwnd_bytes`], also available
    /// through [`Sender::cc`]).
    pub fn cwnd(&self) -> u64 {
        self.send_window()
    }

    /// The signals computed for the latest ACK.
    pub fn last_signals(&self) -> Option<&AckSignals> {
        self.last_signals.as_ref()
    }

    /// Bytes in flight (RFC 6675 pipe).
    pub fn bytes_in_flight(&self) -> u64 {
        self.pipe_bytes
    }

    /// Segments in flight.
    pub fn packets_in_flight(&self) -> u64 {
        self.pipe_pkts
    }

    /// Oldest unacknowledged byte.
    pub fn snd_una(&self) -> u64 {
        self.snd_una
    }

    /// Next new byte to send.
    pub fn snd_nxt(&self) -> u64 {
        self.snd_nxt
    }

    /// True once the connection may carry data: the SYN-ACK arrived, or the handshake is off.
    pub fn is_established(&self) -> bool {
        self.syn.is_none()
    }

    /// True during a fast-recovery episode.
    pub fn in_recovery(&self) -> bool {
        self.recovery.is_some_and(|r| r.fast)
    }

    /// True during a CWR episode (the window reduction after an ECN echo).
    pub fn in_cwr(&self) -> bool {
        self.cwr_end.is_some()
    }

    /// Application bytes not yet sent (`u64::MAX` for an endless flow).
    pub fn bytes_pending(&self) -> u64 {
        self.total
            .map_or(u64::MAX, |t| t.saturating_sub(self.snd_nxt))
    }

    /// The current retransmission timeout.
    pub fn rto(&self) -> Duration {
        self.rtt.rto()
    }

    /// The congestion controller.
    pub fn cc(&self) -> &dyn CongestionControl {
        self.cc.as_ref()
    }

    /// The congestion controller, mutably (e.g. for a CCP shim to install a window).
    pub fn cc_mut(&mut self) -> &mut dyn CongestionControl {
        self.cc.as_mut()
    }

    /// The pacing rate in force (bits/s): the controller's, else the self-pacing rate when
    /// `cfg.pacing` is on and an RTT sample exists, else `None`. A rate of 0 counts as unpaced.
    pub fn pacing_rate_bps(&self) -> Option<u64> {
        if let Some(r) = self.cc.pacing_rate_bps() {
            return (r > 0).then_some(r);
        }
        if !self.cfg.pacing {
            return None;
        }
        let srtt = self.stats.srtt?.as_nanos();
        if srtt == 0 {
            return None;
        }
        let cwnd = self.send_window();
        let slow_start = self.cc.ssthresh_bytes().is_none_or(|ss| cwnd < ss / 2);
        let pct: u128 = if slow_start { 200 } else { 120 };
        let bps = u128::from(cwnd) * 8 * 1_000_000_000 * pct / 100 / u128::from(srtt);
        Some(u64::try_from(bps).unwrap_or(u64::MAX).max(1))
    }

    fn update_rtt_stats(&mut self, r: Duration) {
        self.stats.srtt = self.rtt.srtt();
        self.stats.rttvar = self.rtt.rttvar();
        self.stats.rto = self.rtt.rto();
        self.stats.latest_rtt = Some(r);
        self.stats.min_rtt = Some(self.stats.min_rtt.map_or(r, |m| m.min(r)));
    }

    fn rate_candidate(c: &mut Option<RateCandidate>, s: &SegState) {
        if c.is_none_or(|c| s.sent_at >= c.sent_at) {
            *c = Some(RateCandidate {
                sent_at: s.sent_at,
                delivered: s.delivered,
                delivered_time: s.delivered_time,
                first_sent_time: s.first_sent_time,
            });
        }
    }

    /// What would go out next, ignoring window and pacer: (scoreboard index for a
    /// retransmission or `None` for new data, length). Requires a pruned retransmission queue.
    fn candidate(&self) -> Option<(Option<usize>, u32)> {
        if let Some(i) = self.rtx_queue.front().and_then(|&seq| self.index_of(seq)) {
            let s = self.scoreboard.get(i)?;
            return Some((Some(i), s.len));
        }
        let l = self.new_segment_len();
        (l > 0).then_some((None, l))
    }

    /// True when [`Self::poll_transmit`] would send now, pacer aside.
    fn can_send_unpaced(&self) -> bool {
        self.candidate()
            .is_some_and(|(idx, len)| (idx.is_some() && self.force_rtx) || self.window_allows(len))
    }

    fn index_of(&self, seq: u64) -> Option<usize> {
        let base = self.scoreboard.front()?.seq;
        let i = usize::try_from(seq.checked_sub(base)? / self.mss).ok()?;
        (self.scoreboard.get(i)?.seq == seq).then_some(i)
    }

    fn new_segment_len(&self) -> u32 {
        let left = self
            .total
            .map_or(u64::MAX, |t| t.saturating_sub(self.snd_nxt));
        u32::try_from(left.min(self.mss)).unwrap_or(u32::MAX)
    }

    fn window_allows(&self, len: u32) -> bool {
        self.pipe_bytes == 0 || self.pipe_bytes + u64::from(len) <= self.send_window()
    }

    /// The window in force: PRR's during a reduction, else the controller's.
    fn send_window(&self) -> u64 {
        self.prr.map_or_else(|| self.cc.cwnd_bytes(), |p| p.cwnd)
    }
}

/// `bytes / elapsed` in bytes per second; `None` for a zero interval.
fn per_sec(bytes: u64, elapsed: Duration) -> Option<u64> {
    let ns = elapsed.as_nanos();
    if ns == 0 {
        return None;
    }
    let r = u128::from(bytes) * 1_000_000_000 / u128::from(ns);
    Some(u64::try_from(r).unwrap_or(u64::MAX))
}

mod handshake;
mod loss;
mod prr;

use handshake::SynState;
use prr::Prr;

#[cfg(test)]
mod tests;
