//! Inter-process communication between a CCP agent and its datapaths: message transports.
//! (portus and libccp call this layer `ipc` too.)
//!
//! [`Transport`] is the one small trait every transport implements: datagram-style `send_to`
//! and a non-blocking-by-contract `recv_from` that returns `Ok(None)` when nothing is due.
//! Both take the caller's `now` (a [`netrt::Instant`]) so that a simulated transport can be
//! driven by virtual time; real transports (the Unix datagram socket in the `datapaths` crate)
//! ignore it.
//!
//! [`channel_pair`] builds an in-memory pair of endpoints with a configurable one-way delay,
//! driven only by explicit `now` values: a message sent at `t` is receivable from `t + delay`.

use netrt::{Duration, Instant};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Debug;
use std::rc::Rc;

/// A datagram transport carrying whole CCP messages.
pub trait Transport {
    /// The address of a peer (a socket path for Unix datagrams, `()` for a point-to-point pair).
    /// Ordered, so that it can key an [`crate::agent::Agent`]'s datapaths.
    type Addr: Clone + Ord + Debug;
    /// The transport's error type.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Sends one message to `to` at time `now`.
    fn send_to(&mut self, now: Instant, to: &Self::Addr, msg: &[u8]) -> Result<(), Self::Error>;

    /// Receives one message into `buf` if one is due by `now`; `Ok(None)` if none is.
    ///
    /// Returns the number of bytes written to `buf` and the sender's address. A message longer
    /// than `buf` is truncated, like a datagram socket does.
    fn recv_from(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<(usize, Self::Addr)>, Self::Error>;

    /// The earliest time at which a message becomes receivable, if the transport knows it.
    /// Real sockets return `None`.
    fn next_arrival(&self) -> Option<Instant> {
        None
    }
}

/// Errors of the in-memory channel.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChannelError {
    /// The peer endpoint was dropped; nothing sent can be delivered any more.
    #[error("the peer endpoint was dropped")]
    PeerGone,
    /// The message is longer than the channel's configured maximum datagram size.
    #[error("message of {len} bytes exceeds the channel's maximum of {max}")]
    TooLong {
        /// Length of the rejected message.
        len: usize,
        /// Configured maximum.
        max: usize,
    },
}

#[derive(Debug, Default)]
struct Queue {
    items: VecDeque<(Instant, Vec<u8>)>,
    /// Buffers of received messages, reused by later sends (no allocation per message once
    /// the channel is warm).
    spare: Vec<Vec<u8>>,
}

/// Most spare buffers a queue keeps.
const MAX_SPARE: usize = 64;

/// One end of an in-memory channel pair (see [`channel_pair`]).
#[derive(Debug)]
pub struct ChannelEnd {
    delay: Duration,
    max_len: usize,
    tx: Rc<RefCell<Queue>>,
    rx: Rc<RefCell<Queue>>,
}

/// Builds two connected in-memory endpoints; every message takes `delay` one way.
///
/// Messages are delivered in send order (FIFO). The maximum datagram size defaults to the CCP
/// maximum message size ([`crate::wire::MAX_MSG_LEN`]).
pub fn channel_pair(delay: Duration) -> (ChannelEnd, ChannelEnd) {
    let a = Rc::new(RefCell::new(Queue::default()));
    let b = Rc::new(RefCell::new(Queue::default()));
    let max_len = crate::wire::MAX_MSG_LEN;
    (
        ChannelEnd {
            delay,
            max_len,
            tx: a.clone(),
            rx: b.clone(),
        },
        ChannelEnd {
            delay,
            max_len,
            tx: b,
            rx: a,
        },
    )
}

impl ChannelEnd {
    /// Number of messages sent by the peer that are not yet received here (due or not).
    pub fn pending(&self) -> usize {
        self.rx.borrow().items.len()
    }

    /// Number of messages sent from here that the peer has not yet received (due or not).
    pub fn in_flight(&self) -> usize {
        self.tx.borrow().items.len()
    }

    /// The one-way delay of this endpoint's outgoing messages.
    pub fn delay(&self) -> Duration {
        self.delay
    }
}

impl Transport for ChannelEnd {
    type Addr = ();
    type Error = ChannelError;

    fn send_to(&mut self, now: Instant, _to: &(), msg: &[u8]) -> Result<(), ChannelError> {
        if msg.len() > self.max_len {
            return Err(ChannelError::TooLong {
                len: msg.len(),
                max: self.max_len,
            });
        }
        if Rc::strong_count(&self.tx) < 2 {
            return Err(ChannelError::PeerGone);
        }
        let at = now + self.delay;
        let mut q = self.tx.borrow_mut();
        let mut buf = q.spare.pop().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(msg);
        q.items.push_back((at, buf));
        Ok(())
    }

    fn recv_from(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Result<Option<(usize, ())>, ChannelError> {
        let mut q = self.rx.borrow_mut();
        match q.items.front() {
            Some((at, _)) if *at <= now => {}
            _ => return Ok(None),
        }
        let Some((_, msg)) = q.items.pop_front() else {
            return Ok(None);
        };
        let n = msg.len().min(buf.len());
        buf[..n].copy_from_slice(&msg[..n]);
        if q.spare.len() < MAX_SPARE {
            q.spare.push(msg);
        }
        Ok(Some((n, ())))
    }

    fn next_arrival(&self) -> Option<Instant> {
        self.rx.borrow().items.front().map(|(at, _)| *at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Instant {
        Instant::from_micros(n)
    }

    #[test]
    fn delivers_after_delay_in_order() {
        let (mut a, mut b) = channel_pair(Duration::from_micros(100));
        a.send_to(us(10), &(), b"one").unwrap();
        a.send_to(us(20), &(), b"two").unwrap();
        let mut buf = [0u8; 16];
        assert_eq!(b.recv_from(us(109), &mut buf).unwrap(), None);
        assert_eq!(b.next_arrival(), Some(us(110)));
        assert_eq!(b.recv_from(us(110), &mut buf).unwrap(), Some((3, ())));
        assert_eq!(&buf[..3], b"one");
        assert_eq!(b.recv_from(us(119), &mut buf).unwrap(), None);
        assert_eq!(b.recv_from(us(500), &mut buf).unwrap(), Some((3, ())));
        assert_eq!(&buf[..3], b"two");
        b.send_to(us(0), &(), b"back").unwrap();
        assert_eq!(a.recv_from(us(100), &mut buf).unwrap(), Some((4, ())));
    }

    #[test]
    fn peer_gone_and_too_long() {
        let (mut a, b) = channel_pair(Duration::ZERO);
        let big = vec![0u8; crate::wire::MAX_MSG_LEN + 1];
        assert!(matches!(
            a.send_to(Instant::ZERO, &(), &big),
            Err(ChannelError::TooLong { .. })
        ));
        drop(b);
        assert_eq!(
            a.send_to(Instant::ZERO, &(), b"x"),
            Err(ChannelError::PeerGone)
        );
    }
}
