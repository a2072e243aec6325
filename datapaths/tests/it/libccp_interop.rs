//! Interop over real Unix datagram sockets: our agent (the `run_agent` loop on our Unix
//! transport), running a small algorithm written here, drives a libccp 1.2 datapath: it
//! installs its program on READY, switches the flow on CREATE, and sets the windows it
//! computes from libccp's reports. The window sequence is asserted.
//!
//! libccp is driven through its C API by the harness shared with `ccp`'s tests (a zeroed
//! connection table and a test-controlled microsecond clock; the `libccp` crate's wrapper
//! mallocs its table without zeroing it). Whatever libccp sends is forwarded to the agent's
//! socket right after the libccp call that sent it.

#[path = "../../../ccp/tests/it/runtime_ffi.rs"]
mod runtime_ffi;

use ccp::agent::{Agent, AgentConfig, Algorithm, Control, FlowState, ProgramSpec, Report};
use ccp::datapath::Primitives;
use ccp::ipc::Transport;
use ccp::wire::{Create, Msg};
use datapaths::unix::{ccp_path, run_agent, UnixTransport};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const PROG: &str = "
    (def (Report (volatile acked 0)))
    (when true
        (:= Report.acked (+ Report.acked Ack.bytes_acked))
        (fallthrough))
    (when (> Report.acked 5000)
        (report))
";

/// The algorithm; counts the flows the agent closed (shared with the test).
struct Alg(Arc<AtomicUsize>);
struct AlgFlow {
    cwnd: u64,
    closed: Arc<AtomicUsize>,
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
        let w = u64::from(info.flow.init_cwnd);
        ctl.set_program("prog", &[("Cwnd", w)]).unwrap();
        AlgFlow {
            cwnd: w,
            closed: self.0.clone(),
        }
    }
}

impl FlowState for AlgFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        self.cwnd += r.get("acked").unwrap();
        ctl.set_cwnd(self.cwnd);
    }
    fn close(&mut self, _sid: u32) {
        self.closed.fetch_add(1, Ordering::SeqCst);
    }
}

/// Forwards what libccp sent to the agent; counts the reports among it.
fn forward(lib: &mut runtime_ffi::Libccp, dt: &UnixTransport, to: &Path) -> usize {
    let mut reports = 0;
    for msg in lib.take_msgs() {
        if msg.len() > 16 && msg[0] == 1 {
            reports += 1;
        }
        dt.socket().send_to(&msg, to).unwrap();
    }
    reports
}

#[test]
fn our_agent_drives_libccp_over_unix_sockets() {
    let pid = std::process::id();
    let agent_name = format!("it-ours-{pid}");
    let mut at = UnixTransport::bind(&agent_name).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let closes = Arc::new(AtomicUsize::new(0));
    let closes2 = closes.clone();
    let agent_thread = std::thread::spawn(move || {
        let mut agent: Agent<Alg, PathBuf> =
            Agent::new(Alg(closes2), AgentConfig::default().instance(pid)).unwrap();
        let stats = run_agent(&mut agent, &mut at, &stop2).unwrap();
        (stats, agent.stats())
    });

    let mut dt = UnixTransport::bind(&format!("it-libccp-{pid}")).unwrap();
    // Generous: the machine running the suite may be loaded.
    dt.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let to = ccp_path(&agent_name);
    runtime_ffi::NOW_US.with(|t| t.set(1));
    let mut lib = runtime_ffi::Libccp::init(11);
    forward(&mut lib, &dt, &to);
    let sid = lib.start(runtime_ffi::CInfo::new(14_600, 1460, [0; 4], ""));
    assert_eq!(sid, 1);
    forward(&mut lib, &dt, &to);

    let mut buf = vec![0u8; 65536];
    let mut next = |dt: &mut UnixTransport| -> Vec<u8> {
        let (n, _) = dt
            .recv_from(netrt::Instant::ZERO, &mut buf)
            .unwrap()
            .expect("agent answers");
        buf[..n].to_vec()
    };
    // READY → uid-1 reset + our program; CREATE → CHANGE_PROG.
    loop {
        let b = next(&mut dt);
        let change = matches!(Msg::decode(&b).unwrap().0, Msg::ChangeProg(_));
        assert_eq!(lib.recv(&b), 0);
        if change {
            break;
        }
    }

    let mut cwnd = 0;
    let mut seq = vec![];
    for _ in 0..21 {
        // One ACK per millisecond of datapath time.
        runtime_ffi::NOW_US.with(|t| t.set(t.get() + 1000));
        let p = Primitives {
            bytes_acked: 1460,
            packets_acked: 1,
            rtt_sample: netrt::Duration::from_micros(10_000),
            snd_cwnd: cwnd,
            ..Default::default()
        };
        assert_eq!(lib.invoke(&p), 0);
        if let Some(c) = lib.seen.cwnd {
            cwnd = c;
            if seq.last() != Some(&c) {
                seq.push(c);
            }
        }
        if forward(&mut lib, &dt, &to) > 0 {
            // Lock-step: wait for the agent's UPDATE_FIELDS before the next ACK.
            let b = next(&mut dt);
            assert!(matches!(Msg::decode(&b).unwrap().0, Msg::UpdateFields(_)));
            assert_eq!(lib.recv(&b), 0);
        }
    }
    assert_eq!(seq, vec![14_600, 20_440, 26_280, 32_120, 37_960, 43_800]);

    lib.close();
    forward(&mut lib, &dt, &to);
    // Wait (generously) until the agent has seen the close, then stop it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while closes.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    stop.store(true, Ordering::SeqCst);
    let (loop_stats, agent_stats) = agent_thread.join().unwrap();
    assert_eq!(loop_stats.bad, 0);
    assert_eq!(agent_stats.reports, 5);
    assert_eq!(agent_stats.closes, 1);
}
