//! The I/O thread: `ppoll` on every host's TUN device (and an eventfd to stop it), with the
//! timeout taken from the engine's next wake-up; the last [`SPIN`] before a wake-up is
//! busy-waited (polling without sleeping) because a sleep ends up to tens of microseconds late.
//! Packets read are stamped with the monotonic clock on entry; packets due are written as soon
//! as the loop sees them due, and their lateness is recorded.
//!
//! The engine is built on this thread (queue disciplines are not `Send`); only the final
//! [`Report`] crosses back.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use bytes::Bytes;
use netmodels::NodeId;
use sim_core::{SimDuration, SimTime};

use crate::clock::{Clock, RealClock};
use crate::config::EmulatorConfig;
use crate::emulation::Report;
use crate::engine::{Engine, Pump};
use crate::error::EmulatorError;

/// How long before a wake-up the loop stops sleeping and spins.
pub const SPIN: SimDuration = SimDuration::from_micros(50);
/// SCHED_FIFO priority of the loop when [`EmulatorConfig::realtime`] is set.
pub const REALTIME_PRIORITY: libc::c_int = 10;
/// Most packets read from one device per turn (so one busy host cannot delay due writes).
const READ_BATCH: usize = 64;
/// Longest sleep when nothing is due (the stop flag is also signalled through the eventfd).
const IDLE: SimDuration = SimDuration::from_millis(100);

/// The running I/O thread.
pub struct IoThread {
    stop: Arc<AtomicBool>,
    wake: OwnedFd,
    thread: Option<JoinHandle<Report>>,
}

impl IoThread {
    /// Builds the engine for `cfg` on a new thread and starts the loop over `tuns` (host,
    /// TUN descriptor). Returns once the engine is built (or failed to build).
    pub fn start(
        cfg: EmulatorConfig,
        pcap_epoch: SimDuration,
        tuns: Vec<(NodeId, RawFd)>,
    ) -> Result<IoThread, EmulatorError> {
        // SAFETY: plain eventfd creation; the result is checked and owned below.
        let efd = unsafe { libc::eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(EmulatorError::last_os("eventfd"));
        }
        // SAFETY: a new descriptor owned by nobody else.
        let wake = unsafe { OwnedFd::from_raw_fd(efd) };
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::sync_channel(1);
        let stop2 = stop.clone();
        let thread = std::thread::Builder::new()
            .name("emu-io".into())
            .spawn(move || {
                let engine = match Engine::new(&cfg, pcap_epoch) {
                    Ok(e) => {
                        let _ = ready_tx.send(Ok(()));
                        e
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return Report::default();
                    }
                };
                let pump = Pump::new(engine, RealClock::new());
                run(pump, &tuns, efd, &stop2, cfg.realtime)
            })
            .map_err(|e| EmulatorError::sys("spawning the I/O thread", e))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(IoThread {
                stop,
                wake,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(EmulatorError::Results("the I/O thread died".into()))
            }
        }
    }

    /// Stops the loop and returns what it measured.
    pub fn stop(mut self) -> Report {
        self.stop_inner()
    }

    fn stop_inner(&mut self) -> Report {
        self.stop.store(true, Ordering::SeqCst);
        let one: u64 = 1;
        // SAFETY: writes 8 bytes from a live u64 to our eventfd.
        unsafe {
            libc::write(
                self.wake.as_raw_fd(),
                (&one as *const u64).cast(),
                std::mem::size_of::<u64>(),
            )
        };
        self.thread
            .take()
            .and_then(|t| t.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for IoThread {
    fn drop(&mut self) {
        if self.thread.is_some() {
            self.stop_inner();
        }
    }
}

fn write_packet(fd: RawFd, p: &[u8]) -> bool {
    // SAFETY: writes `p.len()` bytes from a live slice to a descriptor the emulation owns.
    let n = unsafe { libc::write(fd, p.as_ptr().cast(), p.len()) };
    n == p.len() as isize
}

fn run(
    mut pump: Pump<RealClock>,
    tuns: &[(NodeId, RawFd)],
    wake: RawFd,
    stop: &AtomicBool,
    realtime: bool,
) -> Report {
    // Timer slack of 1 ns: sleeps end when asked, not up to 50 µs later.
    // SAFETY: prctl with integer arguments only changes this thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) };
    if realtime {
        // Real-time priority (best effort, needs CAP_SYS_NICE): a loaded machine then
        // preempts the loop far less. The kernel's RT throttling keeps a share for others.
        let param = libc::sched_param {
            sched_priority: REALTIME_PRIORITY,
        };
        // SAFETY: sets this thread's (tid 0) scheduling policy from a live sched_param.
        unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    }
    let max_node = tuns.iter().map(|t| t.0 as usize).max().unwrap_or(0);
    let mut fd_of: Vec<RawFd> = vec![-1; max_node + 1];
    for (h, fd) in tuns {
        fd_of[*h as usize] = *fd;
    }
    let mut fds: Vec<libc::pollfd> = tuns
        .iter()
        .map(|(_, fd)| libc::pollfd {
            fd: *fd,
            events: libc::POLLIN,
            revents: 0,
        })
        .chain(std::iter::once(libc::pollfd {
            fd: wake,
            events: libc::POLLIN,
            revents: 0,
        }))
        .collect();
    let mut buf = vec![0u8; 65_536];
    let mut read_errors = 0u64;
    let mut spins = 0u64;
    let mut timeout = SimDuration::ZERO;
    while !stop.load(Ordering::Relaxed) {
        let ts = libc::timespec {
            tv_sec: (timeout.as_nanos() / 1_000_000_000) as libc::time_t,
            tv_nsec: (timeout.as_nanos() % 1_000_000_000) as libc::c_long,
        };
        // SAFETY: `fds` and `ts` are live for the call; the kernel writes only `revents`.
        let rc = unsafe {
            libc::ppoll(
                fds.as_mut_ptr(),
                fds.len() as libc::nfds_t,
                &ts,
                std::ptr::null(),
            )
        };
        if rc > 0 {
            for (i, (host, fd)) in tuns.iter().enumerate() {
                if fds[i].revents & libc::POLLIN == 0 {
                    continue;
                }
                for _ in 0..READ_BATCH {
                    // SAFETY: reads into a live buffer of `buf.len()` bytes.
                    let n = unsafe { libc::read(*fd, buf.as_mut_ptr().cast(), buf.len()) };
                    if n <= 0 {
                        if n < 0
                            && std::io::Error::last_os_error().kind()
                                != std::io::ErrorKind::WouldBlock
                        {
                            read_errors += 1;
                        }
                        break;
                    }
                    pump.ingress(*host, Bytes::copy_from_slice(&buf[..n as usize]));
                }
            }
        }
        let next = pump.turn(|h, p| {
            fd_of
                .get(h as usize)
                .is_some_and(|fd| *fd >= 0 && write_packet(*fd, p))
        });
        let now: SimTime = pump.clock.now();
        timeout = match next {
            None => IDLE,
            Some(t) if t <= now => SimDuration::ZERO,
            Some(t) => {
                let d = t.saturating_since(now);
                if d <= SPIN {
                    spins += 1;
                    SimDuration::ZERO
                } else {
                    (d - SPIN).min(IDLE)
                }
            }
        };
    }
    let _ = pump.engine.flush_pcaps();
    Report::from_pump(&pump, read_errors, spins)
}
