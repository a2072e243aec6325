//! `datapaths::stream` on loopback: the transport's bulk transfer delivers every byte intact
//! (digest of the pattern) with native NewReno, with 1 % of the datagrams dropped on the send
//! path, and with CCP whose agent is a separate `ccp agent` process reached over the Unix
//! socket; Linux TCP with reno and cubic through the same workloads; request/response on
//! both; the `realflow` binary end to end; and the datagram decoder on arbitrary bytes.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::Duration as StdDuration;

use datapaths::stream::endpoint::{DropHook, EndpointConfig};
use datapaths::stream::payload::digest_of;
use datapaths::stream::{self, bulk_source, ccp_remote, linux_tcp, wire, Amount};
use datapaths::tokio_rt::TokioRuntime;
use netrt::Duration;
use proptest::prelude::*;
use transport::{CcFactory, CcKind, TransportConfig};

const MB: u64 = 1 << 20;

fn cfg() -> EndpointConfig {
    EndpointConfig {
        transport: TransportConfig::default().with_mss(1448),
        ..EndpointConfig::default()
    }
}

/// Runs a bulk receiver and sender on loopback, each on its own thread and runtime.
fn bulk(
    amount: Amount,
    send_cfg: EndpointConfig,
    recv_cfg: EndpointConfig,
    cc: impl FnOnce(&TokioRuntime) -> Rc<dyn CcFactory> + Send + 'static,
) -> (Vec<stream::SendReport>, Vec<stream::RecvReport>) {
    let (tx, rx) = mpsc::channel();
    let recv = std::thread::spawn(move || {
        let rt = TokioRuntime::new().unwrap();
        rt.block_on(stream::bulk_recv(
            &rt,
            "127.0.0.1:0".parse().unwrap(),
            1,
            recv_cfg,
            Duration::from_millis(300),
            Some(Duration::from_secs(120)),
            move |a| tx.send(a).unwrap(),
        ))
        .unwrap()
        .0
    });
    let to: SocketAddr = rx.recv().unwrap();
    let send = std::thread::spawn(move || {
        let rt = TokioRuntime::new().unwrap();
        let f = cc(&rt);
        rt.block_on(stream::bulk_send(
            &rt,
            "127.0.0.1:0".parse().unwrap(),
            to,
            1,
            amount,
            send_cfg,
            f,
            Duration::from_secs(120),
        ))
        .unwrap()
        .0
    });
    (send.join().unwrap(), recv.join().unwrap())
}

fn check_intact(bytes: u64, s: &[stream::SendReport], r: &[stream::RecvReport]) {
    let want = format!("{:016x}", digest_of(&bulk_source(0), bytes));
    assert_eq!(s.len(), 1);
    assert_eq!(r.len(), 1);
    assert_eq!(s[0].bytes, bytes);
    assert_eq!(r[0].bytes, bytes);
    assert_eq!(s[0].digest.as_deref(), Some(want.as_str()), "sender digest");
    assert_eq!(
        r[0].digest.as_deref(),
        Some(want.as_str()),
        "receiver digest"
    );
    assert!(s[0].rtt_us.count > 0);
}

#[test]
fn ours_newreno_delivers_20_mb_intact() {
    let (s, r) = bulk(Amount::Bytes(20 * MB), cfg(), cfg(), |_| {
        Rc::new(CcKind::Reno)
    });
    check_intact(20 * MB, &s, &r);
    assert_eq!(s[0].cc, "reno");
}

#[test]
fn ours_duration_limited_flow_ends_with_a_fin_datagram() {
    let lossy = |seed| EndpointConfig {
        drop: Some(DropHook { rate: 0.2, seed }),
        transport: TransportConfig::default().with_min_rto(Duration::from_millis(20)),
        ..cfg()
    };
    // Heavy loss on both sides, so FINs and FIN-ACKs are lost too and repeated.
    let amount = Amount::Duration(Duration::from_millis(500));
    let (s, r) = bulk(amount, lossy(3), lossy(5), |_| Rc::new(CcKind::Reno));
    assert!(s[0].bytes > 0);
    check_intact(s[0].bytes, &s, &r);
}

#[test]
fn ours_with_one_percent_loss_delivers_intact() {
    let lossy = |seed| EndpointConfig {
        drop: Some(DropHook { rate: 0.01, seed }),
        transport: TransportConfig::default()
            .with_mss(1448)
            .with_min_rto(Duration::from_millis(20)),
        ..cfg()
    };
    let (s, r) = bulk(Amount::Bytes(10 * MB), lossy(7), lossy(11), |_| {
        Rc::new(CcKind::Cubic)
    });
    check_intact(10 * MB, &s, &r);
    assert!(s[0].retransmitted_segments > 0, "{:?}", s[0]);
    assert!(r[0].out_of_order_segments > 0, "{:?}", r[0]);
}

/// A `ccp agent` process; killed when dropped.
struct AgentProc {
    child: Child,
    err: Option<BufReader<std::process::ChildStderr>>,
}

impl AgentProc {
    fn start(name: &str, params: &[&str]) -> AgentProc {
        let mut args = vec!["agent", "--alg", "algs:reno", "--ipc-name", name];
        for p in params {
            args.extend(["--param", p]);
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_ccp"))
            .args(&args)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        assert!(line.contains("listening"), "{line}");
        AgentProc {
            child,
            err: Some(err),
        }
    }

    /// Stops the agent; returns the number of datagrams it received (from its exit line).
    fn stop(mut self) -> u64 {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let mut rest = String::new();
        if let Some(mut e) = self.err.take() {
            std::io::Read::read_to_string(&mut e, &mut rest).unwrap();
        }
        let n = rest
            .split(" after ")
            .nth(1)
            .and_then(|t| t.split(' ').next())
            .and_then(|t| t.parse().ok());
        n.unwrap_or_else(|| panic!("no datagram count in {rest:?}"))
    }
}

impl Drop for AgentProc {
    fn drop(&mut self) {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

#[test]
fn ours_with_ccp_agent_in_another_process_delivers_20_mb_intact() {
    let name = format!("it-stream-{}", std::process::id());
    let agent = AgentProc::start(&name, &["report=per_ack"]);
    let n = name.clone();
    let (s, r) = bulk(Amount::Bytes(20 * MB), cfg(), cfg(), move |rt| {
        ccp_remote::factory(rt, &n, "reno").unwrap()
    });
    check_intact(20 * MB, &s, &r);
    assert_eq!(s[0].cc, "ccp:reno");
    assert!(!s[0].fell_back, "the agent answered: no fallback");
    // The agent heard READY, CREATE and reports (how many depends on how fast a debug-built
    // agent keeps up on a loaded machine: what is still queued when the flow ends is never
    // sent).
    let got = agent.stop();
    assert!(got >= 3, "{got} datagrams for {} ACKs", s[0].rtt_us.count);
}

#[test]
fn ours_request_response_fcts() {
    let (tx, rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = TokioRuntime::new().unwrap();
        rt.block_on(stream::rr_server(
            &rt,
            "127.0.0.1:0".parse().unwrap(),
            cfg(),
            Rc::new(CcKind::Reno),
            Some(Duration::from_secs(8)),
            move |a| tx.send(a).unwrap(),
        ))
        .unwrap()
    });
    let to: SocketAddr = rx.recv().unwrap();
    let rt = TokioRuntime::new().unwrap();
    let res = rt
        .block_on(stream::rr_client(
            &rt,
            "127.0.0.1:0".parse().unwrap(),
            to,
            20,
            100,
            50_000,
            cfg(),
            Rc::new(CcKind::Reno),
            Duration::from_secs(60),
        ))
        .unwrap();
    assert_eq!(res.len(), 20);
    for r in &res {
        assert_eq!(r.intact, Some(true), "{r:?}");
        assert!(r.fct_us > 0.0);
    }
    assert_eq!(server.join().unwrap(), 20);
}

fn tcp_bulk(cc: &'static str) {
    let (tx, rx) = mpsc::channel();
    let recv = std::thread::spawn(move || {
        let rt = TokioRuntime::new().unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            linux_tcp::bulk_recv(l, 2, true).await.unwrap()
        })
    });
    let to = rx.recv().unwrap();
    let rt = TokioRuntime::new().unwrap();
    let s = rt
        .block_on(linux_tcp::bulk_send(to, 2, Amount::Bytes(8 * MB), cc, true))
        .unwrap();
    let r = recv.join().unwrap();
    assert_eq!(s.len(), 2);
    for x in &s {
        assert_eq!(x.cc, format!("linux-tcp:{cc}"));
        assert_eq!(x.bytes, 8 * MB);
        let want = format!("{:016x}", digest_of(&bulk_source(x.stream), 8 * MB));
        assert_eq!(x.digest.as_deref(), Some(want.as_str()));
    }
    // Receivers number connections in accept order; both carried the same byte count and
    // each digest is one of the two senders'.
    for x in &r {
        assert_eq!(x.bytes, 8 * MB);
        assert!(s.iter().any(|y| y.digest == x.digest), "{x:?}");
    }
}

#[test]
fn linux_tcp_reno_bulk() {
    tcp_bulk("reno");
}

#[test]
fn linux_tcp_cubic_bulk() {
    tcp_bulk("cubic");
}

#[test]
fn linux_tcp_unknown_congestion_control_is_an_error() {
    let rt = TokioRuntime::new().unwrap();
    let e = rt
        .block_on(linux_tcp::bulk_send(
            "127.0.0.1:9".parse().unwrap(),
            1,
            Amount::Bytes(1),
            "no-such-cc",
            false,
        ))
        .unwrap_err();
    assert!(e.to_string().contains("TCP_CONGESTION"), "{e}");
}

#[test]
fn linux_tcp_request_response() {
    let rt = TokioRuntime::new().unwrap();
    let (tx, rx) = mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = TokioRuntime::new().unwrap();
        rt.block_on(async {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            linux_tcp::rr_server(l, "cubic", Some(StdDuration::from_secs(5)))
                .await
                .unwrap()
        })
    });
    let to = rx.recv().unwrap();
    let res = rt
        .block_on(linux_tcp::rr_client(to, 10, 1000, 30_000, "reno", true))
        .unwrap();
    assert_eq!(res.len(), 10);
    assert!(res.iter().all(|r| r.intact == Some(true)), "{res:?}");
    assert_eq!(server.join().unwrap(), 10);
}

#[test]
fn realflow_binary_bulk_over_ours_and_linux_tcp() {
    for transport in ["ours", "linux-tcp"] {
        let dir = tempfile::tempdir().unwrap();
        let recv_out = dir.path().join("recv.json");
        let send_out = dir.path().join("send.json");
        let mut recv = Command::new(env!("CARGO_BIN_EXE_realflow"))
            .args([
                "bulk-recv",
                "--bind",
                "127.0.0.1:0",
                "--transport",
                transport,
            ])
            .arg("--out")
            .arg(&recv_out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(recv.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
        let st = Command::new(env!("CARGO_BIN_EXE_realflow"))
            .args([
                "bulk-send",
                "--to",
                &addr,
                "--bytes",
                "3000000",
                "--cc",
                "cubic",
            ])
            .args(["--transport", transport])
            .arg("--out")
            .arg(&send_out)
            .status()
            .unwrap();
        assert!(st.success(), "{transport}");
        assert!(recv.wait().unwrap().success(), "{transport}");
        let s: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&send_out).unwrap()).unwrap();
        let r: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&recv_out).unwrap()).unwrap();
        assert_eq!(s["flows"][0]["bytes"], 3_000_000, "{s}");
        assert_eq!(r["flows"][0]["bytes"], 3_000_000, "{r}");
        assert_eq!(s["flows"][0]["digest"], r["flows"][0]["digest"]);
        assert!(s["rusage"]["user_s"].is_number());
    }
}

#[test]
fn realflow_rejects_bad_arguments() {
    let out = Command::new(env!("CARGO_BIN_EXE_realflow"))
        .args([
            "bulk-send",
            "--to",
            "127.0.0.1:9",
            "--bytes",
            "1",
            "--cc",
            "vegas",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("vegas"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// Arbitrary bytes decode or fail with an error, never a panic; what decodes
    /// re-encodes to the same bytes.
    #[test]
    fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(d) = wire::decode(&bytes) {
            let mut out = Vec::new();
            match d {
                wire::Datagram::Data { stream, seg, payload } => {
                    wire::encode_data(&mut out, stream, &seg, payload)
                }
                wire::Datagram::Ack { stream, ack } => wire::encode_ack(&mut out, stream, &ack),
                wire::Datagram::Fin { stream, size } => wire::encode_fin(&mut out, stream, size),
                wire::Datagram::FinAck { stream } => wire::encode_fin_ack(&mut out, stream),
            }
            prop_assert_eq!(out, bytes);
        }
    }

    /// Valid datagrams with bytes flipped or cut decode or fail, never panic.
    #[test]
    fn mutated_datagrams_never_panic(
        kind in any::<bool>(),
        seq in any::<u64>(),
        n in 0usize..40,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in any::<usize>(),
    ) {
        let mut out = Vec::new();
        if kind {
            let seg = transport::Segment {
                seq: seq >> 1, len: n as u32, ts: netrt::Instant::from_nanos(seq),
                retransmit: false, fin: true, syn: false,
            };
            wire::encode_data(&mut out, 3, &seg, &vec![7u8; n]);
        } else {
            let mut ack = transport::AckInfo {
                ack: seq, sack: [transport::SackBlock::default(); 3], n_sack: (n % 4) as u8,
                ece: false, ts_echo: netrt::Instant::ZERO, segs: 1, syn: false,
            };
            ack.sack[0] = transport::SackBlock { start: 1, end: 2 };
            wire::encode_ack(&mut out, 3, &ack);
        }
        for (i, v) in flips {
            let l = out.len();
            out[i % l] ^= v;
        }
        out.truncate(cut % (out.len() + 1));
        let _ = wire::decode(&out);
    }
}
