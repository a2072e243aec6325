//! One invocation of a Reno reporting program: our runtime vs libccp 1.2's `ccp_invoke`,
//! side by side in one run.
//!
//! libccp is measured twice: `libccp-c` calls its C `ccp_invoke` directly (the same harness as
//! the differential test: a microsecond clock read from a thread-local, primitives written in
//! place), and `libccp-crate` goes through the `libccp` crate's wrapper (`load_primitives` +
//! `invoke`: two mutex locks and wall-clock reads per call), as a Rust datapath would.
//!
//! The program is the built-in Reno program (per-ACK accumulation, a report when `Micros`
//! exceeds the RTT sample, then `Micros := 0`), so most invocations do not report and one in
//! every ~10,000 does, as on a real ACK clock.
//!
//! The crate's wrapper mallocs its connection table without zeroing it; the bench zeroes it
//! (`runtime_ffi::zero_crate_table`) before the flow starts, so the flow always gets socket 1
//! and a clean slot.

use ccp::agent::builtin::reno_program;
use ccp::datapath::{Config, Datapath, FlowInfo, Primitives};
use ccp::wire::{ChangeProg, InstallExpr, Msg};
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use netrt::{Duration, Instant};

#[path = "../tests/it/runtime_ffi.rs"]
mod runtime_ffi;

fn messages() -> (Vec<u8>, impl Fn(u32) -> Vec<u8>) {
    let install = Msg::InstallExpr(InstallExpr {
        sid: 0,
        program_uid: 1,
        program: reno_program().program,
    })
    .encode()
    .unwrap();
    let change = |sid| {
        Msg::ChangeProg(ChangeProg {
            sid,
            program_uid: 1,
            updates: vec![],
        })
        .encode()
        .unwrap()
    };
    (install, change)
}

fn ours(c: &mut Criterion) {
    let (install, change) = messages();
    let mut dp = Datapath::new(Config::default(), Instant::ZERO);
    let sid = dp.open_flow(Instant::ZERO, FlowInfo::default()).unwrap();
    dp.handle_bytes(Instant::ZERO, &install).unwrap();
    dp.handle_bytes(Instant::ZERO, &change(sid)).unwrap();
    let mut now = Instant::from_micros(1);
    let mut p = Primitives {
        bytes_acked: 1460,
        packets_acked: 1,
        rtt_sample: Duration::from_micros(10_000),
        snd_cwnd: 14_600,
        ..Default::default()
    };
    c.bench_function("invoke/reno/ours", |b| {
        b.iter(|| {
            now += Duration::from_micros(1);
            p.snd_cwnd = p.snd_cwnd.wrapping_add(1) | 1;
            let inv = dp.invoke(now, sid, black_box(&p));
            if inv.reported {
                while dp.poll_transmit().is_some() {}
            }
            black_box(inv.cwnd)
        })
    });
}

/// Keeps the first messages (READY, CREATE) to learn libccp's socket id; drops the rest.
struct Capture(std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>);
impl libccp::DatapathOps for Capture {
    fn send_msg(&mut self, msg: &[u8]) {
        if let Ok(mut v) = self.0.lock() {
            if v.len() < 2 {
                v.push(msg.to_vec());
            }
        }
        black_box(msg);
    }
}
struct Cn(u32);
impl libccp::CongestionOps for Cn {
    fn set_cwnd(&mut self, c: u32) {
        self.0 = c;
    }
    fn set_rate_abs(&mut self, _: u32) {}
}

fn libccp(c: &mut Criterion) {
    let (mut install, change) = messages();
    let sent = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let dp = libccp::DatapathBuilder::default()
        .with_ops(Capture(sent.clone()))
        .init()
        .unwrap();
    runtime_ffi::zero_crate_table(&dp);
    let mut conn = libccp::Connection::start(&dp, Cn(0), libccp::FlowInfo::default()).unwrap();
    dp.recv_msg(&mut install).unwrap();
    // The socket id, from the CREATE (1: the table was zeroed).
    let sid = sent
        .lock()
        .unwrap()
        .iter()
        .find_map(|b| match Msg::decode(b) {
            Ok((Msg::Create(c), _)) => Some(c.sid),
            _ => None,
        })
        .unwrap();
    assert_eq!(sid, 1);
    dp.recv_msg(&mut change(sid)).unwrap();
    let mut cwnd = 14_600u32;
    c.bench_function("invoke/reno/libccp-crate", |b| {
        b.iter(|| {
            cwnd = cwnd.wrapping_add(1) | 1;
            conn.load_primitives(
                libccp::Primitives::default()
                    .with_bytes_acked(1460)
                    .with_packets_acked(1)
                    .with_rtt_sample_us(10_000)
                    .with_snd_cwnd(black_box(cwnd)),
            );
            let r = conn.invoke();
            black_box(r.is_ok())
        })
    });
}

fn libccp_c(c: &mut Criterion) {
    let (install, change) = messages();
    runtime_ffi::NOW_US.with(|t| t.set(1));
    let mut lib = runtime_ffi::Libccp::new();
    assert!(lib.recv(&install) >= 0);
    let sid = lib.sid();
    assert!(lib.recv(&change(sid)) >= 0);
    let mut p = Primitives {
        bytes_acked: 1460,
        packets_acked: 1,
        rtt_sample: Duration::from_micros(10_000),
        snd_cwnd: 14_600,
        ..Default::default()
    };
    let mut now = 1u64;
    c.bench_function("invoke/reno/libccp-c", |b| {
        b.iter(|| {
            now += 1;
            runtime_ffi::NOW_US.with(|t| t.set(now));
            p.snd_cwnd = p.snd_cwnd.wrapping_add(1) | 1;
            let r = lib.invoke(black_box(&p));
            if !lib.seen.msgs.is_empty() {
                lib.seen.msgs.clear();
            }
            black_box((r, lib.seen.cwnd))
        })
    });
}

criterion_group!(benches, libccp, libccp_c, ours);
criterion_main!(benches);
