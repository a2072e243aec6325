//! Interop over real Unix datagram sockets: our agent (the `run_agent` loop on our Unix
//! transport), running a small algorithm written here, drives a libccp 1.2 datapath: it
//! installs its program on READY, switches the flow on CREATE, and sets the windows it
//! computes from libccp's reports. The window sequence is asserted.

use ccp::agent::{Agent, AgentConfig, Algorithm, Control, FlowState, ProgramSpec, Report};
use ccp::transport::Transport;
use ccp::wire::{Create, Msg};
use datapaths::unix::{ccp_path, run_agent, UnixTransport};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const PROG: &str = "
    (def (Report (volatile acked 0)))
    (when true
        (:= Report.acked (+ Report.acked Ack.bytes_acked))
        (fallthrough))
    (when (> Report.acked 5000)
        (report))
";

struct Alg;
struct AlgFlow {
    cwnd: u64,
}

impl Algorithm for Alg {
    type Flow = AlgFlow;
    fn name(&self) -> &str {
        "interop"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![ProgramSpec::compile("prog", PROG).unwrap()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> AlgFlow {
        let w = u64::from(info.init_cwnd);
        ctl.set_program("prog", &[("Cwnd", w)]).unwrap();
        AlgFlow { cwnd: w }
    }
}

impl FlowState for AlgFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        self.cwnd += r.get("acked").unwrap();
        ctl.set_cwnd(self.cwnd);
    }
}

struct Ops {
    sock: UnixDatagram,
    to: PathBuf,
    reports: Arc<AtomicUsize>,
}

impl libccp::DatapathOps for Ops {
    fn send_msg(&mut self, msg: &[u8]) {
        if msg.len() > 16 && msg[0] == 1 {
            self.reports.fetch_add(1, Ordering::SeqCst);
        }
        let _ = self.sock.send_to(msg, &self.to);
    }
}

#[derive(Default)]
struct Cn {
    cwnd: Option<u32>,
}

impl libccp::CongestionOps for Cn {
    fn set_cwnd(&mut self, c: u32) {
        self.cwnd = Some(c);
    }
    fn set_rate_abs(&mut self, _: u32) {}
}

#[test]
fn our_agent_drives_libccp_over_unix_sockets() {
    zeroed_large_allocations();
    let pid = std::process::id();
    let agent_name = format!("it-ours-{pid}");
    let mut at = UnixTransport::bind(&agent_name).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let agent_thread = std::thread::spawn(move || {
        let mut agent: Agent<Alg, PathBuf> =
            Agent::new(Alg, AgentConfig::default().instance(pid)).unwrap();
        let stats = run_agent(&mut agent, &mut at, &stop2).unwrap();
        (stats, agent.stats())
    });

    let mut dt = UnixTransport::bind(&format!("it-libccp-{pid}")).unwrap();
    dt.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let reports = Arc::new(AtomicUsize::new(0));
    let ops = Ops {
        sock: dt.socket().try_clone().unwrap(),
        to: ccp_path(&agent_name),
        reports: reports.clone(),
    };
    let lib = libccp::DatapathBuilder::default()
        .with_ops(ops)
        .with_id(11)
        .init()
        .unwrap();
    let info = libccp::FlowInfo::default()
        .with_init_cwnd(14_600)
        .with_mss(1460);
    let mut conn = libccp::Connection::start(&lib, Cn::default(), info).unwrap();

    let mut buf = vec![0u8; 65536];
    let mut next = |dt: &mut UnixTransport| -> Vec<u8> {
        let (n, _) = dt.recv_from(0, &mut buf).unwrap().expect("agent answers");
        buf[..n].to_vec()
    };
    // READY → uid-1 reset + our program; CREATE → CHANGE_PROG.
    loop {
        let mut b = next(&mut dt);
        let change = matches!(Msg::decode(&b).unwrap().0, Msg::ChangeProg(_));
        lib.recv_msg(&mut b).unwrap();
        if change {
            break;
        }
    }

    let mut cwnd = 0;
    let mut seq = vec![];
    for _ in 0..21 {
        let before = reports.load(Ordering::SeqCst);
        conn.cwnd = None;
        conn.load_primitives(
            libccp::Primitives::default()
                .with_bytes_acked(1460)
                .with_packets_acked(1)
                .with_rtt_sample_us(10_000)
                .with_snd_cwnd(cwnd),
        );
        conn.invoke().unwrap();
        if let Some(c) = conn.cwnd {
            cwnd = c;
            if seq.last() != Some(&c) {
                seq.push(c);
            }
        }
        if reports.load(Ordering::SeqCst) > before {
            let mut b = next(&mut dt);
            assert!(matches!(Msg::decode(&b).unwrap().0, Msg::UpdateFields(_)));
            lib.recv_msg(&mut b).unwrap();
        }
    }
    assert_eq!(seq, vec![14_600, 20_440, 26_280, 32_120, 37_960, 43_800]);

    drop(conn);
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, Ordering::SeqCst);
    let (loop_stats, agent_stats) = agent_thread.join().unwrap();
    assert_eq!(loop_stats.bad, 0);
    assert_eq!(agent_stats.reports, 5);
    assert_eq!(agent_stats.closes, 1);
}

/// libccp's Rust binding mallocs its connection table without zeroing it, relying on fresh
/// memory. Pin glibc's mmap threshold so that a large block is not carved from the dynamic
/// threshold's recycled heap; together with creating the datapath first thing in the test's
/// own thread this gets a fresh (zeroed) table. (`runtime_libccp` avoids the wrapper
/// altogether.)
fn zeroed_large_allocations() {
    extern "C" {
        fn mallopt(param: i32, value: i32) -> i32;
    }
    const M_MMAP_THRESHOLD: i32 = -3;
    // SAFETY: mallopt only tunes the allocator; the value is the glibc default.
    unsafe {
        mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    }
}
