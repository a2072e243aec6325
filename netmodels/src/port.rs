//! One direction of a link as a sans-IO state machine: queue discipline → link server →
//! i.i.d. loss → propagation pipe. It never schedules anything itself: callers feed packets in
//! at `now` and ask when something is next due, so the same code runs under the simulator's
//! virtual clock and under a wall clock (the real-time emulator).
//!
//! Two ways to drive a [`Port`]:
//! - **Event-driven** (the simulator): [`Port::enqueue`] says when a transmission it started
//!   completes; at that instant [`Port::complete_tx`] finishes it, starts the next and says when
//!   a packet entered an empty pipe; at each arrival instant [`Port::pop_arrival`] hands the
//!   head of the pipe over and says when the next one is due.
//! - **Poll-style** (a wall clock): [`Port::enqueue`] at the time of the call,
//!   [`Port::next_wakeup`] for when to look again, and [`Port::poll`] with the current time to
//!   collect every packet whose arrival at the far end is due. `poll` replays the internal
//!   events at their exact instants, so departures follow the ideal schedule however late or
//!   irregular the calls are.
//!
//! Byte accounting: [`Port::bytes_in_flight`] counts what is queued, being serialized or
//! propagating; dropped packets are handed back to the caller, never silently discarded.

use std::collections::VecDeque;

use sim_core::{SimDuration, SimTime};

use crate::link::{LinkServer, LossModel};
use crate::packet::{Ecn, NodeId, Packet, PacketData};
use crate::queue::{pop_front_rewind, PortQueue, Queue};

/// Counters of one port (those updated on every packet first: see [`Port`]'s layout).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[repr(C)]
pub struct PortStats {
    /// Packets that finished serialization.
    pub tx_packets: u64,
    /// Bytes that finished serialization.
    pub tx_bytes: u64,
    /// Largest queue occupancy seen, in bytes.
    pub max_queue_bytes: u64,
    /// Packets that left the queue CE-marked (marked here or upstream).
    pub ce_marked: u64,
    /// Packets dropped by the queue discipline.
    pub queue_drops: u64,
    /// Packets lost on the wire.
    pub wire_losses: u64,
    /// Bytes dropped (queue or wire).
    pub dropped_bytes: u64,
}

/// What a port accumulated since the last [`Port::take_window`]: the sampler's raw input.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PortWindow {
    /// Sum of the queueing delays (sojourn) of packets that started service.
    pub sojourn_ns: u128,
    /// Packets that started service.
    pub dequeued: u64,
    /// Bytes that finished serialization.
    pub tx_bytes: u64,
}

/// Errors changing a port at run time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PortError {
    /// Only a fixed-rate link's rate can be changed; a trace link's comes from its trace.
    #[error("the rate of a trace-driven link cannot be set")]
    TraceRate,
    /// A rate of zero would never send again.
    #[error("a link rate must be at least 1 bit/s")]
    ZeroRate,
}

/// What finishing a transmission did (see [`Port::complete_tx`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TxOutcome {
    /// Bytes of the packet if it was lost on the wire.
    pub wire_lost_bytes: Option<u32>,
    /// The packet entered an empty pipe: its arrival at the far end is due at this instant.
    pub arrival_due: Option<SimTime>,
    /// The next packet started serialization: it completes at this instant.
    pub next_tx_done: Option<SimTime>,
}

/// The propagation pipe: packets on the wire with their arrival instants, in arrival order.
///
/// The head is kept inside the port: a wire shorter than one packet's serialization time (most
/// of a datacenter fabric: 5 µs at 1 Gbit/s is under one 1500-byte packet) never holds more
/// than one packet, so its arrivals need not touch a separate buffer, a cache miss per hop in a
/// large fabric. The rest of the wire is boxed (8 bytes in the port, allocated when a wire
/// first holds two packets). Invariant: `rest` is empty while `head` is.
#[derive(Default)]
struct Pipe {
    head: Option<(SimTime, Packet)>,
    // Boxed on purpose: 8 bytes in the port instead of a ring's 32, on the line every event
    // reads; the extra indirection is paid only by wires longer than one packet.
    #[allow(clippy::box_collection)]
    rest: Option<Box<VecDeque<(SimTime, Packet)>>>,
}

impl Pipe {
    /// Appends a packet; true when the pipe was empty (its arrival is the next one due).
    #[inline]
    fn push_back(&mut self, at: SimTime, pkt: Packet) -> bool {
        if self.head.is_none() {
            self.head = Some((at, pkt));
            true
        } else {
            self.rest.get_or_insert_default().push_back((at, pkt));
            false
        }
    }

    /// Removes the packet that arrives first, and starts loading the next one's data (read at
    /// its arrival), as the queues' FIFO does.
    #[inline]
    fn pop_front(&mut self) -> Option<(SimTime, Packet)> {
        let x = self.head.take()?;
        self.head = self.rest.as_deref_mut().and_then(pop_front_rewind);
        if let Some((_, next)) = &self.head {
            sim_core::prefetch::<PacketData>(next);
        }
        Some(x)
    }

    #[inline]
    fn front_time(&self) -> Option<SimTime> {
        self.head.as_ref().map(|(t, _)| *t)
    }
}

/// One direction of a link, at its sending node.
///
/// Laid out for a large fabric, where a port is usually cold when its next event comes: the
/// fields every arrival and transmission touches come first, packed into as few cache lines as
/// they fit, and a port starts on a line of its own.
#[repr(C, align(64))]
pub struct Port {
    // Line 0: the wire. All an arrival touches, and what a finished transmission adds to it.
    pipe: Pipe,
    pipe_bytes: u64,
    /// Receiving node.
    pub to: NodeId,
    /// Sending node.
    pub from: NodeId,
    /// Boxed: a loss model carries a random stream of a few hundred bytes, and most ports have
    /// none; inline it nearly doubled every port (720 bytes, in the array every event reads).
    loss: Option<Box<LossModel>>,
    /// Burst release period in nanoseconds, 0 for none: arrivals are held until its next
    /// multiple (ACK compression).
    release_ns: u64,
    delay: SimDuration,
    // Line 1: what starting a transmission touches besides the queue: the packet in service,
    // the server and the sampler's window (see [`Port::take_window`]: sojourn sum and dequeues
    // since the last take, and the transmitted bytes at it).
    busy: Option<(SimTime, Packet)>,
    server: LinkServer,
    win_sojourn_ns: u64,
    win_dequeued: u64,
    win_tx_base: u64,
    // Lines 2 and 3: the queue, then the counters (their first four, which every transmission
    // or enqueue updates, on line 3 with the queue's end).
    queue: PortQueue,
    /// Counters.
    pub stats: PortStats,
    // Rarely read.
    /// The link this port belongs to.
    pub link: usize,
    nominal_bps: u64,
}

impl Port {
    /// A port from `from` to `to` on link `link`: `queue` feeds `server`, a packet is lost on
    /// the wire with `loss`'s probability, and arrives `delay` after its last bit left. The
    /// queue is told the server's rate.
    pub fn new(
        link: usize,
        from: NodeId,
        to: NodeId,
        queue: impl Into<PortQueue>,
        server: LinkServer,
        delay: SimDuration,
        loss: Option<LossModel>,
    ) -> Port {
        let nominal_bps = server.nominal_bps();
        let mut queue = queue.into();
        queue.set_service_rate(nominal_bps);
        Port {
            link,
            from,
            to,
            queue,
            server,
            delay,
            loss: loss.map(Box::new),
            busy: None,
            pipe: Pipe::default(),
            pipe_bytes: 0,
            stats: PortStats::default(),
            nominal_bps,
            win_sojourn_ns: 0,
            win_dequeued: 0,
            win_tx_base: 0,
            release_ns: 0,
        }
    }

    /// Holds packets reaching the far end until the next multiple of `period` (virtual time
    /// since 0) and releases them together, in order: an ACK-compression impairment when the
    /// port carries ACKs. `None` turns it off.
    pub fn set_burst_release(&mut self, period: Option<SimDuration>) {
        self.release_ns = period.map_or(0, |p| p.as_nanos());
    }

    /// Bytes queued, being serialized, or propagating on this port.
    pub fn bytes_in_flight(&self) -> u64 {
        self.queue.len_bytes()
            + self.busy.as_ref().map_or(0, |(_, p)| u64::from(p.size))
            + self.pipe_bytes
    }
    /// Bytes in the queue.
    pub fn queue_bytes(&self) -> u64 {
        self.queue.len_bytes()
    }
    /// Packets in the queue.
    pub fn queue_packets(&self) -> usize {
        self.queue.len_packets()
    }
    /// The link's rate in bit/s: the fixed rate (as last set) or a trace's mean rate.
    pub fn nominal_bps(&self) -> u64 {
        self.nominal_bps
    }
    /// The one-way propagation delay.
    pub fn delay(&self) -> SimDuration {
        self.delay
    }
    /// True while a packet is being serialized.
    pub fn is_busy(&self) -> bool {
        self.busy.is_some()
    }

    /// Changes a fixed-rate link's rate from now on. The packet being serialized keeps its
    /// departure time; the next one is served at the new rate. The queue discipline is told
    /// the new rate (it matters to AQMs that convert bytes to delay).
    pub fn set_rate_bps(&mut self, bps: u64) -> Result<(), PortError> {
        if bps == 0 {
            return Err(PortError::ZeroRate);
        }
        match &mut self.server {
            LinkServer::Fixed(f) => f.set_bps(bps),
            _ => return Err(PortError::TraceRate),
        }
        self.nominal_bps = bps;
        self.queue.set_service_rate(bps);
        Ok(())
    }

    /// Hands the sampler's accumulators over and resets them.
    pub fn take_window(&mut self) -> PortWindow {
        let w = PortWindow {
            sojourn_ns: u128::from(self.win_sojourn_ns),
            dequeued: self.win_dequeued,
            tx_bytes: self.stats.tx_bytes - self.win_tx_base,
        };
        self.win_sojourn_ns = 0;
        self.win_dequeued = 0;
        self.win_tx_base = self.stats.tx_bytes;
        w
    }

    /// Queues `pkt` at `now`; packets the discipline drops (this one or others) are appended to
    /// `drops` and counted. If the port was idle, serialization starts at once and the instant
    /// it completes is returned: call [`Port::complete_tx`] then.
    #[inline]
    pub fn enqueue(
        &mut self,
        now: SimTime,
        mut pkt: Packet,
        drops: &mut Vec<Packet>,
    ) -> Option<SimTime> {
        pkt.enqueued_at = now;
        let before = drops.len();
        self.queue.enqueue(pkt, now, drops);
        let qb = self.queue.len_bytes();
        if qb > self.stats.max_queue_bytes {
            self.stats.max_queue_bytes = qb;
        }
        self.count_drops(&drops[before..]);
        if self.busy.is_none() {
            self.start_tx(now, drops)
        } else {
            None
        }
    }

    fn count_drops(&mut self, dropped: &[Packet]) {
        for p in dropped {
            self.stats.queue_drops += 1;
            self.stats.dropped_bytes += u64::from(p.size);
        }
    }

    fn start_tx(&mut self, now: SimTime, drops: &mut Vec<Packet>) -> Option<SimTime> {
        let before = drops.len();
        let next = self.queue.dequeue(now, drops);
        self.count_drops(&drops[before..]);
        let pkt = next?;
        // A u64 of nanoseconds holds 584 years of summed sojourn per sampling window.
        self.win_sojourn_ns = self
            .win_sojourn_ns
            .saturating_add(now.saturating_since(pkt.enqueued_at).as_nanos());
        self.win_dequeued += 1;
        let done = self.server.departure(now, pkt.size);
        self.busy = Some((done, pkt));
        Some(done)
    }

    /// Finishes the transmission in progress at `now` (its completion instant): `on_wire` sees
    /// the packet as it leaves (a capture point), the loss model may drop it, otherwise it
    /// enters the propagation pipe; then the next queued packet starts serialization. Packets
    /// the discipline drops on dequeue are appended to `drops`.
    #[inline]
    pub fn complete_tx(
        &mut self,
        now: SimTime,
        drops: &mut Vec<Packet>,
        on_wire: impl FnOnce(&Packet),
    ) -> TxOutcome {
        let mut out = TxOutcome::default();
        if let Some((_, pkt)) = self.busy.take() {
            let size = u64::from(pkt.size);
            self.stats.tx_packets += 1;
            self.stats.tx_bytes += size;
            if pkt.ecn == Ecn::Ce {
                self.stats.ce_marked += 1;
            }
            on_wire(&pkt);
            if self.loss.as_mut().is_some_and(|l| l.drops()) {
                self.stats.wire_losses += 1;
                self.stats.dropped_bytes += size;
                out.wire_lost_bytes = Some(pkt.size);
            } else {
                let mut at = now + self.delay;
                let p = self.release_ns;
                if p > 0 {
                    // Rounding up is monotone, so the pipe stays in arrival order.
                    let n = at.as_nanos().div_ceil(p);
                    at = SimTime::from_nanos(n.saturating_mul(p));
                }
                self.pipe_bytes += size;
                if self.pipe.push_back(at, pkt) {
                    out.arrival_due = Some(at);
                }
            }
        }
        out.next_tx_done = self.start_tx(now, drops);
        out
    }

    /// Takes the packet at the head of the pipe (due now) and returns it with the arrival
    /// instant of the next one, if any.
    #[inline]
    pub fn pop_arrival(&mut self) -> Option<(Packet, Option<SimTime>)> {
        let (_, pkt) = self.pipe.pop_front()?;
        self.pipe_bytes -= u64::from(pkt.size);
        Some((pkt, self.pipe.front_time()))
    }

    /// The earliest instant something happens inside the port (a transmission completes or a
    /// packet reaches the far end); `None` when it is empty.
    pub fn next_wakeup(&self) -> Option<SimTime> {
        let tx = self.busy.as_ref().map(|(t, _)| *t);
        let arr = self.pipe.front_time();
        match (tx, arr) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Poll-style driving: replays every internal event due by `now` at its own instant and
    /// returns the next packet that has reached the far end, with its arrival instant (call
    /// again until `None`). Transmissions complete before arrivals at the same instant.
    /// Wire losses are counted in [`Port::stats`]; dropped packets are appended to `drops`.
    pub fn poll(
        &mut self,
        now: SimTime,
        drops: &mut Vec<Packet>,
        mut on_wire: impl FnMut(&Packet),
    ) -> Option<(SimTime, Packet)> {
        loop {
            let tx = self.busy.as_ref().map(|(t, _)| *t).filter(|t| *t <= now);
            let arr = self.pipe.front_time().filter(|t| *t <= now);
            match (tx, arr) {
                (Some(t), a) if a.is_none_or(|a| t <= a) => {
                    self.complete_tx(t, drops, &mut on_wire);
                }
                (_, Some(a)) => return self.pop_arrival().map(|(p, _)| (a, p)),
                _ => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests;
