//! Issue 12's per-message overhead, measured paired: a negotiated empty stack (`stack![]`
//! over `DataConn`) against the raw socket it runs on, 64-byte round trips to an echo server,
//! on UDP, Unix datagram and loopback-TCP datagram sockets (`TokioRuntime`, one thread).
//!
//! The criterion numbers of `noop_stack` time each variant in its own few seconds, so on a
//! shared machine the drift between those seconds is as large as the difference sought. Here
//! the two variants alternate every 50 round trips (which goes first alternates too), inside
//! blocks of 1,000 round trips per variant; each block gives one ratio noop ÷ raw and one
//! difference, and the table reports their medians and quartiles over 41 blocks.
//!
//! `cargo bench -p chunnels --bench noop_paired [udp|unix|tcp]` prints a Markdown table.
//!
//! For instruction counts, the binary given `count BACKEND raw|noop N` runs only `N` round
//! trips of one variant after the same setup; run it under `valgrind --tool=callgrind` for two
//! values of `N` and divide the difference in instructions by the difference in `N` to get
//! the instructions per round trip (client and echo server together, user space only).

mod common;

use std::rc::Rc;
use std::time::{Duration, Instant};

use chunnel::negotiate::connect;
use chunnel::{stack, ChunnelConnection, NegotiateConfig, Registry};
use common::{noop_echo, raw_echo, tcp, udp, unix};
use datapaths::tokio_rt::TokioRuntime;
use netrt::DatagramSocket;

const PAYLOAD: usize = 64;
const BLOCKS: usize = 41;
const SUBS: usize = 20;
const PER_SUB: usize = 50;
const WARM_UP: usize = 2_000;

/// One backend's result: per-block raw and noop round-trip times (µs), ratios and differences.
struct Row {
    name: &'static str,
    raw_us: Vec<f64>,
    noop_us: Vec<f64>,
    ratio: Vec<f64>,
    diff_ns: Vec<f64>,
}

fn quartiles(v: &[f64]) -> (f64, f64, f64) {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    (at(0.25), at(0.5), at(0.75))
}

/// What to do once both variants are set up.
enum Mode {
    /// The paired measurement, reported under this backend name.
    Measure(&'static str),
    /// `n` round trips of one variant only (the no-op stack if `noop`), for instruction counts.
    Count { noop: bool, n: usize },
}

/// Sets up an echo server and a client for each variant (the raw socket, and a negotiated
/// empty stack over the same kind of socket), then runs `mode`; a row for `Mode::Measure`.
fn run<S, B>(bind: B, mode: Mode) -> Option<Row>
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
    B: Fn(&TokioRuntime) -> S,
{
    let rt = TokioRuntime::new().expect("tokio");
    let payload = vec![7u8; PAYLOAD];

    let raw_server = Rc::new(bind(&rt));
    let raw_addr = raw_server.local_addr().expect("addr");
    raw_echo(&rt, raw_server);
    let raw = bind(&rt);

    let noop_server = Rc::new(bind(&rt));
    let noop_addr = noop_server.local_addr().expect("addr");
    noop_echo(&rt, noop_server);
    let (conn, _) = rt
        .block_on(connect(
            &rt,
            Rc::new(bind(&rt)),
            noop_addr.clone(),
            stack![],
            &Registry::new(),
            &NegotiateConfig::default(),
        ))
        .expect("negotiate");

    rt.block_on(async {
        let mut buf = vec![0u8; 65_536];
        let name = match mode {
            Mode::Count { noop, n } => {
                raw_rts(&raw, &raw_addr, &payload, &mut buf, 10).await;
                noop_rts(&conn, &noop_addr, &payload, 10).await;
                let t = if noop {
                    noop_rts(&conn, &noop_addr, &payload, n).await
                } else {
                    raw_rts(&raw, &raw_addr, &payload, &mut buf, n).await
                };
                println!(
                    "{n} round trips: {:.2} µs each",
                    t.as_secs_f64() * 1e6 / n as f64
                );
                return None;
            }
            Mode::Measure(name) => name,
        };
        raw_rts(&raw, &raw_addr, &payload, &mut buf, WARM_UP).await;
        noop_rts(&conn, &noop_addr, &payload, WARM_UP).await;
        let mut row = Row {
            name,
            raw_us: Vec::new(),
            noop_us: Vec::new(),
            ratio: Vec::new(),
            diff_ns: Vec::new(),
        };
        for b in 0..BLOCKS {
            let (mut r, mut n) = (Duration::ZERO, Duration::ZERO);
            for s in 0..SUBS {
                if (b + s) % 2 == 0 {
                    r += raw_rts(&raw, &raw_addr, &payload, &mut buf, PER_SUB).await;
                    n += noop_rts(&conn, &noop_addr, &payload, PER_SUB).await;
                } else {
                    n += noop_rts(&conn, &noop_addr, &payload, PER_SUB).await;
                    r += raw_rts(&raw, &raw_addr, &payload, &mut buf, PER_SUB).await;
                }
            }
            let per = (SUBS * PER_SUB) as f64;
            let (r, n) = (r.as_secs_f64() / per, n.as_secs_f64() / per);
            row.raw_us.push(r * 1e6);
            row.noop_us.push(n * 1e6);
            row.ratio.push(n / r);
            row.diff_ns.push((n - r) * 1e9);
        }
        Some(row)
    })
}

/// `n` raw round trips; their total time.
async fn raw_rts<S: DatagramSocket>(
    sock: &S,
    to: &S::Addr,
    payload: &[u8],
    buf: &mut [u8],
    n: usize,
) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        sock.send_to(payload, to).await.expect("send");
        let (got, _) = sock.recv_from(buf).await.expect("recv");
        assert_eq!(got, PAYLOAD);
    }
    t.elapsed()
}

/// `n` round trips over the negotiated empty stack; their total time. The payload is copied
/// into a new `Vec` per message, as an application handing owned data to a stack does.
async fn noop_rts<C, A>(conn: &C, to: &A, payload: &[u8], n: usize) -> Duration
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Clone,
{
    let t = Instant::now();
    for _ in 0..n {
        conn.send((to.clone(), payload.to_vec()))
            .await
            .expect("send");
        let (_, got) = conn.recv().await.expect("recv");
        assert_eq!(got.len(), PAYLOAD);
    }
    t.elapsed()
}

fn main() {
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if only.first().map(String::as_str) == Some("count") {
        let noop = only.get(2).map(String::as_str) == Some("noop");
        let n = only.get(3).and_then(|n| n.parse().ok()).unwrap_or(10_000);
        let mode = Mode::Count { noop, n };
        match only.get(1).map(String::as_str) {
            Some("unix") => run(unix, mode),
            Some("tcp") => run(tcp, mode),
            _ => run(udp, mode),
        };
        return;
    }
    let want = |n: &str| only.is_empty() || only.iter().any(|o| n.contains(o.as_str()));
    let mut rows = Vec::new();
    if want("udp") {
        rows.extend(run(udp, Mode::Measure("udp")));
    }
    if want("unix") {
        rows.extend(run(unix, Mode::Measure("unix")));
    }
    if want("tcp") {
        rows.extend(run(tcp, Mode::Measure("tcp")));
    }
    println!(
        "{BLOCKS} blocks of {} round trips per variant, alternating every {PER_SUB}; \
         medians over blocks [quartiles]\n",
        SUBS * PER_SUB
    );
    println!("| backend | raw µs | no-op stack µs | overhead ns | no-op ÷ raw |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        let (_, raw, _) = quartiles(&r.raw_us);
        let (_, noop, _) = quartiles(&r.noop_us);
        let (d1, d, d3) = quartiles(&r.diff_ns);
        let (q1, q, q3) = quartiles(&r.ratio);
        println!(
            "| {} | {raw:.2} | {noop:.2} | {d:.0} [{d1:.0}, {d3:.0}] | {q:.3} [{q1:.3}, {q3:.3}] |",
            r.name
        );
    }
}
