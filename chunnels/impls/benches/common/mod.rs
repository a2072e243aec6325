//! What the benchmarks share: echo servers (raw and over a negotiated empty stack) and
//! sockets at fresh addresses on each real backend.

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use chunnel::negotiate::listen;
use chunnel::{stack, ChunnelConnection, NegotiateConfig, Registry};
use datapaths::tokio_rt::TokioRuntime;
use netrt::{DatagramSocket, Runtime};

/// The raw echo server: every datagram back to its sender.
pub fn raw_echo<S: DatagramSocket + 'static>(rt: &TokioRuntime, sock: Rc<S>) {
    rt.spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if sock.send_to(&buf[..n], &from).await.is_err() {
                break;
            }
        }
    });
}

/// A negotiating echo server with the empty stack: every connection's data back.
pub fn noop_echo<S>(rt: &TokioRuntime, sock: Rc<S>)
where
    S: DatagramSocket + 'static,
    S::Addr: Ord,
{
    let listener = listen(
        rt,
        sock,
        stack![],
        Registry::new(),
        NegotiateConfig::default(),
    );
    let rt2 = rt.clone();
    rt.spawn(async move {
        while let Ok((_, conn, _)) = listener.accept().await {
            rt2.spawn(async move {
                while let Ok(d) = conn.recv().await {
                    if conn.send(d).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
}

pub fn udp(rt: &TokioRuntime) -> datapaths::tokio_rt::UdpSocket {
    rt.block_on(rt.bind_udp("127.0.0.1:0".parse().expect("addr")))
        .expect("bind udp")
}

thread_local! {
    static DIR: RefCell<Option<(tempfile::TempDir, u64)>> = const { RefCell::new(None) };
}

pub fn unix(rt: &TokioRuntime) -> datapaths::tokio_rt::UnixDatagram {
    let path: PathBuf = DIR.with(|d| {
        let mut d = d.borrow_mut();
        let (dir, n) = d.get_or_insert_with(|| (tempfile::tempdir().expect("tempdir"), 0));
        *n += 1;
        dir.path().join(format!("s{n}.sock"))
    });
    rt.bind_unix(path).expect("bind unix")
}

/// Datagrams as length-prefixed frames over loopback TCP connections (one per peer).
pub fn tcp(rt: &TokioRuntime) -> datapaths::tcp_dgram::TcpDatagrams {
    rt.block_on(rt.bind_tcp("127.0.0.1:0".parse().expect("addr")))
        .expect("bind tcp")
}
