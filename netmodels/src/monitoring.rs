//! Time-series monitoring: the series names (shared with the figure code, which reads them back
//! from `timeseries.csv`) and the periodic sampler of links and flows.
//!
//! A series is named `<kind>/<subject>`: `qlen_pkts/<link>`, `qdelay_ms/<link>`,
//! `sojourn_ms/<link>`, `util/<link>` for monitored ports (`<link>` is the entry of
//! `monitor_links`: a link name for its forward port, or `<link>:reverse`),
//! `cwnd_bytes/<flow>`, `srtt_ms/<flow>` and `delivered_bytes/<flow>` for recorded flows.
//!
//! Queueing delay is sampled two ways. `qdelay_ms` is the backlog at the sample instant divided
//! by the link's rate: how long a packet arriving then would wait before its own
//! serialization starts (exact for a fixed-rate FIFO; for a trace link it uses the trace's
//! mean rate). It is defined at every sample, also when nothing left the queue in the
//! interval (a link in an outage with 97 packets queued reads their drain time, not 0).
//! `sojourn_ms` is the mean time the packets that left the queue during the interval had
//! waited in it (measured, not estimated); it has no sample for an interval in which no packet
//! left.

use sim_core::{Recorder, SeriesId, SimTime};

use crate::events::PortId;
use crate::port::Port;

/// Series kinds, the part of a series name before the `/`.
pub mod series {
    /// Packets in a link's queue at the sample instant.
    pub const QLEN_PKTS: &str = "qlen_pkts";
    /// Queueing delay at the sample instant: backlog (bytes) × 8 / link rate, in
    /// milliseconds.
    pub const QDELAY_MS: &str = "qdelay_ms";
    /// Mean sojourn time of the packets that left a link's queue during the sample interval,
    /// in milliseconds (no sample when none left).
    pub const SOJOURN_MS: &str = "sojourn_ms";
    /// A link's utilization over the sample interval (bytes sent × 8 / interval / rate).
    pub const UTIL: &str = "util";
    /// A flow's congestion window in bytes.
    pub const CWND_BYTES: &str = "cwnd_bytes";
    /// A flow's smoothed RTT in milliseconds.
    pub const SRTT_MS: &str = "srtt_ms";
    /// Bytes a flow's receiver has delivered in order so far (cumulative; the difference of
    /// two samples over their interval is the flow's goodput).
    pub const DELIVERED_BYTES: &str = "delivered_bytes";

    /// The full series name `kind/subject`.
    pub fn name(kind: &str, subject: impl std::fmt::Display) -> String {
        format!("{kind}/{subject}")
    }

    /// Splits a series name into `(kind, subject)`; a name without `/` has an empty subject.
    pub fn split(name: &str) -> (&str, &str) {
        name.split_once('/').unwrap_or((name, ""))
    }
}

/// Parses a port reference as scenario files and results name ports: `<link>` or
/// `<link>:forward` (the a → b direction), `<link>:reverse` (b → a). Returns the link name and
/// whether it is the reverse direction.
pub fn parse_port_ref(entry: &str) -> Result<(&str, bool), String> {
    match entry.rsplit_once(':') {
        None => Ok((entry, false)),
        Some((link, "forward")) => Ok((link, false)),
        Some((link, "reverse")) => Ok((link, true)),
        Some((_, dir)) => Err(format!(
            "`{entry}`: expected `<link>`, `<link>:forward` or `<link>:reverse`, got direction `{dir}`"
        )),
    }
}

/// The canonical name of a port, as ports.csv and the time series show it.
pub fn port_name(link: &str, reverse: bool) -> String {
    format!("{link}:{}", if reverse { "reverse" } else { "forward" })
}

pub(crate) struct LinkMonitor {
    pub(crate) port: PortId,
    qlen: SeriesId,
    qdelay: SeriesId,
    sojourn: SeriesId,
    util: SeriesId,
}

/// The series of one recorded flow.
#[derive(Clone, Copy, Debug)]
pub(crate) struct FlowSeries {
    pub(crate) cwnd: SeriesId,
    pub(crate) srtt: SeriesId,
    pub(crate) delivered: SeriesId,
}

/// The recorder and what it samples.
pub(crate) struct Monitoring {
    pub(crate) recorder: Recorder,
    links: Vec<LinkMonitor>,
    last_sample: SimTime,
}

impl Monitoring {
    pub(crate) fn new() -> Monitoring {
        Monitoring {
            recorder: Recorder::new(),
            links: Vec::new(),
            last_sample: SimTime::ZERO,
        }
    }

    /// Monitors `port`; its series are named after `name`, the entry as the user wrote it.
    pub(crate) fn add_link(&mut self, name: &str, port: PortId) {
        let r = &mut self.recorder;
        self.links.push(LinkMonitor {
            port,
            qlen: r.series(&series::name(series::QLEN_PKTS, name)),
            qdelay: r.series(&series::name(series::QDELAY_MS, name)),
            sojourn: r.series(&series::name(series::SOJOURN_MS, name)),
            util: r.series(&series::name(series::UTIL, name)),
        });
    }

    /// The series of a recorded flow: cwnd, smoothed RTT, delivered bytes.
    pub(crate) fn add_flow(&mut self, idx: usize) -> FlowSeries {
        FlowSeries {
            cwnd: self.recorder.series(&series::name(series::CWND_BYTES, idx)),
            srtt: self.recorder.series(&series::name(series::SRTT_MS, idx)),
            delivered: self
                .recorder
                .series(&series::name(series::DELIVERED_BYTES, idx)),
        }
    }

    /// Samples every monitored link at `now`.
    pub(crate) fn sample_links(&mut self, now: SimTime, ports: &mut [Port]) {
        let window = now.saturating_since(self.last_sample).as_secs_f64();
        self.last_sample = now;
        for m in &self.links {
            let p = &mut ports[m.port as usize];
            self.recorder.record(m.qlen, now, p.queue_packets() as f64);
            let w = p.take_window();
            if p.nominal_bps() > 0 {
                let qd = p.queue_bytes() as f64 * 8.0 / p.nominal_bps() as f64 * 1e3;
                self.recorder.record(m.qdelay, now, qd);
            }
            if w.dequeued > 0 {
                let sj = w.sojourn_ns as f64 / w.dequeued as f64 / 1e6;
                self.recorder.record(m.sojourn, now, sj);
            }
            let util = if window > 0.0 && p.nominal_bps() > 0 {
                w.tx_bytes as f64 * 8.0 / window / p.nominal_bps() as f64
            } else {
                0.0
            };
            self.recorder.record(m.util, now, util);
        }
    }
}
