//! Interop over real Unix datagram sockets: portus 0.9's agent, running a small algorithm
//! written here against portus's `CongAlg` trait, installs its program into our datapath
//! runtime (driven by a synthetic ACK clock) and sets the windows it computes from our
//! reports. The window sequence is asserted.

use ccp::datapath::{Config, Datapath, FlowInfo, Primitives};
use ccp::ipc::Transport;
use ccp::wire::Msg;
use datapaths::unix::{ccp_path, UnixTransport};
use portus::ipc::{unix::Socket, BackendBuilder, Blocking, Ipc};
use portus::lang::Scope;
use portus::{CongAlg, Datapath as PDatapath, DatapathInfo, DatapathTrait, Flow, Report};
use std::collections::HashMap;
use std::time::Duration;

/// The instant `n` milliseconds after the epoch: the synthetic ACK clock ticks every ms.
fn ms(n: u64) -> netrt::Instant {
    netrt::Instant::ZERO + netrt::Duration::from_millis(n)
}

const PROG: &str = "
    (def (Report (volatile acked 0)))
    (when true
        (:= Report.acked (+ Report.acked Ack.bytes_acked))
        (fallthrough))
    (when (> Report.acked 5000)
        (report))
";

struct Alg;

struct AlgFlow<I: Ipc> {
    control: PDatapath<I>,
    sc: Scope,
    cwnd: u32,
}

impl<I: Ipc> CongAlg<I> for Alg {
    type Flow = AlgFlow<I>;
    fn name() -> &'static str {
        "interop"
    }
    fn datapath_programs(&self) -> HashMap<&'static str, String> {
        let mut h = HashMap::new();
        h.insert("prog", PROG.to_owned());
        h
    }
    fn new_flow(&self, mut control: PDatapath<I>, info: DatapathInfo) -> AlgFlow<I> {
        let sc = control
            .set_program("prog", Some(&[("Cwnd", info.init_cwnd)]))
            .unwrap();
        AlgFlow {
            control,
            sc,
            cwnd: info.init_cwnd,
        }
    }
}

impl<I: Ipc> Flow for AlgFlow<I> {
    fn on_report(&mut self, _sid: u32, m: Report) {
        let acked = m.get_field("Report.acked", &self.sc).unwrap() as u32;
        self.cwnd += acked;
        self.control
            .update_field(&self.sc, &[("Cwnd", self.cwnd)])
            .unwrap();
    }
}

fn recv(t: &mut UnixTransport, buf: &mut [u8]) -> Vec<u8> {
    match t.recv_from(netrt::Instant::ZERO, buf).unwrap() {
        Some((n, _)) => buf[..n].to_vec(),
        None => panic!("timed out waiting for portus"),
    }
}

#[test]
fn portus_agent_drives_our_runtime_over_unix_sockets() {
    let pid = std::process::id();
    let agent_name = format!("it-portus-{pid}");
    let sock = Socket::<Blocking>::new(&agent_name).unwrap();
    let handle = portus::RunBuilder::new(BackendBuilder { sock })
        .default_alg(Alg)
        .spawn_thread()
        .run()
        .unwrap();
    let agent = ccp_path(&agent_name);

    let mut t = UnixTransport::bind(&format!("it-dp-for-portus-{pid}")).unwrap();
    // Generous: the machine running the suite may be loaded.
    t.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut dp = Datapath::new(Config::default().id(3), netrt::Instant::ZERO);
    let sid = dp
        .open_flow(
            netrt::Instant::ZERO,
            FlowInfo {
                init_cwnd: 14_600,
                mss: 1460,
                ..Default::default()
            },
        )
        .unwrap();
    let flush = |dp: &mut Datapath, t: &mut UnixTransport| {
        while let Some(m) = dp.poll_transmit() {
            t.send_to(netrt::Instant::ZERO, &agent, m).unwrap();
        }
    };
    flush(&mut dp, &mut t);

    // READY → INSTALL; CREATE → CHANGE_PROG (Cwnd = init_cwnd).
    let mut buf = vec![0u8; 65536];
    loop {
        let b = recv(&mut t, &mut buf);
        dp.handle_bytes(netrt::Instant::ZERO, &b).unwrap();
        if matches!(Msg::decode(&b).unwrap().0, Msg::ChangeProg(_)) {
            break;
        }
    }

    let mut cwnd = 0;
    let mut seq = vec![];
    for i in 1..=21u64 {
        let p = Primitives {
            bytes_acked: 1460,
            packets_acked: 1,
            rtt_sample: netrt::Duration::from_micros(10_000),
            snd_cwnd: cwnd,
            ..Default::default()
        };
        let inv = dp.invoke(ms(i), sid, &p);
        assert_eq!(inv.error, None);
        if let Some(c) = inv.cwnd {
            cwnd = c;
            if seq.last() != Some(&c) {
                seq.push(c);
            }
        }
        flush(&mut dp, &mut t);
        if inv.reported {
            // Lock-step: wait for portus's UPDATE_FIELDS before the next ACK.
            let b = recv(&mut t, &mut buf);
            assert!(matches!(Msg::decode(&b).unwrap().0, Msg::UpdateFields(_)));
            dp.handle_bytes(ms(i), &b).unwrap();
        }
    }
    // Every 4th ACK reports 4 × 1460 = 5840 acked bytes; portus adds them to the window.
    assert_eq!(seq, vec![14_600, 20_440, 26_280, 32_120, 37_960, 43_800]);

    dp.close_flow(ms(30), sid);
    flush(&mut dp, &mut t);
    handle.kill();
    handle.wait().unwrap();
    // portus does not remove its socket file.
    let _ = std::fs::remove_file(&agent);
}
