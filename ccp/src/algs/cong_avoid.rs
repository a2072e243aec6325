//! The window-based framework shared by Reno, Cubic, DCTCP and Vegas (in the manner of
//! ccp-project/generic-cong-avoid): a datapath program that folds ACKs into a report,
//! optional slow start inside the datapath program, and agent logic for slow start, one
//! reduction per round trip (NewReno-like recovery) and timeouts around an algorithm-specific
//! [`WindowRule`].
//!
//! Report fields of every program here: `acked` (bytes), `loss` (packets), `timeout`, `rtt`
//! (latest sample, µs), `minrtt` (minimum over the report, µs), `inflight` (packets), `now`
//! (`Ack.now`, µs), `cwnd` (the datapath's window, bytes); with ECN also `ecn` (marked bytes)
//! and `alpha` (DCTCP's estimate × 1024); the rate-based slow-start program also `rate` (its
//! pacing rate, bytes/s) and `flight` (`Flow.bytes_in_flight`).

use super::common::{compile, field, rtt_sample, ReportMode};
use super::AlgError;
use crate::agent::{Control, FlowState, ProgramSpec, Report};
use crate::wire::Create;

/// Where slow start runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlowStart {
    /// In the agent: the window grows by the acked bytes of each report.
    Agent,
    /// In the datapath program (`Cwnd += Ack.bytes_acked` per ACK) until the first loss,
    /// timeout (or ECN mark); the agent is not called until then.
    Datapath,
    /// Rate-based, in the datapath program: from the first RTT sample it paces at
    /// `Cwnd / RTT` (the initial window per RTT) and doubles `Rate` whenever the `Micros`
    /// timer exceeds the latest RTT sample (thesis §4.4.4's control pattern), with the window
    /// kept at twice `Rate × RTT` so that the rate binds; the agent is not called until the
    /// first loss or timeout, when it takes the bytes in flight as the window, reduces it and
    /// switches to the reporting program without pacing. Reno only (see [`read_config`]).
    Rate,
}

/// The largest rate the rate-based slow-start program doubles to, bytes/s (8 Tbit/s): keeps
/// `2 · Rate` and `Rate / 1000 · RTT` in range for any RTT a program can hold.
pub(crate) const RATE_SS_MAX: u64 = 1_000_000_000_000;

/// The rate the agent sets when the rate-based slow start ends, bytes/s: the datapath cannot
/// unset a rate (a zero `Rate` is not applied, as in libccp), so the window-based phase runs
/// with the largest rate, which paces nothing (1 ns per packet at most).
pub const NO_PACING: u64 = u64::MAX;

/// DCTCP's ECN handling: `alpha` folded in the datapath once per window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EcnConfig {
    /// The EWMA gain `g` in units of 1/1024.
    pub g_1024: u64,
    /// Initial `alpha` in units of 1/1024.
    pub init_alpha_1024: u64,
}

/// Configuration of the framework.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct CaConfig {
    /// The algorithm's name (program names are `<alg>_report` and `<alg>_ss`, or
    /// `<alg>_rate` for the rate-based slow start).
    pub alg: &'static str,
    pub report: ReportMode,
    pub slow_start: SlowStart,
    /// Initial window in packets; `None`: the datapath's.
    pub init_cwnd_pkts: Option<u64>,
    pub ecn: Option<EcnConfig>,
}

impl CaConfig {
    pub(crate) fn report_program(&self) -> String {
        format!("{}_report", self.alg)
    }
    /// The slow-start program's name (`<alg>_ss`; `<alg>_rate` for the rate-based one).
    pub(crate) fn ss_program(&self) -> String {
        match self.slow_start {
            SlowStart::Rate => format!("{}_rate", self.alg),
            _ => format!("{}_ss", self.alg),
        }
    }

    /// Source of the reporting program (`ss = false`) or the slow-start program (window- or
    /// rate-based, as configured).
    pub(crate) fn source(&self, ss: bool) -> String {
        let rate = ss && self.slow_start == SlowStart::Rate;
        let mut defs = String::from(
            "(def (Report (volatile acked 0) (volatile loss 0) (volatile timeout false) \
             (volatile rtt 0) (volatile minrtt +infinity) (volatile inflight 0) \
             (volatile now 0) (volatile cwnd 0)",
        );
        if self.ecn.is_some() {
            defs.push_str(" (volatile ecn 0) (volatile alpha 0)");
        }
        if rate {
            defs.push_str(" (volatile rate 0) (volatile flight 0)");
        }
        defs.push(')');
        if rate {
            // The latest RTT sample the timer runs on (kept over ACKs without one).
            defs.push_str(" (srtt 0)");
        }
        if let Some(e) = self.ecn {
            defs.push_str(&format!(
                " (alpha {}) (g {}) (ecn_sent 0) (wrtt 0) (win_acked 0) (win_ecn 0) (win_end 0)",
                e.init_alpha_1024, e.g_1024
            ));
        }
        defs.push(')');
        let mut fold = String::from(
            "(when true
    (:= Report.acked (+ Report.acked Ack.bytes_acked))
    (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
    (:= Report.timeout Flow.was_timeout)
    (:= Report.rtt Flow.rtt_sample_us)
    (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
    (:= Report.inflight Flow.packets_in_flight)
    (:= Report.now Ack.now)
",
        );
        if ss && !rate {
            fold.push_str("    (:= Cwnd (+ Cwnd Ack.bytes_acked))\n");
        }
        fold.push_str("    (:= Report.cwnd Cwnd)\n");
        if rate {
            fold.push_str(
                "    (:= srtt (if (< Flow.rtt_sample_us 2147483647) Flow.rtt_sample_us))
    (:= Report.flight Flow.bytes_in_flight)
",
            );
        }
        if self.ecn.is_some() {
            fold.push_str(
                "    (:= Report.ecn (+ Report.ecn Ack.ecn_bytes))
    (:= win_acked (+ win_acked Ack.bytes_acked))
    (:= win_ecn (+ win_ecn Ack.ecn_bytes))
    (:= wrtt (if (< Flow.rtt_sample_us 2147483647) Flow.rtt_sample_us))
",
            );
        }
        fold.push_str("    (fallthrough))\n");
        let mut src = defs + "\n" + &fold;
        if self.ecn.is_some() {
            // One window (about one RTT of ACKs) ends: alpha = (1 - g) alpha + g F, F the
            // marked fraction of the window's bytes; at most one ECN report per window.
            src.push_str(
                "(when (> Ack.now win_end)
    (:= frac (/ (* win_ecn 1024) (max win_acked 1)))
    (:= alpha (/ (+ (* alpha (- 1024 g)) (* frac g)) 1024))
    (:= win_acked 0)
    (:= win_ecn 0)
    (:= win_end (+ Ack.now wrtt))
    (:= ecn_sent 0)
    (fallthrough))
(when true (:= Report.alpha alpha) (fallthrough))
(when (&& (> Report.ecn 0) (== ecn_sent 0))
    (:= ecn_sent 1)
    (report)
    (:= Micros 0))
",
            );
        }
        if rate {
            // The thesis's timer pattern: start at the initial window per RTT at the first RTT
            // sample; double whenever the timer passes one RTT (the latest sample) and restart
            // it. The window stays at 2 · Rate · RTT (µs: Rate / 1000 · srtt / 500) so that the
            // rate, not the window, limits sending.
            src.push_str(&format!(
                "(when (&& (== Rate 0) (> srtt 0))
    (:= Rate (/ (* Cwnd 1000000) srtt))
    (:= Micros 0)
    (fallthrough))
(when (&& (> Rate 0) (> Micros srtt))
    (:= Rate (min (* Rate 2) (* {} {})))
    (:= Micros 0)
    (fallthrough))
(when true
    (:= Cwnd (max Cwnd (/ (* (/ Rate 1000) srtt) 500)))
    (:= Report.rate Rate)
    (fallthrough))
",
                RATE_SS_MAX / 1_000_000,
                1_000_000
            ));
        }
        src.push_str("(when (|| Report.timeout (> Report.loss 0)) (report) (:= Micros 0))\n");
        if !ss {
            src.push_str(&self.report.clause());
            src.push('\n');
        }
        src
    }

    /// The programs: the reporting one, and the slow-start one when slow start runs in the
    /// datapath (window- or rate-based).
    pub(crate) fn programs(&self) -> Result<Vec<ProgramSpec>, AlgError> {
        let mut v = vec![compile(
            self.alg,
            &self.report_program(),
            &self.source(false),
        )?];
        if self.slow_start != SlowStart::Agent {
            v.push(compile(self.alg, &self.ss_program(), &self.source(true))?);
        }
        Ok(v)
    }
}

/// One report, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measurement {
    /// Bytes newly acknowledged.
    pub acked: u64,
    /// Packets lost.
    pub loss: u64,
    /// A timeout was seen.
    pub timeout: bool,
    /// Latest RTT sample, µs.
    pub rtt_us: Option<u64>,
    /// Minimum RTT sample of the report, µs.
    pub min_rtt_us: Option<u64>,
    /// Packets in flight.
    pub inflight: u64,
    /// Datapath time of the last ACK, µs.
    pub now_us: u64,
    /// The datapath's window, bytes.
    pub cwnd: u64,
    /// ECN-marked bytes.
    pub ecn: u64,
    /// DCTCP's alpha × 1024.
    pub alpha_1024: u64,
    /// The rate-based slow-start program's pacing rate, bytes/s.
    pub rate: u64,
    /// Bytes in flight (rate-based slow-start program).
    pub flight: u64,
    /// Sent by the slow-start program (its acked bytes are already in the window).
    pub from_ss: bool,
}

impl Measurement {
    pub(crate) fn from_report(r: &Report<'_>, ss_program: &str) -> Self {
        Measurement {
            acked: field(r, "acked"),
            loss: field(r, "loss"),
            timeout: field(r, "timeout") != 0,
            rtt_us: rtt_sample(field(r, "rtt")),
            min_rtt_us: rtt_sample(field(r, "minrtt")),
            inflight: field(r, "inflight"),
            now_us: field(r, "now"),
            cwnd: field(r, "cwnd"),
            ecn: field(r, "ecn"),
            alpha_1024: field(r, "alpha"),
            rate: field(r, "rate"),
            flight: field(r, "flight"),
            from_ss: r.program.name == ss_program,
        }
    }
}

/// The window state every rule works on. All in bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Congestion window.
    pub cwnd: u64,
    /// Slow-start threshold.
    pub ssthresh: u64,
    /// Segment size.
    pub mss: u64,
    /// Initial window.
    pub init_cwnd: u64,
    /// Bytes acknowledged in congestion avoidance since the window last grew (Reno).
    pub ca_acked: u64,
}

impl Window {
    /// A window of `init_cwnd` bytes, no threshold.
    pub fn new(mss: u64, init_cwnd: u64) -> Self {
        let mss = mss.max(1);
        Window {
            cwnd: init_cwnd.max(mss),
            ssthresh: u64::MAX,
            mss,
            init_cwnd: init_cwnd.max(mss),
            ca_acked: 0,
        }
    }

    /// Whether the window is below the threshold.
    pub fn in_slow_start(&self) -> bool {
        self.cwnd < self.ssthresh
    }

    /// Slow start: grows by the acked bytes up to ssthresh; returns the bytes left over.
    pub fn slow_start(&mut self, acked: u64) -> u64 {
        if !self.in_slow_start() {
            return acked;
        }
        let room = self.ssthresh - self.cwnd;
        let used = acked.min(room);
        self.cwnd += used;
        acked - used
    }

    /// Reno's congestion avoidance: one MSS per window of acknowledged bytes (byte counting,
    /// as the native NewReno; several MSS when a report covers several windows).
    pub fn reno_avoid(&mut self, acked: u64) {
        self.ca_acked = self.ca_acked.saturating_add(acked);
        while self.ca_acked >= self.cwnd {
            self.ca_acked -= self.cwnd;
            self.cwnd = self.cwnd.saturating_add(self.mss);
        }
    }

    /// Sets the window (and ssthresh) to `factor · cwnd`, at least 2 MSS.
    pub fn reduce(&mut self, factor: f64) {
        let w = ((self.cwnd as f64) * factor) as u64;
        self.cwnd = w.max(2 * self.mss);
        self.ssthresh = self.cwnd;
        self.ca_acked = 0;
    }
}

/// An algorithm's window rules, called by [`CaFlow`].
pub trait WindowRule {
    /// Growth for `acked` new bytes without congestion. Default: slow start below ssthresh,
    /// then [`WindowRule::avoid`] for the rest.
    fn increase(&mut self, w: &mut Window, acked: u64, m: &Measurement) {
        let rest = w.slow_start(acked);
        if rest > 0 {
            self.avoid(w, rest, m);
        }
    }
    /// Congestion-avoidance growth for `acked` bytes.
    fn avoid(&mut self, w: &mut Window, acked: u64, m: &Measurement);
    /// A loss (once per round trip).
    fn on_loss(&mut self, w: &mut Window, m: &Measurement);
    /// ECN marks (once per round trip; only with ECN configured). Default: DCTCP's cut to
    /// `cwnd · (1 − alpha/2)`.
    fn on_ecn(&mut self, w: &mut Window, m: &Measurement) {
        let alpha = (m.alpha_1024.min(1024)) as f64 / 1024.0;
        w.reduce(1.0 - alpha / 2.0);
    }
    /// A timeout. Default: ssthresh = max(cwnd/2, 2 MSS), cwnd = 1 MSS (as the native
    /// NewReno).
    fn on_timeout(&mut self, w: &mut Window, _m: &Measurement) {
        w.ssthresh = (w.cwnd / 2).max(2 * w.mss);
        w.cwnd = w.mss;
        w.ca_acked = 0;
    }
}

/// What [`CaFlow::step`] asks the datapath to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Nothing changed.
    None,
    /// Set the window.
    SetCwnd(u64),
    /// Leave the slow-start program: switch to the reporting program with this window.
    SwitchToReport(u64),
}

/// Per-flow state of a framework algorithm.
#[derive(Clone, Debug)]
pub struct CaFlow<R> {
    /// The window.
    pub w: Window,
    /// The algorithm's rules and state.
    pub rule: R,
    report_program: String,
    ss_program: String,
    in_dp_ss: bool,
    /// Rate-based slow start: the agent ends it by unsetting the pacing rate.
    rate_ss: bool,
    ecn: bool,
    /// No further reduction before this datapath time (µs).
    recovery_until: Option<u64>,
    /// No further cut for loss before this many more bytes are acknowledged: the window before
    /// the last loss cut, about the data in flight when the loss happened, so one episode of
    /// losses cuts once, as the native sender's recovery point rule does, even when its losses
    /// are detected over more than one RTT.
    recovery_bytes: u64,
    last_rtt_us: Option<u64>,
    last_cwnd_sent: u64,
}

impl<R: WindowRule> CaFlow<R> {
    /// A flow of `cfg` with window `w`; installs the first program through `ctl`.
    pub(crate) fn start(cfg: &CaConfig, ctl: &mut Control<'_>, info: &Create, rule: R) -> Self {
        let mss = u64::from(info.flow.mss.max(1));
        let init = match cfg.init_cwnd_pkts {
            Some(p) => p * mss,
            None => u64::from(info.flow.init_cwnd),
        };
        let f = CaFlow::new(cfg, Window::new(mss, init), rule);
        let prog = if f.in_dp_ss {
            &f.ss_program
        } else {
            &f.report_program
        };
        // Our own programs and fields: cannot fail.
        let _ = ctl.set_program(prog, &[("Cwnd", f.w.cwnd)]);
        f
    }

    /// A flow of `cfg` with window `w`, without touching a datapath.
    pub(crate) fn new(cfg: &CaConfig, w: Window, rule: R) -> Self {
        let last = w.cwnd;
        CaFlow {
            w,
            rule,
            report_program: cfg.report_program(),
            ss_program: cfg.ss_program(),
            in_dp_ss: cfg.slow_start != SlowStart::Agent,
            rate_ss: cfg.slow_start == SlowStart::Rate,
            ecn: cfg.ecn.is_some(),
            recovery_until: None,
            recovery_bytes: 0,
            last_rtt_us: None,
            last_cwnd_sent: last,
        }
    }

    /// Whether slow start is still running in the datapath program.
    pub fn in_datapath_slow_start(&self) -> bool {
        self.in_dp_ss
    }

    /// Processes one report.
    pub fn step(&mut self, m: &Measurement) -> Action {
        let mut switch = false;
        let mut acked = m.acked;
        if m.from_ss {
            // The datapath already grew the window by these bytes.
            acked = 0;
            if self.in_dp_ss {
                self.in_dp_ss = false;
                switch = true;
                // The window slow start reached: the datapath's; with rate-based slow start
                // the bytes in flight (RFC 5681's FlightSize, which a loss halves), else what
                // the rate sends in one RTT.
                let reached = if self.rate_ss {
                    let per_rtt = m
                        .rtt_us
                        .or(m.min_rtt_us)
                        .map_or(0, |r| m.rate.saturating_mul(r) / 1_000_000);
                    if m.flight > 0 {
                        m.flight
                    } else {
                        per_rtt
                    }
                } else {
                    m.cwnd
                };
                if reached > 0 {
                    self.w.cwnd = reached;
                }
            }
        }
        if let Some(r) = m.rtt_us.or(m.min_rtt_us) {
            self.last_rtt_us = Some(r);
        }
        if m.timeout {
            self.rule.on_timeout(&mut self.w, m);
            self.recovery_until = None;
            self.recovery_bytes = 0;
        } else {
            let in_recovery = self.recovery_until.is_some_and(|t| m.now_us < t);
            // A loss within the bytes of the previous episode belongs to it: no second cut.
            let loss_held = self.recovery_bytes > 0;
            self.recovery_bytes = self.recovery_bytes.saturating_sub(m.acked);
            if !in_recovery {
                self.recovery_until = None;
                if acked > 0 {
                    self.rule.increase(&mut self.w, acked, m);
                }
                let ecn = self.ecn && m.ecn > 0;
                let loss = m.loss > 0 && !loss_held;
                if loss || ecn {
                    if loss {
                        self.recovery_bytes = self.w.cwnd;
                        self.rule.on_loss(&mut self.w, m);
                    } else {
                        self.rule.on_ecn(&mut self.w, m);
                    }
                    self.recovery_until = Some(m.now_us + self.last_rtt_us.unwrap_or(0));
                }
            }
        }
        let c = self.w.cwnd.max(self.w.mss);
        self.w.cwnd = c;
        if switch {
            self.last_cwnd_sent = c;
            Action::SwitchToReport(c)
        } else if c != self.last_cwnd_sent {
            self.last_cwnd_sent = c;
            Action::SetCwnd(c)
        } else {
            Action::None
        }
    }
}

impl<R: WindowRule> FlowState for CaFlow<R> {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        let m = Measurement::from_report(r, &self.ss_program);
        match self.step(&m) {
            Action::None => {}
            Action::SetCwnd(c) => ctl.set_cwnd(c),
            Action::SwitchToReport(c) => {
                let mut fields = vec![("Cwnd", c)];
                if self.rate_ss {
                    fields.push(("Rate", NO_PACING));
                }
                if self.ecn {
                    fields.push(("alpha", m.alpha_1024));
                }
                let _ = ctl.set_program(&self.report_program, &fields);
            }
        }
    }

    /// `cwnd_bytes`, `ssthresh_bytes` once set (the agent's: the window the datapath
    /// enforces may differ while an answer is on its way), and `last_rtt_us` once sampled.
    fn exports(&self) -> Vec<(&'static str, f64)> {
        let mut v = vec![("cwnd_bytes", self.w.cwnd as f64)];
        if self.w.ssthresh != u64::MAX {
            v.push(("ssthresh_bytes", self.w.ssthresh as f64));
        }
        if let Some(r) = self.last_rtt_us {
            v.push(("last_rtt_us", r as f64));
        }
        v
    }
}

/// Reads the framework's parameters: `report` (default per RTT), `slow_start` (`"agent"`
/// default, `"datapath"`, or `"rate"` when `rate_slow_start`), `init_cwnd_pkts` (default:
/// the datapath's window).
pub(crate) fn read_config(
    alg: &'static str,
    p: &super::common::ParamReader<'_>,
    rate_slow_start: bool,
) -> Result<CaConfig, AlgError> {
    let report = p.report_mode(ReportMode::PerRtt)?;
    let options: &[&'static str] = if rate_slow_start {
        &["agent", "datapath", "rate"]
    } else {
        &["agent", "datapath"]
    };
    let slow_start = match p.choice("slow_start", options, "agent")? {
        "datapath" => SlowStart::Datapath,
        "rate" => SlowStart::Rate,
        _ => SlowStart::Agent,
    };
    let init_cwnd_pkts = if p.has("init_cwnd_pkts") {
        Some(p.u64_in("init_cwnd_pkts", 10, 1, 1 << 20)?)
    } else {
        None
    };
    Ok(CaConfig {
        alg,
        report,
        slow_start,
        init_cwnd_pkts,
        ecn: None,
    })
}

/// Parameters [`read_config`] reads.
pub(crate) const CA_PARAMS: [&str; 2] = ["slow_start", "init_cwnd_pkts"];
