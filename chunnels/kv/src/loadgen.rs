//! Driving clients: the YCSB load phase (closed loop) and the open-loop measured phase
//! (Poisson arrivals per connection, latency from the *scheduled* send instant, so a
//! saturated server shows its queueing instead of slowing the generator down).
//!
//! Generic over the runtime: the same generator runs on the simulator and on real sockets;
//! and over the connection ([`RequestConn`]): a negotiated [`KvClient`](crate::KvClient) or the
//! portability experiment's un-negotiated and hand-inlined clients ([`crate::portability`]).
//!
//! On real sockets timers are coarse (tokio's are 1 ms): a request is sent when its timer
//! fires, so requests due within one tick leave together. [`LoadResult::latency`] counts from
//! the scheduled instant (the open-loop convention: the timer's lateness is included);
//! [`LoadResult::latency_from_send`] from the instant the send call began, and
//! [`LoadResult::send_lag`] is the difference. On the simulator the two latencies are equal.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use netrt::{Duration, Instant, Runtime};

use crate::msg::{key_of, value_of, Msg, Op, VALUE_LEN};
use crate::ycsb::{KeyDist, OpStream, Poisson, Workload};
use crate::KvError;

/// A connection the load generator sends requests over and reads replies from (a request
/// and its reply carry the same id). Sends and receives may run concurrently from two tasks.
#[allow(async_fn_in_trait)]
pub trait RequestConn {
    /// Sends one request.
    async fn send_request(&self, req: Msg) -> Result<(), KvError>;
    /// Waits for one reply.
    async fn recv_reply(&self) -> Result<Msg, KvError>;
}

impl<C: RequestConn + ?Sized> RequestConn for Rc<C> {
    async fn send_request(&self, req: Msg) -> Result<(), KvError> {
        (**self).send_request(req).await
    }

    async fn recv_reply(&self) -> Result<Msg, KvError> {
        (**self).recv_reply().await
    }
}

/// Latency percentiles (nearest rank), ns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Latency {
    /// Requests measured.
    pub count: u64,
    /// 5th percentile.
    pub p5: u64,
    /// 25th percentile.
    pub p25: u64,
    /// Median.
    pub p50: u64,
    /// 75th percentile.
    pub p75: u64,
    /// 95th percentile.
    pub p95: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Largest.
    pub max: u64,
    /// Mean (rounded down).
    pub mean: u64,
}

impl Latency {
    /// The summary of `samples` (ns; sorted here).
    pub fn of(samples: &mut [u64]) -> Latency {
        if samples.is_empty() {
            return Latency::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let pct = |p: f64| {
            let rank = ((p / 100.0) * n as f64).ceil() as usize;
            samples[rank.clamp(1, n) - 1]
        };
        let sum: u128 = samples.iter().map(|&x| u128::from(x)).sum();
        Latency {
            count: n as u64,
            p5: pct(5.0),
            p25: pct(25.0),
            p50: pct(50.0),
            p75: pct(75.0),
            p95: pct(95.0),
            p99: pct(99.0),
            max: samples[n - 1],
            mean: (sum / n as u128) as u64,
        }
    }
}

/// The open-loop phase's parameters.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OpenLoop {
    /// YCSB workload.
    pub workload: Workload,
    /// Key distribution.
    pub keys: KeyDist,
    /// Records (keys `0..records`).
    pub records: u64,
    /// Offered load over all connections, requests/s.
    pub offered: f64,
    /// How long requests are sent.
    pub duration: Duration,
    /// How long replies are still awaited after the last send.
    pub drain: Duration,
    /// Seed of every random stream (connection `i` uses `seed + i`-derived streams).
    pub seed: u64,
}

/// What the open-loop phase measured.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoadResult {
    /// Offered load, requests/s.
    pub offered: f64,
    /// Replies received during the sending window per second of it.
    pub achieved: f64,
    /// Requests sent.
    pub sent: u64,
    /// Requests answered (by the end of the drain).
    pub completed: u64,
    /// Requests never answered.
    pub unanswered: u64,
    /// Replies to requests already answered or never sent.
    pub duplicates: u64,
    /// Gets answered not-found.
    pub misses: u64,
    /// Replies of the wrong kind or malformed (bad op, value of the wrong length).
    pub bad_replies: u64,
    /// Sends that failed.
    pub send_errors: u64,
    /// Latency of the answered requests, from the instant each was scheduled.
    pub latency: Latency,
    /// Latency of the answered requests, from the instant each send call began.
    pub latency_from_send: Latency,
    /// How late each send call began after its scheduled instant.
    pub send_lag: Latency,
    /// Latency of the answered requests per connection, in the order of the clients given.
    pub per_connection: Vec<Latency>,
}

#[derive(Default)]
struct Recorder {
    outstanding: BTreeMap<u64, (Instant, Instant, Op)>,
    latencies: Vec<u64>,
    from_send: Vec<u64>,
    lags: Vec<u64>,
    per_connection: BTreeMap<u64, Vec<u64>>,
    in_window: u64,
    sent: u64,
    duplicates: u64,
    misses: u64,
    bad: u64,
    send_errors: u64,
}

impl Recorder {
    fn reply(&mut self, r: &Msg, now: Instant, end: Instant) {
        let Some((t0, sent, op)) = self.outstanding.remove(&r.id) else {
            self.duplicates += 1;
            return;
        };
        let ns = now.saturating_since(t0).as_nanos();
        self.latencies.push(ns);
        self.from_send.push(now.saturating_since(sent).as_nanos());
        self.lags.push(sent.saturating_since(t0).as_nanos());
        self.per_connection.entry(r.id >> 40).or_default().push(ns);
        if now <= end {
            self.in_window += 1;
        }
        match (op, r.op()) {
            (Op::Get, Some(Op::Value)) if r.value.len() == VALUE_LEN => {}
            (Op::Get, Some(Op::NotFound)) => self.misses += 1,
            (Op::Put, Some(Op::Stored)) => {}
            _ => self.bad += 1,
        }
    }
}

/// Puts records `0..records` through `client`, `window` requests outstanding; each value is
/// [`value_of`]`(n, 0)`. Fails if a reply does not come within `timeout` of the last one.
pub async fn load_phase<R, C>(
    rt: &R,
    client: &C,
    records: u64,
    window: usize,
    timeout: Duration,
) -> Result<(), KvError>
where
    R: Runtime,
    C: RequestConn,
{
    const LOAD_ID: u64 = 1 << 63;
    let mut next = 0u64;
    let mut pending = 0usize;
    let mut done = 0u64;
    while done < records {
        while pending < window.max(1) && next < records {
            let m = Msg::put(key_of(next), LOAD_ID | next, value_of(next, 0));
            client.send_request(m).await?;
            next += 1;
            pending += 1;
        }
        let r = rt
            .timeout(timeout, client.recv_reply())
            .await
            .map_err(|_| KvError::Timeout(LOAD_ID | done))??;
        if r.id & LOAD_ID != 0 && r.op() == Some(Op::Stored) {
            pending = pending.saturating_sub(1);
            done += 1;
        }
    }
    Ok(())
}

/// Runs the open-loop phase over `clients` (each an independent Poisson source at
/// `offered / clients.len()`), then waits `drain` for late replies.
pub async fn open_loop<R, C>(rt: &R, clients: &[Rc<C>], spec: &OpenLoop) -> LoadResult
where
    R: Runtime,
    C: RequestConn + 'static,
{
    let rec = Rc::new(RefCell::new(Recorder::default()));
    let n = clients.len().max(1);
    let rate = spec.offered / n as f64;
    let start = rt.now();
    let end = start.checked_add(spec.duration).unwrap_or(Instant::MAX);
    let mut senders = Vec::new();
    let mut receivers = Vec::new();
    for (ci, c) in clients.iter().enumerate() {
        let seed = spec
            .seed
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(ci as u64);
        let mut ops = OpStream::new(spec.workload, spec.keys, spec.records, seed);
        let mut gaps = Poisson::new(rate, seed ^ 0x5555_5555_5555_5555);
        let (c1, r1, rt1) = (c.clone(), rec.clone(), rt.clone());
        senders.push(rt.spawn(async move {
            let mut t = start;
            let mut seq = 0u64;
            loop {
                t = t
                    .checked_add(Duration::from_nanos(gaps.next_gap_ns()))
                    .unwrap_or(Instant::MAX);
                if t >= end {
                    break;
                }
                rt1.sleep_until(t).await;
                let (op, n) = ops.next_op();
                let id = ((ci as u64) << 40) | seq;
                seq += 1;
                let m = match op {
                    Op::Put => Msg::put(key_of(n), id, value_of(n, id)),
                    _ => Msg::get(key_of(n), id),
                };
                {
                    let now = rt1.now();
                    let mut r = r1.borrow_mut();
                    r.outstanding.insert(id, (t, now, op));
                    r.sent += 1;
                }
                if c1.send_request(m).await.is_err() {
                    let mut r = r1.borrow_mut();
                    r.send_errors += 1;
                    r.outstanding.remove(&id);
                }
            }
        }));
        let (c2, r2, rt2) = (c.clone(), rec.clone(), rt.clone());
        receivers.push(rt.spawn(async move {
            while let Ok(m) = c2.recv_reply().await {
                let now = rt2.now();
                r2.borrow_mut().reply(&m, now, end);
            }
        }));
    }
    for s in senders {
        let _ = s.await;
    }
    rt.sleep_until(end.checked_add(spec.drain).unwrap_or(Instant::MAX))
        .await;
    for r in &receivers {
        r.abort();
    }
    let mut r = rec.borrow_mut();
    let secs = spec.duration.as_secs_f64();
    let latency = Latency::of(&mut r.latencies);
    let latency_from_send = Latency::of(&mut r.from_send);
    let send_lag = Latency::of(&mut r.lags);
    let per_connection = (0..clients.len() as u64)
        .map(|ci| {
            Latency::of(
                r.per_connection
                    .get_mut(&ci)
                    .map_or(&mut [][..], |v| &mut v[..]),
            )
        })
        .collect();
    LoadResult {
        offered: spec.offered,
        achieved: if secs > 0.0 {
            r.in_window as f64 / secs
        } else {
            0.0
        },
        sent: r.sent,
        completed: latency.count,
        unanswered: r.outstanding.len() as u64,
        duplicates: r.duplicates,
        misses: r.misses,
        bad_replies: r.bad,
        send_errors: r.send_errors,
        latency,
        latency_from_send,
        send_lag,
        per_connection,
    }
}
