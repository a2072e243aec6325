//! Measures, on real UDP loopback, the per-request costs the simulator's cost model
//! (`kvstore::cost::CostModel`) charges, and checks them end to end against the real server.
//!
//! Run: `cargo run --release -p kvstore --example loopback_costs`.
//!
//! Method (each figure is the median of 5 repetitions; wall-clock time, this is a
//! measurement of real software, not a simulation):
//! - socket send / receive: through `netrt`'s tokio UDP socket (the path the server uses),
//!   137-byte datagrams (5-byte data frame + 132-byte message), batches of 100 sent from one
//!   socket to another and then received (so a receive never waits), 300 batches;
//! - frame parse + bincode decode, encode + frame, FNV shard hash, `Store::apply` (get/put on
//!   12,000 records): tight loops of 200,000;
//! - hand-off: two tasks on the tokio runtime ping-ponging through `chunnel::queue::Queue`
//!   (per one-way hand-off);
//! - end to end: the real server (no modelled cost) on its own thread and runtime, a
//!   closed-loop client (32 outstanding) on the main thread, 1 s per mode, after a
//!   12,000-put load; the server thread's CPU time (`/proc/thread-self/schedstat`) per
//!   request served in the window is the real per-request cost of each path (all its task
//!   hops, wake-ups and syscalls included, other processes' load excluded).
//!
//! Derived (component sums): `dispatch = receive + parse/decode + hash + hand-off`,
//! `shard_receive = receive + parse/decode`, `service = map op + encode + send`. Calibrated
//! (what the cost model's defaults use): `service = map op + encode + send + hand-off`,
//! `shard_receive = CPU per pushed request - service`, `dispatch = CPU per server-sharded
//! request - service`.

use std::net::SocketAddr;
use std::time::Instant as Wall;

use chunnel::queue::Queue;
use chunnel::wire::{frame_data, parse, Frame};
use chunnels::raw_shard::{raw_shard_of, RawKeyed};
use chunnels::serialize::Format;
use chunnels::shard::shard_of;
use datapaths::tokio_rt::TokioRuntime;
use kvstore::msg::{key_of, value_of, Msg, Op};
use kvstore::store::Store;
use kvstore::{ClientMode, CostModel, KvClient, Server, ServerConfig};
use netrt::{DatagramSocket, Duration, Runtime};

const REPS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ns_per<F: FnMut(u64)>(n: u64, mut f: F) -> f64 {
    let t = Wall::now();
    for i in 0..n {
        f(i);
    }
    t.elapsed().as_nanos() as f64 / n as f64
}

fn sockets(rt: &TokioRuntime) -> (f64, f64) {
    rt.block_on(async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let a = rt.bind_udp(any).await.unwrap();
        let b = rt.bind_udp(any).await.unwrap();
        let to = b.local_addr().unwrap();
        let msg = Format::Bincode1
            .encode(&Msg::put(key_of(1), 1, value_of(1, 1)))
            .unwrap();
        let mut frame = Vec::new();
        frame_data(7, &msg, &mut frame);
        assert_eq!(frame.len(), 137);
        let mut buf = vec![0u8; 2048];
        let (mut send_ns, mut recv_ns, mut n) = (0u128, 0u128, 0u64);
        for _ in 0..300 {
            let t = Wall::now();
            for _ in 0..100 {
                a.send_to(&frame, &to).await.unwrap();
            }
            send_ns += t.elapsed().as_nanos();
            let t = Wall::now();
            for _ in 0..100 {
                b.recv_from(&mut buf).await.unwrap();
            }
            recv_ns += t.elapsed().as_nanos();
            n += 100;
        }
        (send_ns as f64 / n as f64, recv_ns as f64 / n as f64)
    })
}

fn handoff(rt: &TokioRuntime) -> f64 {
    rt.block_on(async {
        let (ping, pong): (Queue<u64>, Queue<u64>) = (Queue::new(), Queue::new());
        let (p2, q2) = (ping.clone(), pong.clone());
        let echo = rt.spawn(async move {
            while let Some(x) = p2.pop().await {
                q2.push(x);
            }
        });
        let n = 200_000u64;
        let t = Wall::now();
        for i in 0..n {
            ping.push(i);
            pong.pop().await;
        }
        let ns = t.elapsed().as_nanos() as f64 / (2 * n) as f64;
        ping.close();
        let _ = echo.await;
        ns
    })
}

/// A sharder forwarding by UDP, per request (ns): receive a request, find its shard, send it
/// on to the shard's socket; `(deserializing, raw offset)`. The deserializing sharder parses
/// the frame, decodes the message, hashes its key, re-encodes and re-frames it; the
/// raw-offset one parses the frame header, hashes the key's bytes at the negotiated format's
/// offset (`raw_shard_of`) and forwards the datagram as it came. 100 requests queued before
/// each timed batch (so a receive never waits), the two variants alternating, 300 batches
/// each; only the sharder's loop is timed.
fn forwarders(rt: &TokioRuntime) -> (f64, f64) {
    rt.block_on(async {
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let c = rt.bind_udp(any).await.unwrap();
        let s = rt.bind_udp(any).await.unwrap();
        let d = rt.bind_udp(any).await.unwrap();
        let (to_s, to_d) = (s.local_addr().unwrap(), d.local_addr().unwrap());
        let mut frames = Vec::new();
        for i in 0..100u64 {
            let m = Format::Bincode1
                .encode(&Msg::put(key_of(i), i, value_of(i, 1)))
                .unwrap();
            let mut f = Vec::new();
            frame_data(7, &m, &mut f);
            frames.push(f);
        }
        let (mut buf, mut out, mut sink) = (vec![0u8; 2048], Vec::new(), 0usize);
        let mut ns = [0u128; 2];
        for round in 0..600 {
            let raw = round % 2 == 1;
            for f in &frames {
                c.send_to(f, &to_s).await.unwrap();
            }
            let t = Wall::now();
            for _ in 0..100 {
                let (len, _) = s.recv_from(&mut buf).await.unwrap();
                let b = &buf[..len];
                if raw {
                    if let Ok(Frame::Data { payload, .. }) = parse(b) {
                        sink += raw_shard_of(Format::Bincode1, Msg::KEY, payload, 6).unwrap_or(0);
                    }
                    d.send_to(b, &to_d).await.unwrap();
                } else {
                    if let Ok(Frame::Data { epoch, payload }) = parse(b) {
                        let m: Msg = Format::Bincode1.decode(payload).unwrap();
                        sink += shard_of(&m.key, 6);
                        let e = Format::Bincode1.encode(&m).unwrap();
                        frame_data(epoch, &e, &mut out);
                    }
                    d.send_to(&out, &to_d).await.unwrap();
                }
            }
            ns[usize::from(raw)] += t.elapsed().as_nanos();
            for _ in 0..100 {
                d.recv_from(&mut buf).await.unwrap();
            }
        }
        std::hint::black_box(sink);
        (ns[0] as f64 / 30_000.0, ns[1] as f64 / 30_000.0)
    })
}

/// CPU time this thread has run, ns (Linux `/proc/thread-self/schedstat`).
fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Closed-loop client against the real server on its own thread; returns the throughput, the
/// median latency (µs) and the server thread's CPU time per request during the window (µs).
fn end_to_end(mode: ClientMode) -> (f64, f64, f64) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (mark_tx, mark_rx) = std::sync::mpsc::channel::<()>();
    let (cpu_tx, cpu_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = TokioRuntime::new().unwrap();
        rt.block_on(async {
            let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
            let cfg = ServerConfig {
                shards: 6,
                costs: CostModel::ZERO,
                ..ServerConfig::default()
            };
            let s = Server::start(&rt, &cfg, any, &[any; 6], None)
                .await
                .unwrap();
            tx.send((s.front(), s.shard_addrs().to_vec())).unwrap();
            let served = |s: &Server| s.report().per_shard.iter().sum::<u64>();
            // Marks from the client: window start, window end.
            let mut marks = Vec::new();
            while marks.len() < 2 {
                rt.sleep(Duration::from_millis(1)).await;
                if mark_rx.try_recv().is_ok() {
                    marks.push((thread_cpu_ns(), served(&s)));
                }
            }
            let cpu = (marks[1].0 - marks[0].0) as f64;
            let n = (marks[1].1 - marks[0].1).max(1) as f64;
            cpu_tx.send(cpu / n / 1000.0).unwrap();
            rt.sleep(Duration::from_secs(3600)).await;
        });
    });
    let (front, shards) = rx.recv().unwrap();
    let rt = TokioRuntime::new().unwrap();
    let (tput, p50) = rt.block_on(async {
        let c = KvClient::connect(&rt, mode, front, &shards).await.unwrap();
        for n in 0..12_000 {
            c.call(
                &rt,
                Msg::put(key_of(n), n, value_of(n, 0)),
                Duration::from_secs(1),
            )
            .await
            .unwrap();
        }
        let mut sent_at = std::collections::BTreeMap::new();
        let mut lat = Vec::new();
        let mut id = 1u64 << 32;
        for _ in 0..32 {
            sent_at.insert(id, Wall::now());
            c.send(Msg::get(key_of(id % 12_000), id)).await.unwrap();
            id += 1;
        }
        mark_tx.send(()).unwrap();
        let t = Wall::now();
        while t.elapsed().as_secs_f64() < 1.0 {
            let r = match rt.timeout(Duration::from_millis(100), c.recv()).await {
                Ok(r) => r.unwrap(),
                // A lost datagram: put one more in flight.
                Err(_) => Msg::get(key_of(0), 0),
            };
            if let Some(s) = sent_at.remove(&r.id) {
                lat.push(s.elapsed().as_nanos() as f64);
                assert_eq!(r.op(), Some(Op::Value));
            }
            sent_at.insert(id, Wall::now());
            c.send(Msg::get(key_of(id % 12_000), id)).await.unwrap();
            id += 1;
        }
        mark_tx.send(()).unwrap();
        let secs = t.elapsed().as_secs_f64();
        (lat.len() as f64 / secs, median(lat) / 1000.0)
    });
    (tput, p50, cpu_rx.recv().unwrap())
}

fn main() {
    let rt = TokioRuntime::new().unwrap();
    let msg = Msg::put(key_of(42), 9, value_of(42, 3));
    let bytes = Format::Bincode1.encode(&msg).unwrap();
    let mut frame = Vec::new();
    frame_data(1, &bytes, &mut frame);
    let store = Store::new(6);
    for n in 0..12_000 {
        let k = key_of(n);
        store.apply(shard_of(&k, 6), &Msg::put(k, n, value_of(n, 0)));
    }
    let (mut send, mut recv, mut dec, mut enc, mut hash, mut op, mut hand) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    let (mut fwd_de, mut fwd_raw, mut rawhash) = (vec![], vec![], vec![]);
    let mut sink = 0u64;
    for _ in 0..REPS {
        let (s, r) = sockets(&rt);
        send.push(s);
        recv.push(r);
        dec.push(ns_per(200_000, |_| {
            if let Ok(Frame::Data { payload, .. }) = parse(std::hint::black_box(&frame)) {
                let m: Msg = Format::Bincode1.decode(payload).unwrap();
                sink = sink.wrapping_add(m.id);
            }
        }));
        let mut out = Vec::new();
        enc.push(ns_per(200_000, |i| {
            let mut m = msg.clone();
            m.id = i;
            let b = Format::Bincode1.encode(std::hint::black_box(&m)).unwrap();
            frame_data(1, &b, &mut out);
            sink = sink.wrapping_add(out.len() as u64);
        }));
        hash.push(ns_per(200_000, |i| {
            sink = sink.wrapping_add(shard_of(&key_of(std::hint::black_box(i % 12_000)), 6) as u64);
        }));
        op.push(ns_per(200_000, |i| {
            let k = key_of(i % 12_000);
            let req = if i % 2 == 0 {
                Msg::get(k, i)
            } else {
                Msg::put(k, i, value_of(i, 1))
            };
            let r = store.apply(shard_of(&k, 6), std::hint::black_box(&req));
            sink = sink.wrapping_add(r.id);
        }));
        hand.push(handoff(&rt));
        let (de, raw) = forwarders(&rt);
        fwd_de.push(de);
        fwd_raw.push(raw);
        rawhash.push(ns_per(200_000, |i| {
            let b = std::hint::black_box(&bytes);
            sink = sink.wrapping_add(
                raw_shard_of(Format::Bincode1, Msg::KEY, b, 6 + (i as usize & 1)).unwrap_or(0)
                    as u64,
            );
        }));
    }
    let us = |v: Vec<f64>| median(v) / 1000.0;
    let (send, recv, dec, enc, hash, op, hand) = (
        us(send),
        us(recv),
        us(dec),
        us(enc),
        us(hash),
        us(op),
        us(hand),
    );
    println!("per-operation costs on this machine (median of {REPS}), µs:");
    println!("  socket send (137 B)            {send:.3}");
    println!("  socket receive (137 B)         {recv:.3}");
    println!("  frame parse + bincode decode   {dec:.3}");
    println!("  bincode encode + frame         {enc:.3}");
    println!("  FNV shard hash                 {hash:.3}");
    println!("  Store::apply (12,000 records)  {op:.3}");
    println!("  task hand-off (Queue)          {hand:.3}");
    let (fwd_de, fwd_raw, rawhash) = (us(fwd_de), us(fwd_raw), us(rawhash));
    println!("  raw-offset shard hash          {rawhash:.3}");
    println!("UDP-forwarding sharder loop per request (receive, route, send on), µs:");
    println!("  deserializing (decode, hash, encode) {fwd_de:.3}");
    println!("  raw offset (hash the key's bytes)    {fwd_raw:.3}");
    println!(
        "  raw-offset dispatch = UDP-forwarding dispatch - difference = {:.3} - {:.3} = {:.3}",
        CostModel::MEASURED_UDP_FORWARD.dispatch.as_nanos() as f64 / 1e3,
        fwd_de - fwd_raw,
        CostModel::MEASURED_UDP_FORWARD.dispatch.as_nanos() as f64 / 1e3 - (fwd_de - fwd_raw)
    );
    println!("derived cost model, µs:");
    println!(
        "  dispatch      = recv + decode + hash + hand-off = {:.3}",
        recv + dec + hash + hand
    );
    println!(
        "  shard_receive = recv + decode                   = {:.3}",
        recv + dec
    );
    println!(
        "  service       = op + encode + send              = {:.3}",
        op + enc + send
    );
    let mut cpu = Vec::new();
    for mode in [ClientMode::Push, ClientMode::Plain] {
        let (tput, p50, per_req) = end_to_end(mode);
        println!(
            "end to end, {mode:?}: {tput:.0} req/s closed loop (32 outstanding), median {p50:.1} µs, \
             server thread CPU {per_req:.2} µs/request"
        );
        cpu.push(per_req);
    }
    // Calibration: the shards' own work (`service`) from the component costs plus the reply's
    // task hop; the rest of each path's measured server CPU per request is what that path
    // adds before the shard: `shard_receive` (push) and `dispatch` (server sharding).
    let service = op + enc + send + hand;
    println!("calibrated from the server's CPU per request, µs:");
    println!("  service       = op + encode + send + hand-off   = {service:.3}");
    println!(
        "  shard_receive = push CPU - service             = {:.3}",
        cpu[0] - service
    );
    println!(
        "  dispatch      = server-sharding CPU - service  = {:.3}",
        cpu[1] - service
    );
    std::hint::black_box(sink);
}
