//! An in-process datagram socket between threads: the "in-process" base connection of thesis
//! Fig 3.3 (a memory channel, as Shenango-A's runtime-in-a-thread).
//!
//! An [`InProcNet`] hands out [`InProcSocket`]s, each with a `u32` address and a bounded
//! mailbox (a tokio channel). `send_to` copies the bytes into the destination's mailbox and
//! waits while it is full, so nothing is dropped for lack of room (unlike UDP); a send to an
//! address nobody holds is dropped, as UDP would. Sockets may live on different threads and
//! runtimes: the net is shared behind a mutex, touched once per send to look the mailbox up.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Arc, Mutex};

use netrt::DatagramSocket;
use tokio::sync::mpsc;

/// Datagrams a mailbox holds before senders wait.
pub const MAILBOX: usize = 256;

type Mail = (u32, Vec<u8>);

/// The network: who holds which address.
#[derive(Clone, Debug, Default)]
pub struct InProcNet(Arc<Mutex<Boxes>>);

#[derive(Debug, Default)]
struct Boxes {
    next: u32,
    by_addr: BTreeMap<u32, mpsc::Sender<Mail>>,
}

impl InProcNet {
    fn boxes(&self) -> std::sync::MutexGuard<'_, Boxes> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A socket at a fresh address (1, 2, ...).
    pub fn bind(&self) -> InProcSocket {
        let (tx, rx) = mpsc::channel(MAILBOX);
        let mut b = self.boxes();
        b.next += 1;
        let addr = b.next;
        b.by_addr.insert(addr, tx);
        InProcSocket {
            net: self.clone(),
            addr,
            rx: tokio::sync::Mutex::new(rx),
        }
    }
}

/// One end on an [`InProcNet`]; its address is released when it is dropped.
#[derive(Debug)]
pub struct InProcSocket {
    net: InProcNet,
    addr: u32,
    rx: tokio::sync::Mutex<mpsc::Receiver<Mail>>,
}

impl Drop for InProcSocket {
    fn drop(&mut self) {
        self.net.boxes().by_addr.remove(&self.addr);
    }
}

impl DatagramSocket for InProcSocket {
    type Addr = u32;

    async fn send_to(&self, buf: &[u8], target: &u32) -> io::Result<usize> {
        let tx = self.net.boxes().by_addr.get(target).cloned();
        if let Some(tx) = tx {
            // A receiver gone since the lookup: dropped, as to an unknown address.
            let _ = tx.send((self.addr, buf.to_vec())).await;
        }
        Ok(buf.len())
    }

    async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, u32)> {
        let mut rx = self.rx.lock().await;
        match rx.recv().await {
            Some((from, b)) => {
                let n = b.len().min(buf.len());
                buf[..n].copy_from_slice(&b[..n]);
                Ok((n, from))
            }
            None => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "in-process net closed",
            )),
        }
    }

    fn local_addr(&self) -> io::Result<u32> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_cross_threads_in_order_and_unknown_addresses_drop() {
        let net = InProcNet::default();
        let a = net.bind();
        let b = net.bind();
        let (ab, bb) = (a.addr, b.addr);
        let t = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap();
            rt.block_on(async {
                let mut buf = [0u8; 16];
                let mut got = Vec::new();
                for _ in 0..3 {
                    let (n, from) = b.recv_from(&mut buf).await.unwrap();
                    got.push((from, buf[..n].to_vec()));
                }
                got
            })
        });
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
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
                (ab, b"three".to_vec())
            ]
        );
    }
}
