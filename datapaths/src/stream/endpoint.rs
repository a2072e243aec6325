//! [`Endpoint`]: one UDP socket driving any number of [`transport::Sender`]s and
//! [`transport::Receiver`]s (streams keyed by peer address and stream id) on a
//! [`TokioRuntime`]. The protocol state machines are sans-IO; this is the only place that
//! touches the socket and the clock: every step reads `now` from the runtime once, feeds
//! the datagrams that arrived, fires due timers, drains what the senders may transmit, and
//! then sleeps until the socket is readable, the earliest timer, or a congestion controller's
//! [`FlowWaker`] (a CCP agent's new window) fires.
//!
//! Application data: senders take their bytes from a [`Source`] (regenerated for
//! retransmissions), receivers reassemble and digest them ([`Reassembly`]), so a test can
//! check that every byte arrived intact. A test hook drops a fraction of the datagrams this
//! endpoint sends ([`DropHook`]), deterministically from a seed.

use std::cell::Cell;
use std::collections::{BTreeMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;

use netrt::{DatagramSocket, Duration, Instant, Runtime};
use transport::{CcFactory, FlowContext, FlowWaker, Receiver, Sender, TransportConfig};

use super::payload::{Reassembly, Source};
use super::wire::{self, Datagram};
use super::{RecvReport, RttSummary, SendReport};
use crate::tokio_rt::{TokioRuntime, UdpSocket};

/// Drops a fraction of the datagrams an endpoint sends (a test hook for loss).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DropHook {
    /// Probability of dropping each datagram, 0..=1.
    pub rate: f64,
    /// Seed of the drop decisions.
    pub seed: u64,
}

/// How an endpoint runs its streams.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// Transport parameters of every stream.
    pub transport: TransportConfig,
    /// Digest received bytes (costs CPU; off for throughput measurements).
    pub verify: bool,
    /// Drop datagrams on the send path (tests).
    pub drop: Option<DropHook>,
    /// Create a receiver for data of an unknown stream (servers, bulk receivers).
    pub accept: bool,
    /// Socket buffer size to ask for (SO_SNDBUF and SO_RCVBUF), bytes; 0 leaves the default.
    pub socket_buffer: usize,
    /// Most segments one sender transmits before the next one gets a turn.
    pub burst: usize,
    /// Most data segments sent before the endpoint reads its socket again (so that ACKs
    /// are not dropped by a full receive buffer while a large window drains).
    pub batch: usize,
    /// Keep at most this many RTT samples per stream (the rest are counted, not kept).
    pub max_rtt_samples: usize,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        EndpointConfig {
            transport: TransportConfig::default(),
            verify: true,
            drop: None,
            accept: false,
            socket_buffer: 4 << 20,
            burst: 64,
            batch: 256,
            max_rtt_samples: 1 << 20,
        }
    }
}

/// What an endpoint reports from [`Endpoint::next_event`].
#[derive(Debug, Clone)]
pub enum Event {
    /// A sender's every byte is acknowledged.
    Sent(SendReport),
    /// A receiver got every byte of a stream (up to its FIN).
    Received(RecvReport),
}

/// Counters of one endpoint.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct EndpointStats {
    /// Datagrams handed to the socket.
    pub datagrams_sent: u64,
    /// Datagrams the drop hook discarded.
    pub datagrams_dropped: u64,
    /// Datagrams received.
    pub datagrams_received: u64,
    /// Datagrams that did not decode.
    pub decode_errors: u64,
    /// Datagrams for streams this endpoint does not have.
    pub unknown_stream: u64,
}

struct SendStream {
    sender: Sender,
    source: Source,
    started: Instant,
    cc: String,
    rtts: Vec<u32>,
    rtt_count: u64,
    /// Digest of the new data sent so far (when verifying).
    digest: Option<super::payload::Digest>,
    digested: u64,
    /// Ended late ([`Endpoint::end_stream`]): the size to announce in a FIN datagram and
    /// when to send it (again), until the receiver's FIN-ACK.
    fin: Option<(u64, Instant)>,
}

struct RecvStream {
    receiver: Receiver,
    app: Reassembly,
    first: Instant,
    fin_end: Option<u64>,
    done: Option<Instant>,
}

type Key = (SocketAddr, u32);

/// One socket, many streams. See the module docs.
pub struct Endpoint {
    rt: TokioRuntime,
    sock: UdpSocket,
    local: SocketAddr,
    cfg: EndpointConfig,
    cc: Rc<dyn CcFactory>,
    senders: BTreeMap<Key, SendStream>,
    receivers: BTreeMap<Key, RecvStream>,
    woken: Rc<Cell<bool>>,
    wake: Rc<tokio::sync::Notify>,
    events: VecDeque<Event>,
    pending_acks: Vec<(SocketAddr, u32, transport::AckInfo)>,
    pending_fin_acks: Vec<(SocketAddr, u32)>,
    rng: u64,
    rr: usize,
    out: Vec<u8>,
    payload: Vec<u8>,
    rbuf: Vec<u8>,
    stats: EndpointStats,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("local", &self.local)
            .field("senders", &self.senders.len())
            .field("receivers", &self.receivers.len())
            .finish_non_exhaustive()
    }
}

fn set_buf(fd: i32, opt: libc::c_int, bytes: usize) {
    let v = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: `fd` is an open socket for the call; the value pointer and length are valid.
    // Failure (e.g. above the system maximum) only leaves the default, which is fine.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            opt,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

impl Endpoint {
    /// Binds `addr` on `rt` (port 0 picks one). `cc` builds every sender's controller.
    /// Fails with `InvalidInput` if the MSS does not fit in one datagram
    /// ([`wire::MAX_PAYLOAD`]) or the transport configuration is invalid.
    pub async fn bind(
        rt: &TokioRuntime,
        addr: SocketAddr,
        cfg: EndpointConfig,
        cc: Rc<dyn CcFactory>,
    ) -> io::Result<Endpoint> {
        let invalid = |m: String| io::Error::new(io::ErrorKind::InvalidInput, m);
        cfg.transport
            .validate()
            .map_err(|e| invalid(e.to_string()))?;
        if cfg.transport.mss as usize > wire::MAX_PAYLOAD {
            return Err(invalid(format!(
                "mss {} exceeds the {} payload bytes of one datagram",
                cfg.transport.mss,
                wire::MAX_PAYLOAD
            )));
        }
        let sock = rt.bind_udp(addr).await?;
        if cfg.socket_buffer > 0 {
            let fd = sock.get_ref().as_raw_fd();
            set_buf(fd, libc::SO_SNDBUF, cfg.socket_buffer);
            set_buf(fd, libc::SO_RCVBUF, cfg.socket_buffer);
        }
        let local = sock.local_addr()?;
        let seed = cfg.drop.map_or(1, |d| d.seed);
        Ok(Endpoint {
            rt: rt.clone(),
            sock,
            local,
            cc,
            senders: BTreeMap::new(),
            receivers: BTreeMap::new(),
            woken: Rc::new(Cell::new(false)),
            wake: Rc::new(tokio::sync::Notify::new()),
            events: VecDeque::new(),
            pending_acks: Vec::new(),
            pending_fin_acks: Vec::new(),
            rng: seed | 1,
            rr: 0,
            out: Vec::with_capacity(wire::MAX_PAYLOAD + wire::DATA_HEADER),
            payload: vec![0u8; wire::MAX_PAYLOAD],
            rbuf: vec![0u8; 65_536],
            stats: EndpointStats::default(),
            cfg,
        })
    }

    /// The bound address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Counters.
    pub fn stats(&self) -> EndpointStats {
        self.stats
    }

    /// The runtime's clock.
    pub fn now(&self) -> Instant {
        self.rt.now()
    }

    /// Starts sending stream `id` to `peer`: `total` bytes (`None`: until
    /// [`Endpoint::end_stream`]) from `source`. Replaces a stream of the same key.
    pub fn open(&mut self, peer: SocketAddr, id: u32, total: Option<u64>, source: Source) {
        let now = self.rt.now();
        let (woken, wake) = (self.woken.clone(), self.wake.clone());
        let ctx = FlowContext {
            flow: id,
            src: self.local,
            dst: peer,
            mss: self.cfg.transport.mss,
            init_cwnd_pkts: self.cfg.transport.init_cwnd_pkts,
            now,
            waker: FlowWaker::new(move || {
                woken.set(true);
                wake.notify_one();
            }),
        };
        let cc = self.cc.build(&ctx);
        let name = cc.name().to_string();
        let sender = Sender::new(self.cfg.transport.clone(), total, cc, now);
        self.senders.insert(
            (peer, id),
            SendStream {
                sender,
                source,
                started: now,
                cc: name,
                rtts: Vec::new(),
                rtt_count: 0,
                digest: self.cfg.verify.then(Default::default),
                digested: 0,
                fin: None,
            },
        );
    }

    /// Ends an endless stream: it becomes the bytes sent so far, and the receiver learns
    /// the size from a FIN datagram (see [`wire`]). Returns its size.
    pub fn end_stream(&mut self, peer: SocketAddr, id: u32) -> Option<u64> {
        let now = self.rt.now();
        let s = self.senders.get_mut(&(peer, id))?;
        let size = s.sender.end_stream(now);
        s.fin = Some((size, now));
        Some(size)
    }

    /// Number of open senders.
    pub fn senders(&self) -> usize {
        self.senders.len()
    }

    /// One line per open sender (for error messages): acknowledged and sent bytes, bytes in
    /// flight, window, and whether its FIN awaits an answer.
    pub fn describe_senders(&self) -> String {
        self.senders
            .iter()
            .map(|((p, id), s)| {
                format!(
                    "stream {id} to {p}: una {} nxt {} in flight {} cwnd {} fin {:?} {:?}",
                    s.sender.snd_una(),
                    s.sender.snd_nxt(),
                    s.sender.bytes_in_flight(),
                    s.sender.cwnd(),
                    s.fin.map(|f| f.0),
                    s.sender.stats()
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Bytes acknowledged so far on stream `(peer, id)`.
    pub fn acked(&self, peer: SocketAddr, id: u32) -> Option<u64> {
        self.senders.get(&(peer, id)).map(|s| s.sender.snd_una())
    }

    /// Drives every stream until an event happens, or until `deadline` (then `Ok(None)`).
    pub async fn next_event(&mut self, deadline: Option<Instant>) -> io::Result<Option<Event>> {
        loop {
            if let Some(e) = self.events.pop_front() {
                return Ok(Some(e));
            }
            let now = self.rt.now();
            if deadline.is_some_and(|d| now >= d) {
                return Ok(None);
            }
            let got = self.receive_ready(now)?;
            self.fire_timers(now);
            let sent = self.transmit(now).await?;
            self.prune(now);
            if !self.events.is_empty() {
                continue;
            }
            if got > 0 || sent > 0 || self.woken.replace(false) {
                // Let the runtime's other tasks (a CCP datapath or relay) run, then go on.
                tokio::task::yield_now().await;
                continue;
            }
            let next = self.next_timeout().into_iter().chain(deadline).min();
            let sleep = self.rt.sleep_until(next.unwrap_or(Instant::MAX));
            tokio::select! {
                r = self.sock.get_ref().readable() => r?,
                () = sleep => {}
                () = self.wake.notified() => {}
            }
        }
    }

    fn rand(&mut self) -> f64 {
        // xorshift64*
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Sends `self.out` to `to` (unless the drop hook discards it).
    async fn send_out(&mut self, to: SocketAddr) -> io::Result<()> {
        if let Some(d) = self.cfg.drop {
            if self.rand() < d.rate {
                self.stats.datagrams_dropped += 1;
                return Ok(());
            }
        }
        loop {
            match self.sock.get_ref().try_send_to(&self.out, to) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.sock.get_ref().writable().await?;
                }
                // The peer's port is closed (ICMP unreachable): the datagram is lost, as on
                // any network; the transport retransmits.
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => break,
                Err(e) => return Err(e),
            }
        }
        self.stats.datagrams_sent += 1;
        Ok(())
    }

    /// Handles every datagram already queued on the socket (at most a batch). Returns how
    /// many.
    fn receive_ready(&mut self, now: Instant) -> io::Result<usize> {
        let mut n = 0;
        let mut acks = std::mem::take(&mut self.pending_acks);
        while n < 256 {
            let (len, from) = match self.sock.get_ref().try_recv_from(&mut self.rbuf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => continue,
                Err(e) => return Err(e),
            };
            n += 1;
            self.stats.datagrams_received += 1;
            match wire::decode(&self.rbuf[..len]) {
                Err(_) => self.stats.decode_errors += 1,
                Ok(Datagram::Ack { stream, ack }) => match self.senders.get_mut(&(from, stream)) {
                    Some(s) => {
                        s.sender.on_ack(now, &ack);
                        if let Some(r) = s.sender.last_signals().and_then(|g| g.rtt_sample) {
                            if !ack.syn {
                                s.rtt_count += 1;
                                if s.rtts.len() < self.cfg.max_rtt_samples {
                                    s.rtts
                                        .push(u32::try_from(r.as_micros()).unwrap_or(u32::MAX));
                                }
                            }
                        }
                    }
                    None => self.stats.unknown_stream += 1,
                },
                Ok(Datagram::Data {
                    stream,
                    seg,
                    payload,
                }) => {
                    let key = (from, stream);
                    if !self.receivers.contains_key(&key) {
                        if !self.cfg.accept {
                            self.stats.unknown_stream += 1;
                            continue;
                        }
                        self.receivers.insert(
                            key,
                            RecvStream {
                                receiver: Receiver::new(self.cfg.transport.clone()),
                                app: Reassembly::new(self.cfg.verify),
                                first: now,
                                fin_end: None,
                                done: None,
                            },
                        );
                    }
                    let Some(r) = self.receivers.get_mut(&key) else {
                        continue;
                    };
                    if !seg.syn {
                        r.app.on_payload(seg.seq, payload);
                        if seg.fin {
                            r.fin_end = Some(seg.seq + u64::from(seg.len));
                        }
                    }
                    if let Some(a) = r.receiver.on_segment(now, &seg, false) {
                        acks.push((from, stream, a));
                    }
                    if let Some(rep) = check_done(r, from, stream, now) {
                        self.events.push_back(Event::Received(rep));
                    }
                }
                Ok(Datagram::Fin { stream, size }) => {
                    // Answered even for a stream already forgotten, so its sender finishes.
                    self.pending_fin_acks.push((from, stream));
                    if let Some(r) = self.receivers.get_mut(&(from, stream)) {
                        r.fin_end.get_or_insert(size);
                        if let Some(rep) = check_done(r, from, stream, now) {
                            self.events.push_back(Event::Received(rep));
                        }
                    }
                }
                Ok(Datagram::FinAck { stream }) => {
                    if let Some(s) = self.senders.get_mut(&(from, stream)) {
                        s.fin = None;
                    }
                }
            }
        }
        // ACKs go out after the batch (the receive loop borrows the buffer).
        self.pending_acks = acks;
        Ok(n)
    }

    /// Fires the senders' and receivers' timers that are due.
    fn fire_timers(&mut self, now: Instant) {
        for s in self.senders.values_mut() {
            if s.sender.poll_timeout().is_some_and(|t| t <= now) {
                s.sender.on_timeout(now);
            }
        }
        for (&(peer, id), r) in self.receivers.iter_mut() {
            if r.receiver.poll_timeout().is_some_and(|t| t <= now) {
                if let Some(a) = r.receiver.on_timeout(now) {
                    self.pending_acks.push((peer, id, a));
                }
            }
        }
    }

    /// Sends pending ACKs, then what every sender may transmit (round robin, at most
    /// `burst` segments per sender per round); reports completed senders. Returns the
    /// number of datagrams sent.
    async fn transmit(&mut self, now: Instant) -> io::Result<usize> {
        let mut sent = 0;
        let acks = std::mem::take(&mut self.pending_acks);
        for (peer, id, a) in acks {
            self.out.clear();
            wire::encode_ack(&mut self.out, id, &a);
            self.send_out(peer).await?;
            sent += 1;
        }
        for (peer, id) in std::mem::take(&mut self.pending_fin_acks) {
            self.out.clear();
            wire::encode_fin_ack(&mut self.out, id);
            self.send_out(peer).await?;
            sent += 1;
        }
        // FINs of streams ended late, until their FIN-ACK: again every two smoothed RTTs
        // (within 5..=50 ms, so the receiver, which lingers a while after the FIN, hears it).
        let mut fins = Vec::new();
        for (key, s) in self.senders.iter_mut() {
            if let Some((size, at)) = s.fin {
                if at <= now {
                    let srtt = s.sender.stats().srtt.unwrap_or(Duration::from_millis(10));
                    let again = srtt
                        .saturating_mul(2)
                        .max(Duration::from_millis(5))
                        .min(Duration::from_millis(50));
                    s.fin = Some((size, now + again));
                    fins.push((*key, size));
                }
            }
        }
        for ((peer, id), size) in fins {
            self.out.clear();
            wire::encode_fin(&mut self.out, id, size);
            self.send_out(peer).await?;
            sent += 1;
        }
        let keys: Vec<Key> = self.senders.keys().copied().collect();
        let burst = self.cfg.burst.max(1);
        let batch = self.cfg.batch.max(1);
        // Start where the previous call stopped, so that no sender is always first.
        self.rr = self.rr.wrapping_add(1);
        let start = if keys.is_empty() {
            0
        } else {
            self.rr % keys.len()
        };
        let mut data = 0;
        'rounds: loop {
            let mut round = 0;
            for key in keys[start..].iter().chain(&keys[..start]) {
                for _ in 0..burst {
                    if data >= batch {
                        break 'rounds;
                    }
                    let Some(s) = self.senders.get_mut(key) else {
                        break;
                    };
                    let Some(seg) = s.sender.poll_transmit(now) else {
                        break;
                    };
                    let len = seg.len as usize;
                    let buf = &mut self.payload[..len.min(wire::MAX_PAYLOAD)];
                    s.source.fill(seg.seq, buf);
                    if let Some(d) = &mut s.digest {
                        let end = seg.seq + seg.len as u64;
                        if seg.seq <= s.digested && end > s.digested {
                            d.update(&buf[(s.digested - seg.seq) as usize..]);
                            s.digested = end;
                        }
                    }
                    self.out.clear();
                    wire::encode_data(&mut self.out, key.1, &seg, buf);
                    self.send_out(key.0).await?;
                    sent += 1;
                    data += 1;
                    round += 1;
                }
            }
            if round == 0 {
                break;
            }
        }
        // Completed senders.
        let done: Vec<Key> = self
            .senders
            .iter()
            .filter(|(_, s)| s.sender.is_complete() && s.fin.is_none())
            .map(|(k, _)| *k)
            .collect();
        for key in done {
            if let Some(s) = self.senders.remove(&key) {
                self.events.push_back(Event::Sent(report(key, s, now)));
            }
        }
        Ok(sent)
    }

    /// Forgets receivers finished more than ten seconds ago.
    fn prune(&mut self, now: Instant) {
        let keep = Duration::from_secs(10);
        self.receivers
            .retain(|_, r| r.done.is_none_or(|d| now.saturating_since(d) < keep));
    }

    fn next_timeout(&self) -> Option<Instant> {
        let s = self
            .senders
            .values()
            .filter_map(|s| s.sender.poll_timeout());
        let r = self
            .receivers
            .values()
            .filter_map(|r| r.receiver.poll_timeout());
        s.chain(r).min()
    }
}

/// The report of receiver `r` if it just got its last byte.
fn check_done(
    r: &mut RecvStream,
    from: SocketAddr,
    stream: u32,
    now: Instant,
) -> Option<RecvReport> {
    if r.done.is_some() || r.fin_end.is_none_or(|f| r.app.delivered() < f) {
        return None;
    }
    r.done = Some(now);
    let secs = now.saturating_since(r.first).as_secs_f64();
    let bytes = r.app.delivered();
    let st = r.receiver.stats();
    Some(RecvReport {
        peer: from.to_string(),
        stream,
        bytes,
        secs,
        goodput_bps: rate(bytes, secs),
        digest: r.app.digest().map(|d| format!("{d:016x}")),
        segments: st.segments,
        duplicate_segments: st.duplicate_segments,
        out_of_order_segments: st.out_of_order_segments,
        request: r.app.request_header(),
    })
}

/// Bits per second.
pub(crate) fn rate(bytes: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        bytes as f64 * 8.0 / secs
    } else {
        0.0
    }
}

fn report(key: Key, s: SendStream, now: Instant) -> SendReport {
    let st = *s.sender.stats();
    let bytes = s.sender.snd_una();
    let secs = now.saturating_since(s.started).as_secs_f64();
    SendReport {
        peer: key.0.to_string(),
        stream: key.1,
        cc: s.cc,
        bytes,
        secs,
        goodput_bps: rate(bytes, secs),
        segments_sent: st.segments_sent,
        retransmitted_segments: st.retransmitted_segments,
        timeouts: st.timeouts,
        recoveries: st.recoveries,
        fell_back: s.sender.cc().fell_back(),
        rtt_us: RttSummary::of(s.rtts, s.rtt_count),
        digest: s.digest.map(|d| format!("{:016x}", d.value())),
    }
}
