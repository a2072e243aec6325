//! Small UDP workloads between emulated hosts, for tests, the benchmark and the CLI: a
//! ping-like echo exchange ([`udp_ping`]) and a paced or unpaced blast ([`udp_blast`]). Their
//! sockets are created inside the hosts' namespaces with [`Emulation::run_in`] and used from
//! ordinary threads.

use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use netmodels::NodeId;

use crate::emulation::Emulation;
use crate::error::EmulatorError;

/// IPv4 + UDP header bytes.
pub const UDP_IP_HEADER: usize = 28;

fn bind_in(em: &Emulation, host: NodeId, port: u16) -> Result<UdpSocket, EmulatorError> {
    let ip = em.host_ip(host)?;
    em.run_in(host, move || UdpSocket::bind(SocketAddrV4::new(ip, port)))?
        .map_err(|e| EmulatorError::sys(format!("binding a UDP socket in host {host}"), e))
}

/// Asks for a large receive buffer (forced past `rmem_max` when privileged); best effort.
fn set_rcvbuf(s: &UdpSocket, bytes: libc::c_int) {
    use std::os::fd::AsRawFd;
    for opt in [libc::SO_RCVBUFFORCE, libc::SO_RCVBUF] {
        // SAFETY: passes a live c_int of the size given to setsockopt on an open socket.
        let rc = unsafe {
            libc::setsockopt(
                s.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&bytes as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc == 0 {
            return;
        }
    }
}

fn sys(op: &str) -> impl Fn(std::io::Error) -> EmulatorError + '_ {
    move |e| EmulatorError::sys(op, e)
}

/// Sends `count` requests of `size` payload bytes from `from` to an echo server on `to`, one
/// every `interval` (each waits for its reply, at most one second), and returns the round-trip
/// times of the replies that came back.
pub fn udp_ping(
    em: &Emulation,
    from: NodeId,
    to: NodeId,
    count: usize,
    size: usize,
    interval: Duration,
) -> Result<Vec<Duration>, EmulatorError> {
    let server = bind_in(em, to, 7)?;
    let client = bind_in(em, from, 0)?;
    let dst = server.local_addr().map_err(sys("local_addr"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    server
        .set_read_timeout(Some(Duration::from_millis(50)))
        .map_err(sys("set_read_timeout"))?;
    let echo = std::thread::spawn(move || {
        let mut buf = [0u8; 2048];
        while !stop2.load(Ordering::Relaxed) {
            if let Ok((n, peer)) = server.recv_from(&mut buf) {
                let _ = server.send_to(&buf[..n], peer);
            }
        }
    });
    client
        .set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(sys("set_read_timeout"))?;
    let mut rtts = Vec::with_capacity(count);
    let mut buf = [0u8; 2048];
    let mut msg = vec![0u8; size.max(8)];
    for i in 0..count as u64 {
        msg[..8].copy_from_slice(&i.to_be_bytes());
        let t0 = Instant::now();
        client.send_to(&msg, dst).map_err(sys("send_to"))?;
        // Skip stale replies of requests that timed out.
        while let Ok((n, _)) = client.recv_from(&mut buf) {
            if n >= 8 && buf[..8] == i.to_be_bytes() {
                rtts.push(t0.elapsed());
                break;
            }
        }
        std::thread::sleep(interval);
    }
    stop.store(true, Ordering::Relaxed);
    let _ = echo.join();
    Ok(rtts)
}

/// What a blast measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct BlastResult {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received.
    pub received: u64,
    /// IP bytes received (payload + 28 per datagram).
    pub received_ip_bytes: u64,
    /// Received rate in IP bits/s between the first and the last datagram received.
    pub rate_bps: f64,
}

/// Sends `payload`-byte datagrams from `from` to `to` for `duration`, paced at `offered_bps`
/// (IP bits/s; `None`: as fast as the sender can), and measures the rate at which they arrive.
pub fn udp_blast(
    em: &Emulation,
    from: NodeId,
    to: NodeId,
    duration: Duration,
    offered_bps: Option<f64>,
    payload: usize,
) -> Result<BlastResult, EmulatorError> {
    let rx = bind_in(em, to, 9)?;
    set_rcvbuf(&rx, 16 << 20);
    let tx = bind_in(em, from, 0)?;
    let dst: SocketAddr = rx.local_addr().map_err(sys("local_addr"))?;
    rx.set_read_timeout(Some(Duration::from_millis(300)))
        .map_err(sys("set_read_timeout"))?;
    let done = Arc::new(AtomicBool::new(false));
    let done2 = done.clone();
    let receiver = std::thread::spawn(move || {
        raise_priority();
        let mut buf = vec![0u8; 65_536];
        let (mut n, mut bytes) = (0u64, 0u64);
        let mut first: Option<(Instant, u64)> = None;
        let mut last = None;
        loop {
            match rx.recv_from(&mut buf) {
                Ok((len, _)) => {
                    let now = Instant::now();
                    let b = (len + UDP_IP_HEADER) as u64;
                    n += 1;
                    bytes += b;
                    if first.is_none() {
                        first = Some((now, b));
                    }
                    last = Some(now);
                }
                Err(_) if done2.load(Ordering::Relaxed) => break,
                Err(_) => {}
            }
        }
        let rate = match (first, last) {
            (Some((t0, b0)), Some(t1)) if t1 > t0 => {
                (bytes - b0) as f64 * 8.0 / (t1 - t0).as_secs_f64()
            }
            _ => 0.0,
        };
        (n, bytes, rate)
    });
    let sender = std::thread::spawn(move || {
        raise_priority();
        blast_send(&tx, dst, duration, offered_bps, payload)
    });
    let sent = sender
        .join()
        .map_err(|_| EmulatorError::Results("blast sender panicked".into()))?;
    done.store(true, Ordering::Relaxed);
    let (received, received_ip_bytes, rate_bps) = receiver
        .join()
        .map_err(|_| EmulatorError::Results("blast receiver panicked".into()))?;
    Ok(BlastResult {
        sent,
        received,
        received_ip_bytes,
        rate_bps,
    })
}

/// Nice −10 for the calling thread (best effort): the blast's own threads then compete less
/// with unrelated work on a loaded machine, so the measurement is about the emulator.
fn raise_priority() {
    // SAFETY: gettid and setpriority on the calling thread, integer arguments only.
    unsafe {
        let tid = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, -10);
    }
}

fn blast_send(
    tx: &UdpSocket,
    dst: SocketAddr,
    duration: Duration,
    offered_bps: Option<f64>,
    payload: usize,
) -> u64 {
    let msg = vec![0x5au8; payload];
    let per_pkt = ((payload + UDP_IP_HEADER) * 8) as f64;
    let start = Instant::now();
    let mut sent = 0u64;
    while start.elapsed() < duration {
        if let Some(bps) = offered_bps {
            let due = start + Duration::from_secs_f64(sent as f64 * per_pkt / bps);
            let now = Instant::now();
            if due > now {
                // Sleep, never spin: the sender must not take the emulator's CPU. Sleeps
                // overshoot, so packets leave in small bursts; the average rate is kept.
                std::thread::sleep(due - now);
                continue;
            }
        }
        if tx.send_to(&msg, dst).is_ok() {
            sent += 1;
        } else {
            std::thread::yield_now();
        }
    }
    sent
}
