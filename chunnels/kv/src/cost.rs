//! The server's cost model: per-request work as virtual time, so the simulator shows the
//! queueing the paper measures (a single server-side dispatcher saturating, which client push
//! avoids).
//!
//! The server is a set of FIFO stages ([`Stage`]), each one worker that takes one job at a
//! time and spends its cost (`rt.sleep`) before doing it:
//! - the *dispatcher* (one per server): every request that arrives at the front address
//!   under server sharding pays [`CostModel::dispatch`] there (socket receive, decode, hash,
//!   hand-off to the shard's thread), then goes to its shard;
//! - a *shard* (one per shard): every request pays [`CostModel::service`] (map operation,
//!   encode, reply send); a request that reached the shard's own socket (client push, switch
//!   steering) also pays [`CostModel::shard_receive`] there (socket receive and decode, which
//!   the dispatcher did otherwise).
//!
//! On real sockets the costs are the real ones: use [`CostModel::ZERO`] (no sleep at all).

use std::cell::Cell;
use std::rc::Rc;

use chunnel::queue::Queue;
use netrt::{Duration, JoinHandle, Runtime};

/// Per-request costs of the server's stages.
///
/// Defaults ([`CostModel::MEASURED_LOOPBACK`]) are our own measurement on real UDP loopback:
/// `cargo run --release -p kvstore --example loopback_costs` (method in the example's doc),
/// on the 2-core development VM (Linux, tokio current-thread runtime, bincode/1, 132-byte
/// messages, 6 shards, other builds running: load average 3-5), three runs:
///
/// | component (µs) | run 1 | run 2 | run 3 |
/// | --- | --- | --- | --- |
/// | socket send, 137 B | 6.25 | 6.25 | 6.45 |
/// | socket receive | 1.45 | 1.49 | 1.51 |
/// | frame parse + decode | 0.32 | 0.35 | 0.38 |
/// | encode + frame | 0.20 | 0.24 | 0.28 |
/// | map op (12,000 records) | 0.52 | 0.59 | 0.55 |
/// | task hand-off | 0.40 | 0.41 | 0.40 |
/// | server CPU per pushed request | 9.03 | 8.63 | 9.10 |
/// | server CPU per server-sharded request | 8.58 | 9.07 | 9.63 |
///
/// Calibration: `service` = map op + encode + send + hand-off (the shard's own work, median
/// 7.5 µs); `shard_receive` = CPU per pushed request − service (median 1.4 µs);
/// `dispatch` = CPU per server-sharded request − service (median 1.6 µs; the component sum
/// receive + decode + hash + hand-off gave 2.2-2.3 µs). Sending dominates: a loopback
/// `sendto` runs the receiver's side of the stack too.
///
/// What follows for the simulation: one dispatcher takes 1 / 1.6 µs ≈ 625 k req/s; pushed
/// requests cost a shard 8.9 µs, so `n` shards serve ≈ 112 k·n req/s (674 k at 6 shards,
/// uniform keys). Our in-process sharder (like the thesis' local one, a channel hand-off)
/// is cheap next to the send every reply needs, so at 6 shards client push gains only
/// ~8 % capacity; the gain grows linearly with shards. The thesis' sharder saturated at
/// 50-75 kOps/s (13-20 µs per request) on its hardware; a sharder that forwards by UDP
/// (remote shards, thesis Fig 3.10) pays encode + send more: [`CostModel::MEASURED_UDP_FORWARD`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CostModel {
    /// Per request at the server-sharding front (one dispatcher for the whole server).
    pub dispatch: Duration,
    /// Per request at a shard that received it on its own socket (client push, steering).
    pub shard_receive: Duration,
    /// Per request at its shard, every path.
    pub service: Duration,
}

impl CostModel {
    /// No modelled cost (real sockets: the cost is real).
    pub const ZERO: CostModel = CostModel {
        dispatch: Duration::ZERO,
        shard_receive: Duration::ZERO,
        service: Duration::ZERO,
    };

    /// Our loopback measurement (see the type's documentation).
    pub const MEASURED_LOOPBACK: CostModel = CostModel {
        dispatch: Duration::from_nanos(1_600),
        shard_receive: Duration::from_nanos(1_400),
        service: Duration::from_nanos(7_500),
    };

    /// As [`CostModel::MEASURED_LOOPBACK`], with a sharder that forwards each request to its
    /// shard by UDP (remote shards): `dispatch` also pays the measured encode (0.24 µs) and
    /// send (6.25 µs), 8.1 µs in all.
    pub const MEASURED_UDP_FORWARD: CostModel = CostModel {
        dispatch: Duration::from_nanos(8_100),
        shard_receive: Duration::from_nanos(1_400),
        service: Duration::from_nanos(7_500),
    };

    /// As [`CostModel::MEASURED_UDP_FORWARD`], with the raw-offset sharder
    /// ([`crate::server::HostSharder::RawOffset`]): the sharder hashes the key's bytes in
    /// the datagram and forwards it as it came, skipping decode, re-encode and re-frame; the
    /// shard decodes instead.
    ///
    /// Measured with `examples/loopback_costs` ("UDP-forwarding sharder loop": receive,
    /// route, send on to the shard's socket; only the sharder's loop timed), on the same
    /// 2-core VM, three runs, µs per request:
    ///
    /// | sharder loop | run 1 | run 2 | run 3 |
    /// | --- | --- | --- | --- |
    /// | deserializing (parse, decode, hash, encode, frame, send) | 5.70 | 4.92 | 5.84 |
    /// | raw offset (parse header, hash key bytes, send as received) | 5.33 | 4.52 | 5.30 |
    /// | raw / deserializing | 0.936 | 0.920 | 0.909 |
    ///
    /// These runs found the machine less loaded than the calibration runs of
    /// [`CostModel::MEASURED_LOOPBACK`] (socket send 4.0 vs 6.25 µs), so the ratio, not the
    /// absolute difference, carries over: `dispatch` = 8.1 µs × 0.92 (median) = 7.45 µs
    /// (the absolute differences, 0.37-0.53 µs, give 7.57-7.73 µs). `service` adds the
    /// calibration's frame parse + decode (0.35 µs), which the shard's handle now does:
    /// 7.85 µs. The sharder's saving is small because the forwarding send dominates.
    pub const MEASURED_RAW_UDP_FORWARD: CostModel = CostModel {
        dispatch: Duration::from_nanos(7_450),
        shard_receive: Duration::from_nanos(1_400),
        service: Duration::from_nanos(7_850),
    };

    /// Requests per second one dispatcher can take.
    pub fn dispatcher_capacity(&self) -> f64 {
        per_sec(self.dispatch)
    }

    /// Requests per second `shards` shards serve when clients push (receive + service each).
    pub fn push_capacity(&self, shards: usize) -> f64 {
        per_sec(
            self.shard_receive
                .checked_add(self.service)
                .unwrap_or(Duration::MAX),
        ) * shards as f64
    }

    /// Requests per second a server-sharded server serves: the dispatcher or the shards,
    /// whichever saturates first.
    pub fn server_capacity(&self, shards: usize) -> f64 {
        self.dispatcher_capacity()
            .min(per_sec(self.service) * shards as f64)
    }
}

impl Default for CostModel {
    fn default() -> Self {
        CostModel::MEASURED_LOOPBACK
    }
}

fn per_sec(d: Duration) -> f64 {
    if d.is_zero() {
        f64::INFINITY
    } else {
        1.0 / d.as_secs_f64()
    }
}

/// A FIFO stage: one worker that takes a job, spends its cost in (virtual) time, then runs
/// it. Dropping the stage stops the worker.
pub struct Stage<J> {
    queue: Queue<(Duration, J)>,
    busy: Rc<Cell<Duration>>,
    served: Rc<Cell<u64>>,
    worker: JoinHandle<()>,
}

impl<J: 'static> Stage<J> {
    /// Starts the worker on `rt`; `run` does a job once its cost is spent.
    pub fn start<R: Runtime>(rt: &R, run: impl Fn(J) + 'static) -> Self {
        let queue: Queue<(Duration, J)> = Queue::new();
        let busy = Rc::new(Cell::new(Duration::ZERO));
        let served = Rc::new(Cell::new(0));
        let (q, b, s, rt2) = (queue.clone(), busy.clone(), served.clone(), rt.clone());
        let worker = rt.spawn(async move {
            while let Some((cost, job)) = q.pop().await {
                if !cost.is_zero() {
                    rt2.sleep(cost).await;
                    b.set(b.get().checked_add(cost).unwrap_or(Duration::MAX));
                }
                s.set(s.get() + 1);
                run(job);
            }
        });
        Stage {
            queue,
            busy,
            served,
            worker,
        }
    }

    /// Queues `job`, to cost `cost` when its turn comes.
    pub fn push(&self, cost: Duration, job: J) {
        self.queue.push((cost, job));
    }

    /// Jobs waiting.
    pub fn backlog(&self) -> usize {
        self.queue.len()
    }

    /// Jobs done.
    pub fn served(&self) -> u64 {
        self.served.get()
    }

    /// Modelled time spent working.
    pub fn busy(&self) -> Duration {
        self.busy.get()
    }
}

impl<J> Drop for Stage<J> {
    fn drop(&mut self) {
        self.queue.close();
        self.worker.abort();
    }
}
