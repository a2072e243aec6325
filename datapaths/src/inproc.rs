//! An in-process datagram network between threads: a memory channel standing in for a
//! runtime reached in another thread (the thesis's Shenango-A), used as the "in-process"
//! backend of the Bertha experiments (Fig 3.3's base connection, Fig 3.11's portability run).
//!
//! A [`MemNet`] hands out [`MemSocket`]s with `u32` addresses (1, 2, ...). A send copies the
//! datagram into the destination's mailbox (a mutex-protected queue) and wakes its receiver,
//! which may be a task of another runtime on another thread. A mailbox holds at most the net's
//! capacity; what a send does when it is full is the net's [`WhenFull`]: wait for room (no
//! loss for lack of room, unlike UDP) or drop the datagram and count it (as a full socket
//! buffer drops). A send to an address nobody holds is dropped, as UDP drops it. Sockets may
//! live on different threads and runtimes; the directory is touched once per send.

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use netrt::DatagramSocket;

/// What a send does when the destination's mailbox is full.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Wait until the receiver has taken a datagram.
    Wait,
    /// Drop the datagram and count it ([`MemSocket::dropped`]).
    Drop,
}

#[derive(Debug, Default)]
struct Mailbox {
    queue: VecDeque<(u32, Vec<u8>)>,
    /// The receiver's wakers.
    receivers: Vec<Waker>,
    /// Senders waiting for room ([`WhenFull::Wait`]).
    senders: Vec<Waker>,
    dropped: u64,
}

type Shared = Arc<Mutex<Mailbox>>;

#[derive(Debug)]
struct Directory {
    next: u32,
    boxes: BTreeMap<u32, Shared>,
    capacity: usize,
    when_full: WhenFull,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Adds the task's waker to `wakers` unless an equivalent one is there.
fn register(wakers: &mut Vec<Waker>, cx: &Context<'_>) {
    if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
        wakers.push(cx.waker().clone());
    }
}

/// The network: which address holds which mailbox. Clones share it (and may be sent to other
/// threads).
#[derive(Clone, Debug)]
pub struct MemNet(Arc<Mutex<Directory>>);

impl MemNet {
    /// A new, empty network whose mailboxes hold `capacity` datagrams (at least 1) and whose
    /// sends do `when_full` when one is full.
    pub fn new(capacity: usize, when_full: WhenFull) -> Self {
        MemNet(Arc::new(Mutex::new(Directory {
            next: 0,
            boxes: BTreeMap::new(),
            capacity: capacity.max(1),
            when_full,
        })))
    }

    /// A socket at a fresh address (1, 2, ...).
    pub fn bind(&self) -> MemSocket {
        let mut d = lock(&self.0);
        d.next += 1;
        let addr = d.next;
        let mailbox = Shared::default();
        d.boxes.insert(addr, mailbox.clone());
        MemSocket {
            net: self.clone(),
            addr,
            mailbox,
        }
    }
}

/// One end on a [`MemNet`]; its address is released when it is dropped.
#[derive(Debug)]
pub struct MemSocket {
    net: MemNet,
    addr: u32,
    mailbox: Shared,
}

impl MemSocket {
    /// Datagrams dropped because this socket's mailbox was full ([`WhenFull::Drop`]).
    pub fn dropped(&self) -> u64 {
        lock(&self.mailbox).dropped
    }
}

impl Drop for MemSocket {
    fn drop(&mut self) {
        lock(&self.net.0).boxes.remove(&self.addr);
        // Senders waiting for room here would wait forever: let them find the address gone.
        let waiting = std::mem::take(&mut lock(&self.mailbox).senders);
        for w in waiting {
            w.wake();
        }
    }
}

impl DatagramSocket for MemSocket {
    type Addr = u32;

    async fn send_to(&self, buf: &[u8], target: &u32) -> io::Result<usize> {
        let (dest, capacity, when_full) = {
            let d = lock(&self.net.0);
            (d.boxes.get(target).cloned(), d.capacity, d.when_full)
        };
        let Some(dest) = dest else {
            return Ok(buf.len());
        };
        let mut datagram = Some(buf.to_vec());
        poll_fn(|cx| {
            let wake = {
                let mut m = lock(&dest);
                if m.queue.len() < capacity {
                    if let Some(d) = datagram.take() {
                        m.queue.push_back((self.addr, d));
                    }
                    std::mem::take(&mut m.receivers)
                } else if when_full == WhenFull::Drop
                    || !lock(&self.net.0).boxes.contains_key(target)
                {
                    // Dropped when full, or the receiver went away while this send waited.
                    if when_full == WhenFull::Drop {
                        m.dropped += 1;
                    }
                    Vec::new()
                } else {
                    register(&mut m.senders, cx);
                    return Poll::Pending;
                }
            };
            for w in wake {
                w.wake();
            }
            Poll::Ready(())
        })
        .await;
        Ok(buf.len())
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, u32)> {
        let (from, data) = poll_fn(|cx| {
            let (got, wake) = {
                let mut m = lock(&self.mailbox);
                match m.queue.pop_front() {
                    Some(d) => (d, std::mem::take(&mut m.senders)),
                    None => {
                        register(&mut m.receivers, cx);
                        return Poll::Pending;
                    }
                }
            };
            for w in wake {
                w.wake();
            }
            Poll::Ready(got)
        })
        .await;
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        Ok((n, from))
    }

    fn local_addr(&self) -> io::Result<u32> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn datagrams_cross_threads_in_order_and_unknown_addresses_drop() {
        for when_full in [WhenFull::Wait, WhenFull::Drop] {
            let net = MemNet::new(16, when_full);
            let a = net.bind();
            let b = net.bind();
            let (ab, bb) = (a.addr, b.addr);
            let t = std::thread::spawn(move || {
                block_on(async {
                    let mut buf = [0u8; 16];
                    let mut got = Vec::new();
                    for _ in 0..3 {
                        let (n, from) = b.recv_from(&mut buf).await.unwrap();
                        got.push((from, buf[..n].to_vec()));
                    }
                    got
                })
            });
            block_on(async {
                a.send_to(b"lost", &99).await.unwrap();
                for m in [&b"one"[..], b"two", b"three"] {
                    a.send_to(m, &bb).await.unwrap();
                }
            });
            let got = t.join().unwrap();
            let want = [&b"one"[..], b"two", b"three"].map(|m| (ab, m.to_vec()));
            assert_eq!(got, want, "{when_full:?}");
        }
    }

    #[test]
    fn a_full_mailbox_drops_and_counts_under_drop() {
        let net = MemNet::new(2, WhenFull::Drop);
        let (a, b) = (net.bind(), net.bind());
        block_on(async {
            for i in 0..5u8 {
                a.send_to(&[i], &b.addr).await.unwrap();
            }
            assert_eq!(b.dropped(), 3);
            let mut buf = [0u8; 4];
            for want in [0u8, 1] {
                let (n, from) = b.recv_from(&mut buf).await.unwrap();
                assert_eq!((&buf[..n], from), (&[want][..], a.addr));
            }
        });
    }

    #[test]
    fn a_full_mailbox_makes_the_sender_wait_under_wait() {
        let net = MemNet::new(2, WhenFull::Wait);
        let (a, b) = (net.bind(), net.bind());
        let to = b.addr;
        // The receiver starts reading only after the sender has filled the mailbox; every
        // datagram still arrives, in order, and nothing is dropped.
        let sender = std::thread::spawn(move || {
            block_on(async {
                for i in 0..50u8 {
                    a.send_to(&[i], &to).await.unwrap();
                }
            });
            a
        });
        while lock(&b.mailbox).queue.len() < 2 {
            std::thread::yield_now();
        }
        let got = block_on(async {
            let mut buf = [0u8; 4];
            let mut got = Vec::new();
            for _ in 0..50 {
                let (n, _) = b.recv_from(&mut buf).await.unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        sender.join().unwrap();
        assert_eq!(got, (0..50u8).collect::<Vec<_>>());
        assert_eq!(b.dropped(), 0);
    }

    #[test]
    fn a_waiting_sender_is_released_when_the_receiver_goes() {
        let net = MemNet::new(1, WhenFull::Wait);
        let (a, b) = (net.bind(), net.bind());
        let to = b.addr;
        block_on(async { a.send_to(b"fills", &to).await.unwrap() });
        let sender = std::thread::spawn(move || block_on(async { a.send_to(b"waits", &to).await }));
        while lock(&b.mailbox).senders.is_empty() {
            std::thread::yield_now();
        }
        drop(b);
        assert_eq!(sender.join().unwrap().unwrap(), 5);
    }
}
