//! Emulated hosts as anonymous network namespaces, each with one TUN device.
//!
//! A short-lived thread `unshare(CLONE_NEWNET)`s, opens `/proc/thread-self/ns/net`, creates the
//! TUN device inside, gives it the host's address (`10.x.y.1/8`, so every other host is
//! reachable through it) and brings it and `lo` up; then the thread ends. The process keeps
//! only the namespace and TUN file descriptors. Nothing has a name in the initial namespace
//! and nothing is written to the file system, so when the process dies, however it dies
//! (Ctrl-C, a panic, SIGKILL), the kernel closes the descriptors and frees the namespaces and
//! devices — provided no workload process still lives in them: workloads are started by
//! [`Spawner`], which makes the kernel SIGKILL them when the emulator goes away.
//!
//! Unsafe code here is limited to system calls (`unshare`, `setns`, `ioctl`, `prctl`) with
//! buffers the code owns; each block says why it is sound.

use std::ffi::CString;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::mpsc;
use std::thread::JoinHandle;

use crate::error::EmulatorError;

/// The TUN device's name inside every host's namespace.
pub const TUN_NAME: &str = "emu0";

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
const IFF_TUN: libc::c_short = 0x0001;
const IFF_NO_PI: libc::c_short = 0x1000;
const CAP_NET_ADMIN: u32 = 12;
const CAP_SYS_ADMIN: u32 = 21;

/// `struct ifreq`: a 16-byte name and a 24-byte union (flags, an address, or the MTU).
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    data: [u8; 24],
}

impl IfReq {
    fn new(name: &str) -> IfReq {
        let mut r = IfReq {
            name: [0; 16],
            data: [0; 24],
        };
        let n = name.len().min(15);
        r.name[..n].copy_from_slice(&name.as_bytes()[..n]);
        r
    }
    fn set_short(&mut self, v: libc::c_short) {
        self.data[..2].copy_from_slice(&v.to_ne_bytes());
    }
    fn short(&self) -> libc::c_short {
        libc::c_short::from_ne_bytes([self.data[0], self.data[1]])
    }
    fn set_int(&mut self, v: libc::c_int) {
        self.data[..4].copy_from_slice(&v.to_ne_bytes());
    }
    fn set_inet(&mut self, ip: Ipv4Addr) {
        // struct sockaddr_in: family (host order), port, address.
        self.data = [0; 24];
        self.data[..2].copy_from_slice(&(libc::AF_INET as u16).to_ne_bytes());
        self.data[4..8].copy_from_slice(&ip.octets());
    }
}

fn ioctl(fd: RawFd, req: libc::c_ulong, r: &mut IfReq, what: &str) -> Result<(), EmulatorError> {
    // SAFETY: `r` is a live, properly sized `struct ifreq` for the duration of the call; the
    // kernel reads or writes at most its 40 bytes.
    let rc = unsafe { libc::ioctl(fd, req as _, r as *mut IfReq) };
    if rc < 0 {
        return Err(EmulatorError::last_os(what));
    }
    Ok(())
}

fn open(path: &str, flags: libc::c_int) -> Result<OwnedFd, EmulatorError> {
    let c = CString::new(path).map_err(|_| EmulatorError::Results(path.into()))?;
    // SAFETY: `c` is a NUL-terminated path; a non-negative result is a new descriptor we own.
    let fd = unsafe { libc::open(c.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(EmulatorError::last_os(format!("open {path}")));
    }
    // SAFETY: `fd` was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Checks that the process may create namespaces and TUN devices: `CAP_SYS_ADMIN` (for
/// `unshare`), `CAP_NET_ADMIN` (for the devices) and a usable `/dev/net/tun`.
pub fn check_privileges() -> Result<(), EmulatorError> {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    if caps & (1 << CAP_SYS_ADMIN) == 0 {
        return Err(EmulatorError::Privilege {
            what: "CAP_SYS_ADMIN (to create network namespaces)",
        });
    }
    if caps & (1 << CAP_NET_ADMIN) == 0 {
        return Err(EmulatorError::Privilege {
            what: "CAP_NET_ADMIN (to create and configure TUN devices)",
        });
    }
    if std::fs::metadata("/dev/net/tun").is_err() {
        return Err(EmulatorError::Privilege {
            what: "/dev/net/tun (the TUN device node does not exist)",
        });
    }
    if open("/dev/net/tun", libc::O_RDWR).is_err() {
        return Err(EmulatorError::Privilege {
            what: "/dev/net/tun (cannot be opened for reading and writing)",
        });
    }
    Ok(())
}

/// One emulated host: its namespace and its TUN device.
#[derive(Debug)]
pub struct HostNs {
    /// The host's address (on its TUN device).
    pub ip: Ipv4Addr,
    /// The namespace (`/proc/thread-self/ns/net` of the thread that created it).
    pub ns: OwnedFd,
    /// The TUN device's queue, non-blocking: reads are what the host sends, writes are what
    /// it receives.
    pub tun: OwnedFd,
}

impl HostNs {
    /// Creates a namespace with a TUN device [`TUN_NAME`] of MTU `mtu` at `ip`/8, `lo` up.
    pub fn create(ip: Ipv4Addr, mtu: u32) -> Result<HostNs, EmulatorError> {
        std::thread::Builder::new()
            .name("emu-netns".into())
            .spawn(move || create_here(ip, mtu))
            .map_err(|e| EmulatorError::sys("spawning the namespace thread", e))?
            .join()
            .unwrap_or_else(|_| {
                Err(EmulatorError::Results(
                    "the namespace thread panicked".into(),
                ))
            })
    }

    /// The namespace's inode number (as `ls -l /proc/<pid>/ns/net` shows it: `net:[inode]`).
    pub fn ns_inode(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(format!("/proc/self/fd/{}", self.ns.as_raw_fd()))
            .map(|m| m.ino())
            .unwrap_or(0)
    }
}

/// Runs on a throwaway thread: moves it to a new namespace and sets the host up there.
fn create_here(ip: Ipv4Addr, mtu: u32) -> Result<HostNs, EmulatorError> {
    // SAFETY: unshare only changes this thread's namespace membership; the thread ends
    // right after, so no other code runs in the new namespace by accident.
    if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
        return Err(EmulatorError::last_os("unshare(CLONE_NEWNET)"));
    }
    let ns = open("/proc/thread-self/ns/net", libc::O_RDONLY)?;
    let tun = open("/dev/net/tun", libc::O_RDWR | libc::O_NONBLOCK)?;
    let mut r = IfReq::new(TUN_NAME);
    r.set_short(IFF_TUN | IFF_NO_PI);
    ioctl(tun.as_raw_fd(), TUNSETIFF, &mut r, "TUNSETIFF")?;
    // SAFETY: plain socket creation; the result is checked and owned below.
    let s = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if s < 0 {
        return Err(EmulatorError::last_os("socket(AF_INET)"));
    }
    // SAFETY: `s` is a new descriptor owned by nobody else.
    let sock = unsafe { OwnedFd::from_raw_fd(s) };
    let fd = sock.as_raw_fd();
    let mut r = IfReq::new(TUN_NAME);
    r.set_int(mtu as libc::c_int);
    ioctl(fd, libc::SIOCSIFMTU, &mut r, "SIOCSIFMTU")?;
    let mut r = IfReq::new(TUN_NAME);
    r.set_inet(ip);
    ioctl(fd, libc::SIOCSIFADDR, &mut r, "SIOCSIFADDR")?;
    let mut r = IfReq::new(TUN_NAME);
    r.set_inet(Ipv4Addr::new(255, 0, 0, 0));
    ioctl(fd, libc::SIOCSIFNETMASK, &mut r, "SIOCSIFNETMASK")?;
    for dev in [TUN_NAME, "lo"] {
        let mut r = IfReq::new(dev);
        ioctl(fd, libc::SIOCGIFFLAGS, &mut r, "SIOCGIFFLAGS")?;
        let flags = r.short() | libc::IFF_UP as libc::c_short | libc::IFF_RUNNING as libc::c_short;
        r.set_short(flags);
        ioctl(fd, libc::SIOCSIFFLAGS, &mut r, "SIOCSIFFLAGS")?;
    }
    Ok(HostNs { ip, ns, tun })
}

/// Moves the calling thread into the namespace `ns`.
pub fn enter(ns: RawFd) -> io::Result<()> {
    // SAFETY: setns with a namespace descriptor affects only the calling thread.
    if unsafe { libc::setns(ns, libc::CLONE_NEWNET) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` on a new thread inside the namespace `ns` and returns its result: sockets `f`
/// creates belong to that namespace for good, wherever they are used later.
pub fn run_in<T: Send + 'static>(
    ns: RawFd,
    f: impl FnOnce() -> T + Send + 'static,
) -> io::Result<T> {
    std::thread::Builder::new()
        .name("emu-in-ns".into())
        .spawn(move || {
            enter(ns)?;
            Ok(f())
        })?
        .join()
        .unwrap_or_else(|_| {
            Err(io::Error::other(
                "the function run in the namespace panicked",
            ))
        })
}

type SpawnRequest = (RawFd, Command, mpsc::Sender<io::Result<Child>>);

/// Starts workload processes inside hosts' namespaces from one long-lived thread. Each child
/// asks the kernel to SIGKILL it when that thread ends (`PR_SET_PDEATHSIG`), which happens
/// when the spawner is dropped or the emulator process dies in any way: a workload never
/// outlives the emulation and never keeps a namespace alive.
pub struct Spawner {
    tx: Option<mpsc::Sender<SpawnRequest>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    /// Starts the spawner thread.
    pub fn new() -> io::Result<Spawner> {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        let thread = std::thread::Builder::new()
            .name("emu-spawner".into())
            .spawn(move || {
                for (ns, mut cmd, reply) in rx {
                    let _ = reply.send(spawn_here(ns, &mut cmd));
                }
            })?;
        Ok(Spawner {
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Starts `cmd` in the namespace `ns`.
    pub fn spawn(&self, ns: RawFd, cmd: Command) -> io::Result<Child> {
        let (rtx, rrx) = mpsc::channel();
        self.tx
            .as_ref()
            .ok_or_else(|| io::Error::other("spawner stopped"))?
            .send((ns, cmd, rtx))
            .map_err(|_| io::Error::other("spawner stopped"))?;
        rrx.recv()
            .map_err(|_| io::Error::other("spawner stopped"))?
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn spawn_here(ns: RawFd, cmd: &mut Command) -> io::Result<Child> {
    // SAFETY: getpid is always safe.
    let parent = unsafe { libc::getpid() };
    // SAFETY: the closure runs in the child between fork and exec and only makes
    // async-signal-safe system calls (setns, prctl, getppid) without allocating.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setns(ns, libc::CLONE_NEWNET) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) != 0 {
                return Err(io::Error::last_os_error());
            }
            // The parent may have died before the death signal was armed.
            if libc::getppid() != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
            Ok(())
        });
    }
    cmd.spawn()
}
