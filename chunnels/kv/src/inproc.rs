//! An in-process datagram network between threads: the "in-process" backend of the
//! portability experiment ([`crate::portability`]), standing in for the paper's Shenango-A
//! (a runtime in another thread, reached through a memory channel).
//!
//! A [`MemNet`] hands out [`MemSocket`]s with `u32` addresses. A send copies the datagram
//! into the destination's mailbox (a mutex-protected queue) and wakes its receiver, which may
//! be a task of another runtime on another thread. A mailbox holds at most [`MAILBOX`]
//! datagrams; one more is dropped and counted, as a full socket buffer drops. A send to an
//! address nobody holds is dropped, as UDP drops it.

use std::collections::{BTreeMap, VecDeque};
use std::future::poll_fn;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use netrt::DatagramSocket;

/// Datagrams a mailbox holds; more are dropped.
pub const MAILBOX: usize = 4096;

#[derive(Debug, Default)]
struct Mailbox {
    queue: VecDeque<(u32, Vec<u8>)>,
    waiting: Vec<Waker>,
    dropped: u64,
}

type Shared = Arc<Mutex<Mailbox>>;

#[derive(Debug, Default)]
struct Directory {
    next: u32,
    boxes: BTreeMap<u32, Shared>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The network: which address holds which mailbox. Clones share it (and may be sent to other
/// threads).
#[derive(Clone, Debug, Default)]
pub struct MemNet(Arc<Mutex<Directory>>);

impl MemNet {
    /// A new, empty network.
    pub fn new() -> Self {
        MemNet::default()
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
    /// Datagrams dropped because this socket's mailbox was full.
    pub fn dropped(&self) -> u64 {
        lock(&self.mailbox).dropped
    }
}

impl Drop for MemSocket {
    fn drop(&mut self) {
        lock(&self.net.0).boxes.remove(&self.addr);
    }
}

impl DatagramSocket for MemSocket {
    type Addr = u32;

    async fn send_to(&self, buf: &[u8], target: &u32) -> io::Result<usize> {
        let dest = lock(&self.net.0).boxes.get(target).cloned();
        if let Some(dest) = dest {
            let wake = {
                let mut m = lock(&dest);
                if m.queue.len() >= MAILBOX {
                    m.dropped += 1;
                    Vec::new()
                } else {
                    m.queue.push_back((self.addr, buf.to_vec()));
                    std::mem::take(&mut m.waiting)
                }
            };
            for w in wake {
                w.wake();
            }
        }
        Ok(buf.len())
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, u32)> {
        let (from, data) = poll_fn(|cx| {
            let mut m = lock(&self.mailbox);
            match m.queue.pop_front() {
                Some(d) => Poll::Ready(d),
                None => {
                    if !m.waiting.iter().any(|w| w.will_wake(cx.waker())) {
                        m.waiting.push(cx.waker().clone());
                    }
                    Poll::Pending
                }
            }
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
    use datapaths::tokio_rt::TokioRuntime;

    #[test]
    fn datagrams_cross_threads_in_order_and_unknown_addresses_drop() {
        let net = MemNet::new();
        let a = net.bind();
        let b = net.bind();
        let (ab, bb) = (a.addr, b.addr);
        let t = std::thread::spawn(move || {
            let rt = TokioRuntime::new().unwrap();
            rt.block_on(async {
                let mut buf = [0u8; 3];
                let mut got = Vec::new();
                for _ in 0..3 {
                    let (n, from) = b.recv_from(&mut buf).await.unwrap();
                    got.push((from, buf[..n].to_vec()));
                }
                got
            })
        });
        let rt = TokioRuntime::new().unwrap();
        rt.block_on(async {
            a.send_to(b"lost", &99).await.unwrap();
            for m in [&b"one"[..], b"two", b"three"] {
                a.send_to(m, &bb).await.unwrap();
            }
        });
        let got = t.join().unwrap();
        assert_eq!(
            got,
            vec![
                (ab, b"one".to_vec()),
                (ab, b"two".to_vec()),
                (ab, b"thr".to_vec())
            ]
        );
    }

    #[test]
    fn a_full_mailbox_drops_and_counts() {
        let net = MemNet::new();
        let (a, b) = (net.bind(), net.bind());
        let rt = TokioRuntime::new().unwrap();
        rt.block_on(async {
            for _ in 0..MAILBOX + 3 {
                a.send_to(b"x", &b.addr).await.unwrap();
            }
        });
        assert_eq!(b.dropped(), 3);
    }
}
