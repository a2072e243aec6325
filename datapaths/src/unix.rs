//! The Unix datagram transport, as portus 0.9 and libccp 1.2 use it.
//!
//! Every endpoint binds a path under `/tmp/ccp/`: the agent binds `/tmp/ccp/<ipc-name>`
//! (portus's default name is `portus`), a datapath binds its own path and sends to the agent's.
//! The agent answers each message to the address it came from. Each datagram carries one or
//! more whole messages.

use ccp::agent::{Agent, Algorithm};
use ccp::ipc::Transport;
use std::io;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The directory all CCP sockets live in.
pub const CCP_DIR: &str = "/tmp/ccp";
/// portus's default agent socket name.
pub const DEFAULT_IPC_NAME: &str = "portus";
/// Receive buffer size (larger than any CCP message).
pub const RECV_BUF: usize = 65_536;

/// `/tmp/ccp/<name>`.
pub fn ccp_path(name: &str) -> PathBuf {
    Path::new(CCP_DIR).join(name)
}

/// A bound Unix datagram socket. Its socket file is removed when it is dropped.
#[derive(Debug)]
pub struct UnixTransport {
    sock: UnixDatagram,
    path: PathBuf,
}

impl UnixTransport {
    /// Binds `/tmp/ccp/<name>` (creating the directory, replacing a stale socket file), with
    /// a 10 ms read timeout.
    pub fn bind(name: &str) -> io::Result<Self> {
        Self::bind_path(ccp_path(name))
    }

    /// Binds an explicit path (replacing a stale socket file), with a 10 ms read timeout.
    pub fn bind_path(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let sock = UnixDatagram::bind(&path)?;
        sock.set_read_timeout(Some(Duration::from_millis(10)))?;
        Ok(UnixTransport { sock, path })
    }

    /// Sets how long [`Transport::recv_from`] waits for a datagram (`None`: forever).
    pub fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(t)
    }

    /// The bound path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The underlying socket.
    pub fn socket(&self) -> &UnixDatagram {
        &self.sock
    }
}

impl Drop for UnixTransport {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Transport for UnixTransport {
    type Addr = PathBuf;
    type Error = io::Error;

    fn send_to(&mut self, _now: netrt::Instant, to: &PathBuf, msg: &[u8]) -> io::Result<()> {
        self.sock.send_to(msg, to).map(|_| ())
    }

    fn recv_from(
        &mut self,
        _now: netrt::Instant,
        buf: &mut [u8],
    ) -> io::Result<Option<(usize, PathBuf)>> {
        match self.sock.recv_from(buf) {
            Ok((n, addr)) => Ok(Some((
                n,
                addr.as_pathname()
                    .map(Path::to_path_buf)
                    .unwrap_or_default(),
            ))),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }
}

/// Counters of [`run_agent`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoopStats {
    /// Datagrams received.
    pub received: u64,
    /// Datagrams that did not decode or were refused by the agent.
    pub bad: u64,
    /// Sends that failed (e.g. the datapath went away).
    pub send_errors: u64,
}

/// Runs `agent` on `transport` until `stop` is set: receive, handle, send every answer to the
/// address it is for. `now` is the monotonic time since the call.
pub fn run_agent<A: Algorithm>(
    agent: &mut Agent<A, PathBuf>,
    transport: &mut UnixTransport,
    stop: &AtomicBool,
) -> io::Result<LoopStats> {
    let start = Instant::now();
    let mut buf = vec![0u8; RECV_BUF];
    let mut stats = LoopStats::default();
    while !stop.load(Ordering::Relaxed) {
        let now = netrt::Instant::ZERO + netrt::Duration::from(start.elapsed());
        if let Some((n, from)) = transport.recv_from(now, &mut buf)? {
            stats.received += 1;
            if agent.handle_bytes(now, &from, &buf[..n]).is_err() {
                stats.bad += 1;
            }
        }
        while let Some((to, msg)) = agent.poll_transmit() {
            if transport.send_to(now, &to, &msg).is_err() {
                stats.send_errors += 1;
            }
        }
    }
    Ok(stats)
}
