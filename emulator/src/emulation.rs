//! The running emulator: [`Emulation::start`] validates the configuration (before anything is
//! created), checks privileges, creates one anonymous namespace with a TUN device per host and
//! starts the I/O thread; workloads run in hosts through [`Emulation::spawn_in`] (processes)
//! or [`Emulation::run_in`] (code on a thread, e.g. to create sockets);
//! [`Emulation::stop`] returns the [`Report`]. Dropping an emulation stops it too.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{SystemTime, UNIX_EPOCH};

use netmodels::topology::{node_ip, Topology};
use netmodels::{NodeId, PortStats};
use sim_core::{Recorder, SimDuration};

use crate::clock::RealClock;
use crate::config::{EmulatorConfig, MTU};
use crate::engine::{EngineCounters, PortRow, Pump, TimingSummary};
use crate::error::EmulatorError;
use crate::io::IoThread;
use crate::netns::{check_privileges, HostNs, Spawner};

/// What an emulation measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Per-port rows, as `ports.csv` of a simulated run.
    pub ports: Vec<PortRow>,
    /// Per-port counters, in port order.
    pub port_stats: Vec<PortStats>,
    /// Engine counters (packets read, dropped as non-IPv4, delivered, ...).
    pub counters: EngineCounters,
    /// Lateness of writes to the TUN devices.
    pub timing: TimingSummary,
    /// Writes the TUN devices refused.
    pub write_failures: u64,
    /// Failed reads from the TUN devices.
    pub read_errors: u64,
    /// Turns that busy-waited for a wake-up closer than [`crate::io::SPIN`].
    pub spins: u64,
    /// Windows in which the real-time I/O thread was busy enough to drop to the normal
    /// policy (see [`crate::io::Governor`]).
    pub rt_demotions: u64,
    /// Mean share of a core the I/O thread used for work (not busy-waiting).
    pub work_share: f64,
    /// Mean share of the time the I/O thread busy-waited.
    pub spin_share: f64,
    /// Per host (by node id): what the emulator wrote to its device.
    pub written: Vec<crate::engine::Written>,
    /// The time series (the same names as a simulated run's).
    pub recorder: Recorder,
}

impl Report {
    pub(crate) fn from_pump(p: &Pump<RealClock>, read_errors: u64, spins: u64) -> Report {
        Report {
            ports: p.engine.port_rows(),
            port_stats: p.engine.port_stats(),
            counters: p.engine.counters(),
            timing: p.timing.summary(),
            write_failures: p.write_failures,
            read_errors,
            spins,
            rt_demotions: 0,
            work_share: 0.0,
            spin_share: 0.0,
            written: p.written.clone(),
            recorder: p.engine.recorder().clone(),
        }
    }

    /// Writes `ports.csv`, `timeseries.csv` and `emulator.csv` (counters and timing as
    /// key/value rows) into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), EmulatorError> {
        let e = |x: sim_core::metrics::MetricsError| EmulatorError::Results(x.to_string());
        std::fs::create_dir_all(dir)
            .map_err(|x| EmulatorError::Results(format!("{}: {x}", dir.display())))?;
        sim_core::metrics::write_records(&dir.join("ports.csv"), &self.ports).map_err(e)?;
        self.recorder
            .write_csv(&dir.join("timeseries.csv"))
            .map_err(e)?;
        #[derive(serde::Serialize)]
        struct Kv {
            key: &'static str,
            value: u64,
        }
        let c = &self.counters;
        let t = &self.timing;
        let rows = [
            ("rx_packets", c.rx_packets),
            ("rx_bytes", c.rx_bytes),
            ("not_ipv4", c.not_ipv4),
            ("malformed", c.malformed),
            ("unknown_dst", c.unknown_dst),
            ("no_route", c.no_route),
            ("delivered_packets", c.delivered_packets),
            ("delivered_bytes", c.delivered_bytes),
            ("pcap_errors", c.pcap_errors),
            ("write_failures", self.write_failures),
            ("read_errors", self.read_errors),
            ("timing_count", t.count),
            ("timing_median_ns", t.median_ns),
            ("timing_p99_ns", t.p99_ns),
            ("timing_max_ns", t.max_ns),
        ]
        .map(|(key, value)| Kv { key, value });
        sim_core::metrics::write_records(&dir.join("emulator.csv"), &rows).map_err(e)
    }
}

/// A running emulation.
pub struct Emulation {
    topo: Topology,
    hosts: Vec<Option<HostNs>>,
    spawner: Option<Spawner>,
    io: Option<IoThread>,
}

impl Emulation {
    /// Validates `cfg`, checks privileges, creates the hosts and starts the emulator.
    pub fn start(cfg: &EmulatorConfig) -> Result<Emulation, EmulatorError> {
        let topo = cfg.validate()?;
        check_privileges()?;
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(SimDuration::from)
            .unwrap_or_default();
        let mut hosts: Vec<Option<HostNs>> = (0..topo.nodes.len()).map(|_| None).collect();
        for h in topo.hosts() {
            hosts[h as usize] = Some(HostNs::create(node_ip(h), MTU)?);
        }
        let spawner = Spawner::new().map_err(|e| EmulatorError::sys("starting the spawner", e))?;
        let tuns = hosts
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|h| (i as NodeId, h.tun.as_raw_fd())))
            .collect();
        let io = IoThread::start(cfg.clone(), epoch, tuns)?;
        Ok(Emulation {
            topo,
            hosts,
            spawner: Some(spawner),
            io: Some(io),
        })
    }

    /// The topology.
    pub fn topology(&self) -> &Topology {
        &self.topo
    }

    /// The host named `name` (`sender0`, `receiver0`, ...).
    pub fn host(&self, name: &str) -> Option<NodeId> {
        self.topo
            .nodes
            .iter()
            .position(|n| n.name == name)
            .map(|i| i as NodeId)
            .filter(|h| self.topo.is_host(*h))
    }

    fn host_ns(&self, host: NodeId) -> Result<&HostNs, EmulatorError> {
        self.hosts
            .get(host as usize)
            .and_then(Option::as_ref)
            .ok_or(EmulatorError::NoSuchHost(host))
    }

    /// The address of `host` (`10.x.y.1`, see [`netmodels::topology::node_ip`]).
    pub fn host_ip(&self, host: NodeId) -> Result<Ipv4Addr, EmulatorError> {
        Ok(self.host_ns(host)?.ip)
    }

    /// The inode numbers of the hosts' namespaces (to check that they are gone later).
    pub fn ns_inodes(&self) -> Vec<u64> {
        self.hosts.iter().flatten().map(HostNs::ns_inode).collect()
    }

    /// Starts `cmd` inside `host`'s namespace. The child is SIGKILLed by the kernel when the
    /// emulation stops or the emulator process dies.
    pub fn spawn_in(&self, host: NodeId, cmd: Command) -> Result<Child, EmulatorError> {
        let ns = self.host_ns(host)?.ns.as_raw_fd();
        self.spawner
            .as_ref()
            .ok_or_else(|| EmulatorError::Results("emulation stopped".into()))?
            .spawn(ns, cmd)
            .map_err(|e| EmulatorError::sys(format!("spawning in host {host}"), e))
    }

    /// Runs `f` on a thread inside `host`'s namespace (sockets it creates live there).
    pub fn run_in<T: Send + 'static>(
        &self,
        host: NodeId,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, EmulatorError> {
        let ns = self.host_ns(host)?.ns.as_raw_fd();
        crate::netns::run_in(ns, f)
            .map_err(|e: io::Error| EmulatorError::sys(format!("entering host {host}"), e))
    }

    /// Stops the emulator: the I/O thread ends, workloads are killed, namespaces and devices
    /// are released. Returns what was measured.
    pub fn stop(mut self) -> Report {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Report {
        let report = self.io.take().map(IoThread::stop).unwrap_or_default();
        self.spawner = None;
        for h in &mut self.hosts {
            *h = None;
        }
        report
    }
}

impl Drop for Emulation {
    fn drop(&mut self) {
        self.shutdown();
    }
}
