//! The same two workloads over the kernel's TCP, with the congestion control chosen per
//! socket (`setsockopt(TCP_CONGESTION)`: `reno`, `cubic`, `bbr`, whatever
//! `/proc/sys/net/ipv4/tcp_available_congestion_control` lists).
//!
//! Bulk: the sender writes an 8-byte header (the byte count, `u64::MAX` for "until EOF"),
//! the pattern bytes of [`super::bulk_source`], and shuts its side down; the receiver reads to
//! EOF and answers with 16 bytes (byte count, digest or 0). The sender's time ends with that
//! answer, so its goodput counts only delivered bytes.
//!
//! Request/response: one connection with `TCP_NODELAY`; a request is a 16-byte header
//! (response bytes u64, request bytes u64, big-endian) and `req_bytes − 16` padding bytes;
//! the server answers request `k` of the connection with the bytes of
//! [`super::response_source`]`(2k + 1)`, as the UDP server does.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Instant as StdInstant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::payload::{Digest, Reassembly, Source, HEADER_LEN};
use super::{bulk_source, response_source, Amount, RecvReport, RequestResult, SendReport};
use super::{endpoint::rate, RttSummary, StreamError};

/// Sets the socket's congestion control (`TCP_CONGESTION`).
pub fn set_congestion(fd: &impl AsRawFd, name: &str) -> io::Result<()> {
    // SAFETY: the fd is open for the call; the pointer and length describe `name`'s bytes.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            name.as_ptr().cast(),
            name.len() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("TCP_CONGESTION {name:?}: {e} (available: {})", available()),
        ));
    }
    Ok(())
}

/// The socket's congestion control.
pub fn congestion(fd: &impl AsRawFd) -> io::Result<String> {
    let mut buf = [0u8; 32];
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: the fd is open; `buf` and `len` are valid for writes of `len` bytes.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_CONGESTION,
            buf.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let b = &buf[..(len as usize).min(buf.len())];
    let end = b.iter().position(|&c| c == 0).unwrap_or(b.len());
    Ok(String::from_utf8_lossy(&b[..end]).into_owned())
}

/// What the kernel offers (`tcp_available_congestion_control`), for error messages.
pub fn available() -> String {
    std::fs::read_to_string("/proc/sys/net/ipv4/tcp_available_congestion_control")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into())
}

async fn connect(to: SocketAddr, cc: &str) -> io::Result<TcpStream> {
    let s = match to {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    set_congestion(&s, cc)?;
    s.connect(to).await
}

fn tcp_info_retrans(s: &TcpStream) -> (u64, u32) {
    // SAFETY: tcp_info is plain data; getsockopt writes at most `len` bytes into it.
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let rc = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&mut info as *mut libc::tcp_info).cast(),
            &mut len,
        );
        if rc != 0 {
            return (0, 0);
        }
        (u64::from(info.tcpi_total_retrans), info.tcpi_rtt)
    }
}

/// One bulk flow to `to` with congestion control `cc`.
pub async fn bulk_send_one(
    to: SocketAddr,
    stream: u32,
    amount: Amount,
    cc: &str,
    verify: bool,
) -> Result<SendReport, StreamError> {
    let mut s = connect(to, cc).await?;
    let cc_name = congestion(&s)?;
    let t0 = StdInstant::now();
    let total = match amount {
        Amount::Bytes(b) => b,
        Amount::Duration(_) => u64::MAX,
    };
    s.write_all(&total.to_be_bytes()).await?;
    let src = bulk_source(stream);
    let mut buf = vec![0u8; 256 * 1024];
    let mut digest = verify.then(Digest::default);
    let mut off = 0u64;
    loop {
        let n = match amount {
            Amount::Bytes(b) => (b - off).min(buf.len() as u64) as usize,
            Amount::Duration(d) => {
                if t0.elapsed() >= std::time::Duration::from(d) {
                    0
                } else {
                    buf.len()
                }
            }
        };
        if n == 0 {
            break;
        }
        src.fill(off, &mut buf[..n]);
        if let Some(d) = &mut digest {
            d.update(&buf[..n]);
        }
        s.write_all(&buf[..n]).await?;
        off += n as u64;
    }
    s.shutdown().await?;
    let mut ans = [0u8; 16];
    s.read_exact(&mut ans).await?;
    let secs = t0.elapsed().as_secs_f64();
    let got = u64::from_be_bytes(ans[..8].try_into().unwrap_or_default());
    if got != off {
        return Err(StreamError::Protocol(format!(
            "receiver got {got} of {off} bytes"
        )));
    }
    let (retrans, rtt) = tcp_info_retrans(&s);
    Ok(SendReport {
        peer: to.to_string(),
        stream,
        cc: format!("linux-tcp:{cc_name}"),
        bytes: off,
        secs,
        goodput_bps: rate(off, secs),
        segments_sent: 0,
        retransmitted_segments: retrans,
        timeouts: 0,
        recoveries: 0,
        fell_back: false,
        rtt_us: RttSummary {
            count: 1,
            min: rtt,
            p50: rtt,
            p99: rtt,
            max: rtt,
            mean: f64::from(rtt),
        },
        digest: digest.map(|d| format!("{:016x}", d.value())),
    })
}

/// `flows` parallel bulk flows (on the current task's runtime, as local tasks).
pub async fn bulk_send(
    to: SocketAddr,
    flows: u32,
    amount: Amount,
    cc: &str,
    verify: bool,
) -> Result<Vec<SendReport>, StreamError> {
    let mut tasks = Vec::new();
    for id in 0..flows {
        let cc = cc.to_owned();
        tasks.push(tokio::task::spawn_local(async move {
            bulk_send_one(to, id, amount, &cc, verify).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            t.await
                .map_err(|e| StreamError::Protocol(format!("sender task: {e}")))??,
        );
    }
    Ok(out)
}

async fn recv_one(
    mut s: TcpStream,
    peer: SocketAddr,
    stream: u32,
    verify: bool,
) -> Result<RecvReport, StreamError> {
    let t0 = StdInstant::now();
    let mut head = [0u8; 8];
    s.read_exact(&mut head).await?;
    let mut app = Reassembly::new(verify);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = s.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        let at = app.delivered();
        app.on_payload(at, &buf[..n]);
    }
    let bytes = app.delivered();
    let mut ans = [0u8; 16];
    ans[..8].copy_from_slice(&bytes.to_be_bytes());
    ans[8..].copy_from_slice(&app.digest().unwrap_or(0).to_be_bytes());
    s.write_all(&ans).await?;
    let secs = t0.elapsed().as_secs_f64();
    Ok(RecvReport {
        peer: peer.to_string(),
        stream,
        bytes,
        secs,
        goodput_bps: rate(bytes, secs),
        digest: app.digest().map(|d| format!("{d:016x}")),
        segments: 0,
        duplicate_segments: 0,
        out_of_order_segments: 0,
        request: None,
    })
}

/// Accepts `flows` bulk connections on `listener` and receives each to EOF.
pub async fn bulk_recv(
    listener: TcpListener,
    flows: u32,
    verify: bool,
) -> Result<Vec<RecvReport>, StreamError> {
    let mut tasks = Vec::new();
    for id in 0..flows {
        let (s, peer) = listener.accept().await?;
        tasks.push(tokio::task::spawn_local(recv_one(s, peer, id, verify)));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            t.await
                .map_err(|e| StreamError::Protocol(format!("receiver task: {e}")))??,
        );
    }
    Ok(out)
}

/// Request/response client over one TCP connection.
pub async fn rr_client(
    to: SocketAddr,
    requests: u64,
    req_bytes: u64,
    resp_bytes: u64,
    cc: &str,
    verify: bool,
) -> Result<Vec<RequestResult>, StreamError> {
    let mut s = connect(to, cc).await?;
    s.set_nodelay(true)?;
    let req_bytes = req_bytes.max(HEADER_LEN as u64);
    let mut out = Vec::new();
    let mut req = vec![0u8; req_bytes as usize];
    let mut buf = vec![0u8; 256 * 1024];
    for k in 0..requests {
        Source::request(resp_bytes, k).fill(0, &mut req);
        req[8..16].copy_from_slice(&req_bytes.to_be_bytes());
        let t0 = StdInstant::now();
        s.write_all(&req).await?;
        let mut app = Reassembly::new(verify);
        while app.delivered() < resp_bytes {
            let want = (resp_bytes - app.delivered()).min(buf.len() as u64) as usize;
            let n = s.read(&mut buf[..want]).await?;
            if n == 0 {
                return Err(StreamError::Protocol("server closed the connection".into()));
            }
            let at = app.delivered();
            app.on_payload(at, &buf[..n]);
        }
        let fct = t0.elapsed();
        let intact = verify.then(|| {
            let id = u32::try_from(2 * k).unwrap_or(u32::MAX).wrapping_add(1);
            app.digest() == Some(super::payload::digest_of(&response_source(id), resp_bytes))
        });
        out.push(RequestResult {
            id: k,
            req_bytes,
            resp_bytes,
            fct_us: fct.as_nanos() as f64 / 1e3,
            intact,
        });
    }
    Ok(out)
}

async fn serve_conn(mut s: TcpStream, cc: String) -> Result<u64, StreamError> {
    set_congestion(&s, &cc)?;
    s.set_nodelay(true)?;
    let mut served = 0u64;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let mut head = [0u8; HEADER_LEN];
        match s.read_exact(&mut head).await {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(served),
            Err(e) => return Err(e.into()),
        }
        let resp = u64::from_be_bytes(head[..8].try_into().unwrap_or_default());
        let req = u64::from_be_bytes(head[8..].try_into().unwrap_or_default());
        let mut pad = req.saturating_sub(HEADER_LEN as u64);
        while pad > 0 {
            let n = pad.min(buf.len() as u64) as usize;
            s.read_exact(&mut buf[..n]).await?;
            pad -= n as u64;
        }
        let id = u32::try_from(2 * served)
            .unwrap_or(u32::MAX)
            .wrapping_add(1);
        let src = response_source(id);
        let mut off = 0u64;
        while off < resp {
            let n = (resp - off).min(buf.len() as u64) as usize;
            src.fill(off, &mut buf[..n]);
            s.write_all(&buf[..n]).await?;
            off += n as u64;
        }
        served += 1;
    }
}

/// Serves request/response connections on `listener` until `stop_after` passes (or
/// forever), with congestion control `cc` on each accepted socket.
pub async fn rr_server(
    listener: TcpListener,
    cc: &str,
    stop_after: Option<std::time::Duration>,
) -> Result<u64, StreamError> {
    let served = std::rc::Rc::new(std::cell::Cell::new(0u64));
    let accept = async {
        loop {
            let (s, _) = listener.accept().await?;
            let cc = cc.to_owned();
            let served = served.clone();
            tokio::task::spawn_local(async move {
                if let Ok(n) = serve_conn(s, cc).await {
                    served.set(served.get() + n);
                }
            });
        }
        #[allow(unreachable_code)]
        Ok::<(), io::Error>(())
    };
    match stop_after {
        Some(d) => {
            let _ = tokio::time::timeout(d, accept).await;
        }
        None => accept.await?,
    }
    Ok(served.get())
}
