//! The Unix datagram transport, as portus 0.9 and libccp 1.2 use it.
//!
//! Every endpoint binds a path under `/tmp/ccp/`: the agent binds `/tmp/ccp/<ipc-name>`
//! (portus's default name is `portus`), a datapath binds its own path and sends to the agent's.
//! The agent answers each message to the address it came from. Each datagram carries one or
//! more whole messages.
//!
//! Binding is careful about the file system, since agents often run as root:
//! - a name is one plain file name ([`check_ipc_name`]): `../../etc/x` or `a/b` never leave
//!   `/tmp/ccp/` and never create directories;
//! - `/tmp/ccp/` is created with mode 0700, and refused if it is a symbolic link, not a
//!   directory, not owned by the current user, or writable by group or others
//!   ([`prepare_dir`]);
//! - a socket file someone still listens on is never replaced (the error names the process
//!   holding it, from `/proc`); a stale one (nobody bound) is removed and reused; anything
//!   that is not a socket is left alone;
//! - the socket file is removed when the [`UnixTransport`] is dropped, unless it has been
//!   replaced by another socket meanwhile.

use ccp::agent::{Agent, Algorithm};
use ccp::ipc::Transport;
use std::fmt;
use std::fs::{self, File};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
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
/// The longest accepted socket name: `/tmp/ccp/<name>` and its terminating NUL fill at most
/// the 108 bytes of `sockaddr_un.sun_path`.
pub const MAX_IPC_NAME_LEN: usize = 108 - 1 - CCP_DIR.len() - 1;

/// `/tmp/ccp/<name>`. Does not check `name`: [`UnixTransport::bind`] does.
pub fn ccp_path(name: &str) -> PathBuf {
    Path::new(CCP_DIR).join(name)
}

/// Why a socket name was refused by [`check_ipc_name`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidIpcName {
    /// The refused name.
    pub name: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for InvalidIpcName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "expected a plain socket name under {CCP_DIR}/: 1 to {MAX_IPC_NAME_LEN} characters \
             from A-Z a-z 0-9 . _ -, not starting with '.'; {:?} {}",
            self.name, self.reason
        )
    }
}

impl std::error::Error for InvalidIpcName {}

/// Accepts only a plain socket name: non-empty, at most [`MAX_IPC_NAME_LEN`] bytes, made of
/// `[A-Za-z0-9._-]` and not starting with `.` (so no `/`, no NUL, never `.` or `..`).
pub fn check_ipc_name(name: &str) -> Result<(), InvalidIpcName> {
    let bad = |reason: String| {
        Err(InvalidIpcName {
            name: name.to_owned(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("is empty".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return bad(format!("contains {c:?}"));
    }
    if name.starts_with('.') {
        return bad("starts with '.'".into());
    }
    if name.len() > MAX_IPC_NAME_LEN {
        return bad(format!(
            "is {} characters long (the socket address holds at most {MAX_IPC_NAME_LEN})",
            name.len()
        ));
    }
    Ok(())
}

fn err(kind: io::ErrorKind, msg: String) -> io::Error {
    io::Error::new(kind, msg)
}

/// The effective user id of this process.
fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Makes sure `dir` is a directory only the current user can change: creates it with mode
/// 0700 if it is missing; refuses it if it is a symbolic link, not a directory, owned by
/// another user, or writable by group or others (any of which would let someone else replace
/// or redirect the sockets in it).
pub fn prepare_dir(dir: &Path) -> io::Result<()> {
    let shown = dir.display();
    if let Err(e) = fs::DirBuilder::new().mode(0o700).create(dir) {
        if e.kind() != io::ErrorKind::AlreadyExists {
            return Err(err(e.kind(), format!("creating {shown} (mode 0700): {e}")));
        }
    }
    let md = fs::symlink_metadata(dir).map_err(|e| err(e.kind(), format!("{shown}: {e}")))?;
    if md.file_type().is_symlink() {
        let target = fs::read_link(dir)
            .map(|t| format!(" (to {})", t.display()))
            .unwrap_or_default();
        return Err(err(
            io::ErrorKind::PermissionDenied,
            format!(
                "{shown} is a symbolic link{target}; CCP sockets are only created in a real \
                 directory owned by you: remove the link"
            ),
        ));
    }
    if !md.is_dir() {
        return Err(err(
            io::ErrorKind::AlreadyExists,
            format!("{shown} exists but is not a directory; remove it or move it away"),
        ));
    }
    let me = euid();
    if md.uid() != me {
        return Err(err(
            io::ErrorKind::PermissionDenied,
            format!(
                "{shown} is owned by uid {}, not by you (uid {me}): its owner could replace \
                 the sockets in it; run as that user, or remove the directory",
                md.uid()
            ),
        ));
    }
    if md.mode() & 0o022 != 0 {
        return Err(err(
            io::ErrorKind::PermissionDenied,
            format!(
                "{shown} is writable by group or others (mode {:04o}): they could replace the \
                 sockets in it; `chmod 700 {shown}`",
                md.mode() & 0o7777
            ),
        ));
    }
    Ok(())
}

/// Processes holding a Unix socket bound to `path`, best effort: the socket inodes that
/// `/proc/net/unix` lists for the path, then every `/proc/<pid>/fd/*` that links to one of
/// them (`socket:[inode]`). Each is `(pid, command name)`. Empty when `/proc` does not say
/// (another user's processes, another network namespace, no procfs).
pub fn socket_holders(path: &Path) -> Vec<(u32, String)> {
    let Some(want) = path.to_str() else {
        return Vec::new();
    };
    let Ok(table) = fs::read_to_string("/proc/net/unix") else {
        return Vec::new();
    };
    let mut links = Vec::new();
    for line in table.lines().skip(1) {
        // Num RefCount Protocol Flags Type St Inode Path
        let mut rest = line;
        let mut fields = [""; 7];
        for f in &mut fields {
            rest = rest.trim_start();
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            *f = &rest[..end];
            rest = &rest[end..];
        }
        if rest.trim() == want {
            links.push(format!("socket:[{}]", fields[6]));
        }
    }
    if links.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return out;
    };
    for p in procs.flatten() {
        let Some(pid) = p.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(fds) = fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|fd| {
            fs::read_link(fd.path())
                .ok()
                .and_then(|t| t.to_str().map(|t| links.iter().any(|l| l == t)))
                .unwrap_or(false)
        });
        if holds {
            let comm = fs::read_to_string(p.path().join("comm")).unwrap_or_default();
            out.push((pid, comm.trim().to_owned()));
        }
    }
    out.sort();
    out
}

/// "process 1234 (ccp)", "processes 1 (a), 2 (b)" or "an unknown process".
fn describe_holders(path: &Path) -> String {
    let h = socket_holders(path);
    if h.is_empty() {
        return "an unknown process (/proc does not say which)".into();
    }
    let list: Vec<String> = h
        .iter()
        .map(|(pid, comm)| {
            if comm.is_empty() {
                pid.to_string()
            } else {
                format!("{pid} ({comm})")
            }
        })
        .collect();
    let s = if h.len() == 1 { "" } else { "es" };
    format!("process{s} {}", list.join(", "))
}

/// Makes `path` free to bind: nothing there, or a stale socket (which is removed). Refuses a
/// socket someone is bound to (a datagram `connect` to it succeeds) and anything that is not
/// a socket.
fn claim(path: &Path) -> io::Result<()> {
    let shown = path.display();
    let md = match fs::symlink_metadata(path) {
        Ok(md) => md,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err(e.kind(), format!("{shown}: {e}"))),
    };
    if !md.file_type().is_socket() {
        return Err(err(
            io::ErrorKind::AlreadyExists,
            format!("{shown} exists and is not a socket; not replacing it"),
        ));
    }
    match UnixDatagram::unbound().and_then(|s| s.connect(path)) {
        Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
            // Nobody is bound: a socket file left behind by a process that was killed.
            match fs::remove_file(path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => Err(err(
                    e.kind(),
                    format!("removing the stale socket {shown}: {e}"),
                )),
                _ => Ok(()),
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Ok(()) => Err(err(
            io::ErrorKind::AddrInUse,
            format!(
                "{shown} is in use by {}; refusing to replace a live socket (stop that \
                 process, or use another name)",
                describe_holders(path)
            ),
        )),
        // E.g. a stream socket is bound there: someone is, whatever it is.
        Err(e) => Err(err(
            io::ErrorKind::AddrInUse,
            format!(
                "{shown} exists and may be in use ({e}; held by {}); refusing to replace it",
                describe_holders(path)
            ),
        )),
    }
}

/// An exclusive `flock` on a directory, so that two of our binds of one path in it cannot
/// both find it stale and take turns replacing each other's socket.
struct DirLock {
    _file: File,
}

impl DirLock {
    fn new(dir: &Path) -> io::Result<Self> {
        let f = File::open(dir).map_err(|e| err(e.kind(), format!("{}: {e}", dir.display())))?;
        // SAFETY: `f` is an open file descriptor for the duration of the call.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } != 0 {
            let e = io::Error::last_os_error();
            return Err(err(e.kind(), format!("locking {}: {e}", dir.display())));
        }
        Ok(DirLock { _file: f })
    }
}

/// A bound Unix datagram socket. Its socket file is removed when it is dropped (if it is
/// still the file this socket created).
#[derive(Debug)]
pub struct UnixTransport {
    sock: UnixDatagram,
    path: PathBuf,
    /// Device and inode of the socket file this transport created.
    file_id: (u64, u64),
}

impl UnixTransport {
    /// Binds `/tmp/ccp/<name>`, with a 10 ms read timeout. `name` must pass
    /// [`check_ipc_name`]; the directory is created or checked by [`prepare_dir`]; a live
    /// socket of the same name is refused (naming the process holding it), a stale one is
    /// replaced.
    pub fn bind(name: &str) -> io::Result<Self> {
        check_ipc_name(name).map_err(|e| {
            err(
                io::ErrorKind::InvalidInput,
                format!("invalid CCP socket name: {e}"),
            )
        })?;
        prepare_dir(Path::new(CCP_DIR))?;
        Self::bind_path(ccp_path(name))
    }

    /// Binds an explicit path, with a 10 ms read timeout. Its directory must exist (none is
    /// created); a live socket at the path is refused (naming the process holding it), a
    /// stale one is replaced, anything else there is left alone and refused.
    pub fn bind_path(path: impl Into<PathBuf>) -> io::Result<Self> {
        let path = path.into();
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let lock = DirLock::new(dir)?;
        claim(&path)?;
        let sock = UnixDatagram::bind(&path)
            .map_err(|e| err(e.kind(), format!("binding {}: {e}", path.display())))?;
        let md = fs::symlink_metadata(&path)?;
        drop(lock);
        sock.set_read_timeout(Some(Duration::from_millis(10)))?;
        Ok(UnixTransport {
            sock,
            path,
            file_id: (md.dev(), md.ino()),
        })
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
        // Only our own socket file: if someone replaced it meanwhile, theirs stays.
        if let Ok(md) = fs::symlink_metadata(&self.path) {
            if (md.dev(), md.ino()) == self.file_id {
                let _ = fs::remove_file(&self.path);
            }
        }
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
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        // A signal arrived (e.g. the one that asks the agent loop to stop).
                        | io::ErrorKind::Interrupted
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
