//! Programs using the language extensions (`>=`, `<=`, `if`/`!if` into `Cwnd`, `ewma` into a
//! local) are accepted by libccp 1.2 and run there as the language says.
//!
//! The INSTALL_EXPR and CHANGE_PROG messages are framed here by hand (8-byte header:
//! `u16 type, u16 length, u32 socket id`), independently of `ccp::wire`.

use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<Vec<u8>>>>;

struct Dp(Log);
impl libccp::DatapathOps for Dp {
    fn send_msg(&mut self, msg: &[u8]) {
        self.0.lock().unwrap().push(msg.to_vec());
    }
}

struct Cn(Arc<Mutex<Vec<u32>>>);
impl libccp::CongestionOps for Cn {
    fn set_cwnd(&mut self, cwnd: u32) {
        self.0.lock().unwrap().push(cwnd);
    }
    fn set_rate_abs(&mut self, _rate: u32) {}
}

fn frame(kind: u16, sid: u32, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::new();
    m.extend_from_slice(&kind.to_le_bytes());
    m.extend_from_slice(&((8 + body.len()) as u16).to_le_bytes());
    m.extend_from_slice(&sid.to_le_bytes());
    m.extend_from_slice(body);
    m
}

const PROGRAM: &str = "
(def (Report (volatile acked 0)))
(when (>= Ack.bytes_acked 100)
    (:= smooth (ewma 5 Ack.bytes_acked))
    (:= Cwnd (if (<= Ack.lost_pkts_sample 0) (+ Cwnd smooth)))
    (:= Cwnd (!if (<= Ack.lost_pkts_sample 0) (/ Cwnd 2)))
)
(when true
    (:= Cwnd 1000)
)
";

#[test]
fn extensions_run_in_libccp() {
    let compiled = ccp::lang::compile(PROGRAM, &[]).expect("compiles");
    let sent: Log = Arc::default();
    let dp = libccp::DatapathBuilder::default()
        .with_ops(Dp(sent.clone()))
        .with_id(7)
        .init()
        .expect("libccp init");
    let cwnds: Arc<Mutex<Vec<u32>>> = Arc::default();
    let mut conn = libccp::Connection::start(
        &dp,
        Cn(cwnds.clone()),
        libccp::FlowInfo::default().with_init_cwnd(10_000),
    )
    .expect("connection");
    // The CREATE message carries the flow's socket id.
    let create = sent.lock().unwrap().last().cloned().expect("CREATE sent");
    let sid = u32::from_le_bytes([create[4], create[5], create[6], create[7]]);

    let p = &compiled.program;
    let mut body = Vec::new();
    body.extend_from_slice(&5u32.to_le_bytes()); // program uid
    body.extend_from_slice(&(p.expressions.len() as u32).to_le_bytes());
    body.extend_from_slice(&(p.instrs.len() as u32).to_le_bytes());
    p.encode_body_into(&mut body);
    dp.recv_msg(&mut frame(2, 0, &body))
        .expect("libccp installs our program");
    let mut change = Vec::new();
    change.extend_from_slice(&5u32.to_le_bytes());
    change.extend_from_slice(&0u32.to_le_bytes());
    dp.recv_msg(&mut frame(4, sid, &change))
        .expect("libccp switches to it");

    let mut run = |acked: u32, lost: u32, cwnd: u32| -> u32 {
        let mut prims = libccp::Primitives::default();
        prims.0.bytes_acked = acked;
        prims.0.lost_pkts_sample = lost;
        prims.0.snd_cwnd = cwnd;
        conn.load_primitives(prims);
        conn.invoke().expect("invoke");
        *cwnds.lock().unwrap().last().expect("cwnd set")
    };
    // ewma with a zero register takes the new sample: smooth = 200.
    assert_eq!(run(200, 0, 5000), 5200);
    // (>= 100 100) holds; smooth = (5 * 200 + 5 * 100) / 10 = 150.
    assert_eq!(run(100, 0, 5000), 5150);
    // a loss: the `if` does not write, the `!if` halves.
    assert_eq!(run(300, 2, 5000), 2500);
    // (>= 99 100) fails: the second clause runs.
    assert_eq!(run(99, 0, 5000), 1000);
}
