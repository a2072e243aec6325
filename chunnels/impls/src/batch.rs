//! Batching: a Nagle-style connection that groups sends ([`NagleChunnel`]) and a framing
//! that packs several messages into one datagram ([`BatchFrameChunnel`]).
//!
//! # Nagling
//! [`NagleChunnel`] works over any connection (any data type) and changes nothing on the
//! wire: it decides *when* to hand messages down, as a batch through `send_batch`. Nagle's
//! rule adapted to datagrams, where nothing is acknowledged: a send after a quiet spell goes
//! out at once (nothing is "outstanding"); a send within [`NagleConfig::delay`] of the last
//! flush is buffered, and the buffer is flushed when the delay has passed since the last
//! flush (by a task on the runtime) or when it holds [`NagleConfig::max_batch`] messages.
//! Order is kept: flushes never interleave. Capability: [`Compat::Provides`], label `nagle`
//! (one end may nagle alone).
//!
//! # Batch framing
//! [`BatchFrameChunnel`] carries `(A, Vec<u8>)` over `(A, Vec<u8>)`. Its `send_batch` packs
//! consecutive messages to the same destination into datagrams of at most
//! [`BatchFrameChunnel::with_max_datagram`] bytes (default 1,400; a larger message goes
//! alone) and `recv` unpacks them. Wire format: `count: u16`, then `count ×` (`len: u32`,
//! `len` bytes), little-endian. A malformed datagram (short, or lengths that do not add up to
//! its size exactly) is dropped whole and reported as [`Error::Decode`]. Capability:
//! [`Compat::Exact`], label `batch-frame/1`.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use chunnel::{Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};
use netrt::{Duration, Instant, Runtime};

use crate::util::{read_u16, read_u32, AbortOnDrop, SendLock, Signal};

/// Timing of [`NagleChunnel`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NagleConfig {
    /// Sends within this long of the last flush are buffered.
    pub delay: Duration,
    /// A buffer of this many messages is flushed at once.
    pub max_batch: usize,
}

impl Default for NagleConfig {
    fn default() -> Self {
        NagleConfig {
            delay: Duration::from_micros(200),
            max_batch: 32,
        }
    }
}

/// The nagling Chunnel (see the module documentation).
#[derive(Clone, Debug)]
pub struct NagleChunnel<R> {
    rt: R,
    cfg: NagleConfig,
}

impl<R: Runtime> NagleChunnel<R> {
    /// Nagling with the default configuration, timers on `rt`.
    pub fn new(rt: R) -> Self {
        Self::with_config(rt, NagleConfig::default())
    }

    /// Nagling with `cfg`.
    pub fn with_config(rt: R, cfg: NagleConfig) -> Self {
        NagleChunnel { rt, cfg }
    }
}

impl<R> Negotiate for NagleChunnel<R> {
    fn capability(&self) -> Offer {
        Offer::new("nagle", "host", Compat::Provides).label("nagle")
    }
}

struct NagleShared<C, D> {
    inner: C,
    cfg: NagleConfig,
    clock: Box<dyn Fn() -> Instant>,
    buf: RefCell<Vec<D>>,
    /// Until when sends are buffered.
    quiet_until: Cell<Instant>,
    lock: SendLock,
    pending: Signal,
    error: RefCell<Option<String>>,
    flushes: Cell<u64>,
}

impl<C: ChunnelConnection<Data = D>, D> NagleShared<C, D> {
    async fn flush(&self) -> Result<(), Error> {
        let _g = self.lock.lock().await;
        let batch = std::mem::take(&mut *self.buf.borrow_mut());
        if batch.is_empty() {
            return Ok(());
        }
        self.quiet_until.set((self.clock)() + self.cfg.delay);
        self.flushes.set(self.flushes.get() + 1);
        self.inner.send_batch(batch).await
    }
}

impl<R, D, InC> Chunnel<InC> for NagleChunnel<R>
where
    R: Runtime,
    InC: ChunnelConnection<Data = D> + 'static,
    D: 'static,
{
    type Connection = NagleConn<InC, D>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        let rt = self.rt.clone();
        let s = Rc::new(NagleShared {
            inner,
            cfg: self.cfg,
            clock: Box::new(move || rt.now()),
            buf: RefCell::new(Vec::new()),
            quiet_until: Cell::new(Instant::ZERO),
            lock: SendLock::default(),
            pending: Signal::default(),
            error: RefCell::new(None),
            flushes: Cell::new(0),
        });
        let (s2, rt) = (s.clone(), self.rt.clone());
        let task = self.rt.spawn(async move {
            loop {
                if s2.buf.borrow().is_empty() {
                    s2.pending.wait().await;
                    continue;
                }
                rt.sleep_until(s2.quiet_until.get()).await;
                if let Err(e) = s2.flush().await {
                    *s2.error.borrow_mut() = Some(e.to_string());
                }
            }
        });
        Ok(NagleConn {
            s,
            _task: AbortOnDrop(task),
        })
    }
}

/// A nagling connection (see the module documentation).
pub struct NagleConn<C, D> {
    s: Rc<NagleShared<C, D>>,
    _task: AbortOnDrop,
}

impl<C: ChunnelConnection<Data = D>, D> NagleConn<C, D> {
    /// Sends whatever is buffered now.
    pub async fn flush(&self) -> Result<(), Error> {
        self.s.flush().await
    }

    /// Batches handed down so far.
    pub fn flushes(&self) -> u64 {
        self.s.flushes.get()
    }
}

impl<C: ChunnelConnection<Data = D>, D> ChunnelConnection for NagleConn<C, D> {
    type Data = D;

    async fn send(&self, d: D) -> Result<(), Error> {
        self.send_batch(vec![d]).await
    }

    async fn send_batch(&self, batch: Vec<D>) -> Result<(), Error> {
        let s = &self.s;
        if let Some(e) = s.error.borrow_mut().take() {
            return Err(Error::layer("nagle", e));
        }
        let idle = s.buf.borrow().is_empty() && (s.clock)() >= s.quiet_until.get();
        s.buf.borrow_mut().extend(batch);
        if idle || s.buf.borrow().len() >= s.cfg.max_batch {
            s.flush().await
        } else {
            s.pending.notify();
            Ok(())
        }
    }

    async fn recv(&self) -> Result<D, Error> {
        self.s.inner.recv().await
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<D>, Error> {
        self.s.inner.recv_batch(max).await
    }
}

/// Packs batches of messages into datagrams (see the module documentation).
#[derive(Clone, Copy, Debug)]
pub struct BatchFrameChunnel {
    max_datagram: usize,
}

impl Default for BatchFrameChunnel {
    fn default() -> Self {
        BatchFrameChunnel { max_datagram: 1400 }
    }
}

impl BatchFrameChunnel {
    /// Framing into datagrams of at most 1,400 bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Framing into datagrams of at most `max` bytes.
    pub fn with_max_datagram(max: usize) -> Self {
        BatchFrameChunnel { max_datagram: max }
    }
}

impl Negotiate for BatchFrameChunnel {
    fn capability(&self) -> Offer {
        Offer::new("batch-frame", "host", Compat::Exact).label("batch-frame/1")
    }
}

impl<A, InC> Chunnel<InC> for BatchFrameChunnel
where
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Clone + PartialEq,
{
    type Connection = BatchFrameConn<InC, A>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        Ok(BatchFrameConn {
            inner,
            max_datagram: self.max_datagram,
            ready: RefCell::new(VecDeque::new()),
        })
    }
}

/// A connection packing batches into datagrams.
pub struct BatchFrameConn<C, A> {
    inner: C,
    max_datagram: usize,
    ready: RefCell<VecDeque<(A, Vec<u8>)>>,
}

/// Packs `msgs` into datagrams of at most `max` bytes (a larger message alone).
pub fn pack(msgs: &[&[u8]], max: usize) -> Result<Vec<Vec<u8>>, Error> {
    let mut out = Vec::new();
    let mut cur: Vec<u8> = Vec::new();
    let mut count: u16 = 0;
    for m in msgs {
        let len = u32::try_from(m.len())
            .map_err(|_| Error::layer("batch-frame", "message over 4 GiB"))?;
        if count > 0 && (cur.len() + 4 + m.len() > max || count == u16::MAX) {
            cur[..2].copy_from_slice(&count.to_le_bytes());
            out.push(std::mem::take(&mut cur));
            count = 0;
        }
        if count == 0 {
            cur.extend_from_slice(&[0, 0]);
        }
        cur.extend_from_slice(&len.to_le_bytes());
        cur.extend_from_slice(m);
        count += 1;
    }
    if count > 0 {
        cur[..2].copy_from_slice(&count.to_le_bytes());
        out.push(cur);
    }
    Ok(out)
}

/// Unpacks one datagram; the whole datagram must be well formed.
pub fn unpack(b: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
    let bad = |d: &str| Error::decode("batch-frame", d);
    let count = read_u16(b, 0).ok_or_else(|| bad("short datagram"))?;
    // Each message takes at least 4 bytes: no allocation beyond what the datagram holds.
    if usize::from(count) > (b.len() - 2) / 4 {
        return Err(bad("count exceeds the datagram"));
    }
    let mut out = Vec::with_capacity(usize::from(count));
    let mut off = 2;
    for _ in 0..count {
        let len = read_u32(b, off).ok_or_else(|| bad("truncated length"))? as usize;
        off += 4;
        let m = b
            .get(off..off.saturating_add(len))
            .ok_or_else(|| bad("truncated message"))?;
        out.push(m.to_vec());
        off += len;
    }
    if off != b.len() {
        return Err(bad("trailing bytes"));
    }
    Ok(out)
}

impl<C, A> ChunnelConnection for BatchFrameConn<C, A>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    A: Clone + PartialEq,
{
    type Data = (A, Vec<u8>);

    async fn send(&self, (to, m): (A, Vec<u8>)) -> Result<(), Error> {
        let mut d = pack(&[&m], self.max_datagram)?;
        self.inner.send((to, d.remove(0))).await
    }

    async fn send_batch(&self, batch: Vec<(A, Vec<u8>)>) -> Result<(), Error> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < batch.len() {
            let to = &batch[i].0;
            let j = i + batch[i..].iter().take_while(|(a, _)| a == to).count();
            let msgs: Vec<&[u8]> = batch[i..j].iter().map(|(_, m)| m.as_slice()).collect();
            for d in pack(&msgs, self.max_datagram)? {
                out.push((to.clone(), d));
            }
            i = j;
        }
        self.inner.send_batch(out).await
    }

    async fn recv(&self) -> Result<(A, Vec<u8>), Error> {
        loop {
            if let Some(x) = self.ready.borrow_mut().pop_front() {
                return Ok(x);
            }
            let (from, b) = self.inner.recv().await?;
            let msgs = unpack(&b)?;
            self.ready
                .borrow_mut()
                .extend(msgs.into_iter().map(|m| (from.clone(), m)));
        }
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<(A, Vec<u8>)>, Error> {
        let first = self.recv().await?;
        let mut out = vec![first];
        let mut r = self.ready.borrow_mut();
        while out.len() < max.max(1) {
            match r.pop_front() {
                Some(x) => out.push(x),
                None => break,
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::{pair, Faults};
    use crate::util::testrt::run;
    use chunnel::stack;

    #[test]
    fn pack_unpack_round_trip_and_malformed_rejected() {
        let msgs: Vec<Vec<u8>> = (0..50u8).map(|i| vec![i; usize::from(i) * 3]).collect();
        let refs: Vec<&[u8]> = msgs.iter().map(|m| m.as_slice()).collect();
        let d = pack(&refs, 200).unwrap();
        assert!(
            d.len() > 1
                && d.iter()
                    .all(|x| x.len() <= 200 || unpack(x).unwrap().len() == 1)
        );
        let back: Vec<Vec<u8>> = d.iter().flat_map(|x| unpack(x).unwrap()).collect();
        assert_eq!(back, msgs);
        let good = &d[0];
        for bad in [
            vec![],
            vec![1],
            vec![0xff, 0xff, 0, 0, 0, 0],
            good[..good.len() - 1].to_vec(),
            [good.as_slice(), &[0]].concat(),
            vec![1, 0, 0xff, 0xff, 0xff, 0xff],
        ] {
            assert!(matches!(unpack(&bad), Err(Error::Decode { .. })), "{bad:?}");
        }
    }

    #[test]
    fn nagle_sends_the_first_at_once_and_groups_the_burst() {
        let (a, b) = pair(Faults::none());
        let (got, flushes, datagrams) = run(move |rt| async move {
            let cfg = NagleConfig {
                delay: Duration::from_millis(1),
                max_batch: 8,
            };
            let ca = stack![
                NagleChunnel::with_config(rt.clone(), cfg),
                BatchFrameChunnel::new()
            ]
            .connect_wrap(a)
            .await
            .unwrap();
            let cb = BatchFrameChunnel::new().connect_wrap(b).await.unwrap();
            let net = cb.inner.net().clone();
            ca.send((2, vec![0])).await.unwrap();
            // The first went out at once.
            assert_eq!(net.stats().sent, 1);
            for i in 1..20u8 {
                ca.send((2, vec![i])).await.unwrap();
            }
            // 19 buffered: two full batches of 8 flushed, 3 wait for the timer.
            assert_eq!(net.stats().sent, 3);
            let mut got = Vec::new();
            while got.len() < 20 {
                got.push(cb.recv().await.unwrap().1[0]);
            }
            (got, ca.flushes(), net.stats().sent)
        });
        assert_eq!(got, (0..20).collect::<Vec<u8>>());
        assert_eq!((flushes, datagrams), (4, 4));
    }
}
