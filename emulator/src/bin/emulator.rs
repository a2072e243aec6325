//! `emulator`: runs an emulated dumbbell or star standalone, or measures the emulator.
//!
//! - `emulator run --topology dumbbell --rate-mbps 20 --delay-ms 10 --seconds 30 --out DIR`
//!   prints each host's name, address and namespace inode, then `READY`, runs workloads given
//!   with `--exec HOST=COMMAND` (through `sh -c`) inside the hosts, and stops after `--seconds`
//!   (0: until Ctrl-C or SIGTERM), writing ports.csv, timeseries.csv and emulator.csv.
//! - `emulator bench --rate-mbps 100 --seconds 5` blasts UDP across a one-pair dumbbell and
//!   prints the received rate and the departure timing error (median, p99).

use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand, ValueEnum};
use emulator::config::EmulatorConfig;
use emulator::workload::{udp_blast, UDP_IP_HEADER};
use emulator::{Emulation, EmulatorError};
use netmodels::topology::{LinkParams, TopologyConfig};

#[derive(Parser)]
#[command(about = "Real-time link emulator over network namespaces and TUN devices")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Shape {
    Dumbbell,
    Star,
}

#[derive(Subcommand)]
enum Cmd {
    /// Runs a topology until a deadline or a signal.
    Run {
        /// Topology shape.
        #[arg(long, value_enum, default_value = "dumbbell")]
        topology: Shape,
        /// Dumbbell pairs, or star senders.
        #[arg(long, default_value_t = 1)]
        hosts: u32,
        /// Bottleneck rate (dumbbell) or every link's rate (star), Mbit/s.
        #[arg(long, default_value_t = 20.0)]
        rate_mbps: f64,
        /// One-way delay of the bottleneck (dumbbell) or of every link (star), ms.
        #[arg(long, default_value_t = 10.0)]
        delay_ms: f64,
        /// Drop-tail queue limit in packets.
        #[arg(long, default_value_t = 1000)]
        queue: usize,
        /// Access link rate of the dumbbell, Mbit/s.
        #[arg(long, default_value_t = 200.0)]
        access_mbps: f64,
        /// Seconds to run; 0 runs until SIGINT or SIGTERM.
        #[arg(long, default_value_t = 0.0)]
        seconds: f64,
        /// Results directory (ports.csv, timeseries.csv, emulator.csv).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Capture directory: every link is captured.
        #[arg(long)]
        pcap: Option<PathBuf>,
        /// Ports to sample as time series.
        #[arg(long)]
        monitor: Vec<String>,
        /// `HOST=COMMAND`: runs COMMAND with `sh -c` inside host HOST (a name like sender0).
        #[arg(long)]
        exec: Vec<String>,
    },
    /// Measures round-trip times of a UDP echo across a one-pair dumbbell.
    Ping {
        /// Bottleneck rate, Mbit/s.
        #[arg(long, default_value_t = 20.0)]
        rate_mbps: f64,
        /// One-way bottleneck delay, ms.
        #[arg(long, default_value_t = 10.0)]
        delay_ms: f64,
        /// Requests.
        #[arg(long, default_value_t = 100)]
        count: usize,
        /// Payload bytes.
        #[arg(long, default_value_t = 32)]
        size: usize,
    },
    /// Measures throughput and timing error on a one-pair dumbbell.
    Bench {
        /// Bottleneck rate, Mbit/s.
        #[arg(long, default_value_t = 100.0)]
        rate_mbps: f64,
        /// Offered load, Mbit/s (IP bytes); 0 sends as fast as possible.
        #[arg(long, default_value_t = 0.0)]
        offered_mbps: f64,
        /// One-way bottleneck delay, ms.
        #[arg(long, default_value_t = 5.0)]
        delay_ms: f64,
        /// Seconds of blasting.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// UDP payload bytes.
        #[arg(long, default_value_t = 1472)]
        payload: usize,
        /// Raises the rate ceiling (only to measure the emulator's own ceiling), Mbit/s.
        #[arg(long)]
        ceiling_mbps: Option<f64>,
        /// Runs the I/O thread at normal priority (default: SCHED_FIFO, best effort).
        #[arg(long)]
        no_realtime: bool,
        /// Busy-wait this long before each wake-up, µs (default: the emulator's default).
        #[arg(long)]
        spin_us: Option<u64>,
    },
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("emulator: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), EmulatorError> {
    match cli.cmd {
        Cmd::Run {
            topology,
            hosts,
            rate_mbps,
            delay_ms,
            queue,
            access_mbps,
            seconds,
            out,
            pcap,
            monitor,
            exec,
        } => {
            let rate = (rate_mbps * 1e6) as u64;
            let topo = match topology {
                Shape::Dumbbell => TopologyConfig::Dumbbell {
                    pairs: hosts,
                    bottleneck: LinkParams::fixed(rate, delay_ms * 1e3, queue),
                    access: LinkParams::fixed((access_mbps * 1e6) as u64, 0.0, queue),
                    middlebox: None,
                },
                Shape::Star => TopologyConfig::Star {
                    senders: hosts,
                    link: LinkParams::fixed(rate, delay_ms * 1e3, queue),
                    receiver_link: None,
                },
            };
            let mut cfg = EmulatorConfig::new(topo);
            cfg.monitor_links = monitor;
            if let Some(dir) = pcap {
                std::fs::create_dir_all(&dir)
                    .map_err(|e| EmulatorError::Results(format!("{}: {e}", dir.display())))?;
                let names = cfg
                    .validate()?
                    .links
                    .iter()
                    .map(|l| l.name.clone())
                    .collect();
                cfg.pcap = Some((dir, names));
            }
            // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
            unsafe {
                libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
                libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
            }
            let em = Emulation::start(&cfg)?;
            let inodes = em.ns_inodes();
            for (i, h) in em.topology().hosts().into_iter().enumerate() {
                println!(
                    "host {} {} netns {}",
                    em.topology().nodes[h as usize].name,
                    em.host_ip(h)?,
                    inodes.get(i).copied().unwrap_or(0)
                );
            }
            let mut children = Vec::new();
            for e in &exec {
                let (name, cmdline) = e.split_once('=').ok_or_else(|| EmulatorError::Config {
                    field: "--exec".into(),
                    expected: "HOST=COMMAND".into(),
                    got: e.clone(),
                })?;
                let h = em.host(name).ok_or_else(|| EmulatorError::Config {
                    field: "--exec".into(),
                    expected: "a host name (sender0, receiver0, ...)".into(),
                    got: name.into(),
                })?;
                let mut c = Command::new("sh");
                c.arg("-c").arg(cmdline);
                let child = em.spawn_in(h, c)?;
                println!("child {} pid {}", name, child.id());
                children.push(child);
            }
            println!("READY");
            let start = Instant::now();
            while !STOP.load(Ordering::SeqCst)
                && (seconds <= 0.0 || start.elapsed().as_secs_f64() < seconds)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            let report = em.stop();
            for mut c in children {
                let _ = c.wait();
            }
            println!(
                "stopped: delivered {} packets, timing error median {} ns p99 {} ns",
                report.counters.delivered_packets, report.timing.median_ns, report.timing.p99_ns
            );
            if let Some(dir) = out {
                report.write(&dir)?;
            }
            Ok(())
        }
        Cmd::Ping {
            rate_mbps,
            delay_ms,
            count,
            size,
        } => {
            let rate = (rate_mbps * 1e6) as u64;
            let cfg =
                EmulatorConfig::dumbbell(1, rate, delay_ms * 1e3, 1000, emulator::MAX_RATE_BPS);
            let em = Emulation::start(&cfg)?;
            let (Some(s), Some(r)) = (em.host("sender0"), em.host("receiver0")) else {
                return Err(EmulatorError::Results("no sender0/receiver0".into()));
            };
            let mut rtts =
                emulator::workload::udp_ping(&em, s, r, count, size, Duration::from_millis(10))?;
            let rep = em.stop();
            rtts.sort();
            let ip = (size + UDP_IP_HEADER) as f64 * 8.0;
            let ideal = 2.0
                * (delay_ms
                    + ip / rate as f64 * 1e3
                    + 2.0 * ip / emulator::MAX_RATE_BPS as f64 * 1e3);
            let q = |f: f64| {
                rtts.get(((rtts.len().max(1) - 1) as f64 * f) as usize)
                    .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
            };
            println!("configured_rtt_ms {ideal:.3}");
            println!(
                "rtt_ms min {:.3} median {:.3} p99 {:.3} replies {}",
                q(0.0),
                q(0.5),
                q(0.99),
                rtts.len()
            );
            println!(
                "timing_error_ns median {} p99 {} max {}",
                rep.timing.median_ns, rep.timing.p99_ns, rep.timing.max_ns
            );
            Ok(())
        }
        Cmd::Bench {
            rate_mbps,
            offered_mbps,
            delay_ms,
            seconds,
            payload,
            ceiling_mbps,
            no_realtime,
            spin_us,
        } => {
            let rate = (rate_mbps * 1e6) as u64;
            let mut cfg = EmulatorConfig::dumbbell(1, rate, delay_ms * 1e3, 1000, rate);
            cfg.realtime = !no_realtime;
            if let Some(us) = spin_us {
                cfg.spin = sim_core::SimDuration::from_micros(us);
            }
            if let Some(c) = ceiling_mbps {
                cfg.max_rate_bps = (c * 1e6) as u64;
            }
            let em = Emulation::start(&cfg)?;
            let (s, r) = (em.host("sender0"), em.host("receiver0"));
            let (Some(s), Some(r)) = (s, r) else {
                return Err(EmulatorError::Results("no sender0/receiver0".into()));
            };
            let offered = (offered_mbps > 0.0).then_some(offered_mbps * 1e6);
            let b = udp_blast(
                &em,
                s,
                r,
                Duration::from_secs_f64(seconds),
                offered,
                payload,
            )?;
            let rep = em.stop();
            let sent_mbps = b.sent as f64 * ((payload + UDP_IP_HEADER) * 8) as f64 / seconds / 1e6;
            println!("configured_mbps {rate_mbps}");
            println!("offered_mbps {sent_mbps:.1}");
            println!("received_mbps {:.1}", b.rate_bps / 1e6);
            if let Some(w) = rep.written.get(r as usize) {
                // Bytes of one full datagram are left out with the first write.
                let first = (payload + UDP_IP_HEADER) as u64;
                println!("emulator_output_mbps {:.1}", w.rate_bps(first) / 1e6);
            }
            println!("sent {} received {}", b.sent, b.received);
            println!(
                "timing_error_ns median {} p99 {} max {} count {}",
                rep.timing.median_ns, rep.timing.p99_ns, rep.timing.max_ns, rep.timing.count
            );
            let bn = rep.ports.iter().find(|p| p.port == "bottleneck:forward");
            if let Some(p) = bn {
                println!(
                    "bottleneck tx_packets {} queue_drops {}",
                    p.tx_packets, p.queue_drops
                );
            }
            println!(
                "rx_packets {} not_ipv4 {} write_failures {} spins {} rt_demotions {}",
                rep.counters.rx_packets,
                rep.counters.not_ipv4,
                rep.write_failures,
                rep.spins,
                rep.rt_demotions
            );
            println!(
                "io_thread work_share {:.3} spin_share {:.3}",
                rep.work_share, rep.spin_share
            );
            Ok(())
        }
    }
}
