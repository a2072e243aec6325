//! The I/O thread: `ppoll` on every host's TUN device (and an eventfd to stop it), with the
//! timeout taken from the engine's next wake-up; the last [`SPIN`] before a wake-up is
//! busy-waited (polling without sleeping) because a sleep ends up to tens of microseconds late.
//! A [`Governor`] limits busy-waiting and drops the real-time priority while the loop is
//! nearly always busy. Packets read are stamped with the monotonic clock on entry; packets due are written as soon
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

/// How long before a wake-up the loop stops sleeping and spins, by default (see
/// [`EmulatorConfig::spin`]).
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
                run(pump, &tuns, efd, &stop2, cfg.realtime, cfg.spin)
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

/// Switches the calling thread between `SCHED_FIFO` at [`REALTIME_PRIORITY`] and the normal
/// policy (best effort: without CAP_SYS_NICE the call fails and nothing changes).
fn set_realtime(on: bool) {
    let param = libc::sched_param {
        sched_priority: if on { REALTIME_PRIORITY } else { 0 },
    };
    let policy = if on {
        libc::SCHED_FIFO
    } else {
        libc::SCHED_OTHER
    };
    // SAFETY: sets this thread's (tid 0) scheduling policy from a live sched_param.
    unsafe { libc::sched_setscheduler(0, policy, &param) };
}

/// Learns how late sleeps end (a virtual CPU woken from idle can take 100 µs or more), so the
/// loop wakes that much earlier and busy-waits the rest: rises quickly when sleeps overshoot,
/// decays slowly, at most [`WakeLead::MAX`].
#[derive(Clone, Copy, Debug, Default)]
pub struct WakeLead {
    est_ns: f64,
}

impl WakeLead {
    /// The most extra lead.
    pub const MAX: SimDuration = SimDuration::from_micros(500);

    /// A sleep ended `overshoot` after it was due.
    pub fn observe(&mut self, overshoot: SimDuration) {
        let x = overshoot.as_nanos() as f64;
        let w = if x > self.est_ns { 0.25 } else { 0.02 };
        self.est_ns += w * (x - self.est_ns);
    }

    /// Extra time to wake early by.
    pub fn extra(&self) -> SimDuration {
        SimDuration::from_nanos((self.est_ns * 1.5) as u64).min(Self::MAX)
    }
}

/// Length of the governor's accounting window.
pub const WINDOW: SimDuration = SimDuration::from_millis(50);

/// Keeps the loop from hogging a core. Per [`WINDOW`] it accounts the CPU time the loop used
/// (what the kernel's real-time throttling counts) and the time spent busy-waiting, smoothed
/// over a few windows; busy-waiting is allowed only while it and the real work leave the core
/// partly free, and a real-time loop drops to the normal policy when its work alone (busy-waiting
/// excluded) takes more than [`Governor::DEMOTE`] of the time (and returns below [`Governor::PROMOTE`]).
/// Without this a real-time loop that is busy most of the time is throttled by the kernel
/// (`sched_rt_runtime_us`: 50 ms without running every second), which would stall every link.
#[derive(Clone, Debug)]
pub struct Governor {
    start: SimTime,
    cpu_start: SimDuration,
    spun: u64,
    busy_avg: f64,
    work_avg: f64,
    spin_ok: bool,
    realtime: bool,
    rt_now: bool,
    /// Windows in which the loop dropped its real-time priority.
    pub demotions: u64,
    /// Windows closed.
    pub windows: u64,
    /// Sum over windows of the CPU share used by work (not busy-waiting).
    pub work_share_sum: f64,
    /// Sum over windows of the share of time spent busy-waiting.
    pub spin_share_sum: f64,
}

impl Governor {
    /// Smoothed work share (busy-waiting excluded: it stops first) above which a real-time
    /// loop drops to the normal policy.
    pub const DEMOTE: f64 = 0.8;
    /// Smoothed work share below which it becomes real-time again.
    pub const PROMOTE: f64 = 0.5;
    /// Largest smoothed busy share (work and busy-waiting) that still allows busy-waiting.
    pub const SPIN_BUSY: f64 = 0.75;
    /// Largest smoothed work share that still allows busy-waiting.
    const WORK_SHARE: f64 = 0.6;
    /// Smoothing weight of the last window.
    const ALPHA: f64 = 0.2;

    /// A governor whose first window starts at `now`, when the loop had used `cpu`;
    /// `realtime` says the loop starts real-time.
    pub fn new(now: SimTime, cpu: SimDuration, realtime: bool) -> Governor {
        Governor {
            start: now,
            cpu_start: cpu,
            spun: 0,
            busy_avg: 0.0,
            work_avg: 0.0,
            spin_ok: true,
            realtime,
            rt_now: realtime,
            demotions: 0,
            windows: 0,
            work_share_sum: 0.0,
            spin_share_sum: 0.0,
        }
    }
    /// The loop busy-waited for `d`.
    pub fn spun(&mut self, d: SimDuration) {
        self.spun += d.as_nanos();
    }
    /// Whether the loop may busy-wait now.
    pub fn spin_allowed(&self) -> bool {
        self.spin_ok
    }
    /// Whether the loop is real-time now.
    pub fn realtime_now(&self) -> bool {
        self.rt_now
    }
    /// True when the current window has lasted [`WINDOW`].
    pub fn window_due(&self, now: SimTime) -> bool {
        now.saturating_since(self.start) >= WINDOW
    }
    /// Closes the window if it has lasted [`WINDOW`] (`cpu`: the loop's CPU time so far);
    /// returns the new real-time state when it changes.
    pub fn window(&mut self, now: SimTime, cpu: SimDuration) -> Option<bool> {
        let w = now.saturating_since(self.start).as_nanos();
        if w < WINDOW.as_nanos() {
            return None;
        }
        let w = w as f64;
        let busy = (cpu.saturating_sub(self.cpu_start).as_nanos() as f64 / w).min(1.0);
        let spun = self.spun as f64 / w;
        let work = (busy - spun).max(0.0);
        // Smoothed over about 5 windows: the kernel throttles on a one-second budget, and
        // single windows are bursty.
        self.busy_avg += Self::ALPHA * (busy - self.busy_avg);
        self.work_avg += Self::ALPHA * (work - self.work_avg);
        self.spin_ok = self.busy_avg <= Self::SPIN_BUSY && self.work_avg <= Self::WORK_SHARE;
        self.windows += 1;
        self.work_share_sum += work;
        self.spin_share_sum += spun;
        self.start = now;
        self.cpu_start = cpu;
        self.spun = 0;
        let before = self.rt_now;
        if self.realtime {
            if self.rt_now && self.work_avg > Self::DEMOTE {
                self.rt_now = false;
                self.demotions += 1;
            } else if !self.rt_now && self.work_avg < Self::PROMOTE {
                self.rt_now = true;
            }
        }
        (self.rt_now != before).then_some(self.rt_now)
    }
}

/// CPU time the calling thread has used.
fn thread_cpu() -> SimDuration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes into a live timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    SimDuration::from_nanos(ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
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
    spin: SimDuration,
) -> Report {
    // Timer slack of 1 ns: sleeps end when asked, not up to 50 µs later.
    // SAFETY: prctl with integer arguments only changes this thread's timer slack.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) };
    if realtime {
        set_realtime(true);
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
    let mut gov = Governor::new(pump.clock.now(), thread_cpu(), realtime);
    let mut last = pump.clock.now();
    let mut spinning = false;
    let mut lead = WakeLead::default();
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
        if rc == 0 && !timeout.is_zero() && timeout < IDLE {
            let woke = pump.clock.now();
            lead.observe(woke.saturating_since(last + timeout));
        }
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
        if spinning {
            gov.spun(now.saturating_since(last));
        }
        // The thread's CPU time is a system call: read it only when a window closes.
        if gov.window_due(now) {
            if let Some(rt) = gov.window(now, thread_cpu()) {
                set_realtime(rt);
            }
        }
        last = now;
        spinning = false;
        timeout = match next {
            None => IDLE,
            Some(t) if t <= now => SimDuration::ZERO,
            Some(t) => {
                let d = t.saturating_since(now);
                // Wake early by the busy-wait window plus how late sleeps have been ending.
                let spin = if spin.is_zero() {
                    spin
                } else {
                    spin + lead.extra()
                };
                if d <= spin && gov.spin_allowed() {
                    spins += 1;
                    spinning = true;
                    SimDuration::ZERO
                } else if d <= spin {
                    d
                } else {
                    (d - spin).min(IDLE)
                }
            }
        };
    }
    if gov.realtime_now() {
        set_realtime(false);
    }
    let _ = pump.engine.flush_pcaps();
    let mut r = Report::from_pump(&pump, read_errors, spins);
    r.rt_demotions = gov.demotions;
    if gov.windows > 0 {
        r.work_share = gov.work_share_sum / gov.windows as f64;
        r.spin_share = gov.spin_share_sum / gov.windows as f64;
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> SimTime {
        SimTime::from_nanos(n * 1_000_000)
    }

    #[test]
    fn a_busy_loop_stops_spinning_and_drops_realtime_then_recovers() {
        let mut g = Governor::new(ms(0), SimDuration::ZERO, true);
        assert!(g.spin_allowed() && g.realtime_now());
        let mut cpu = SimDuration::ZERO;
        let mut changes = Vec::new();
        // 2 s fully busy, then 2 s at 10 %.
        for w in 1..=80u64 {
            let share = if w <= 40 { 1.0 } else { 0.1 };
            cpu += SimDuration::from_secs_f64(0.05 * share);
            if let Some(rt) = g.window(ms(50 * w), cpu) {
                changes.push((w, rt));
            }
            if w == 40 {
                assert!(!g.spin_allowed() && !g.realtime_now());
            }
        }
        assert!(g.spin_allowed() && g.realtime_now());
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(
            changes[0].0 <= 10,
            "demoted within half a second: {changes:?}"
        );
        assert_eq!(g.demotions, 1);
        // Not a window yet: nothing changes.
        assert_eq!(g.window(ms(50 * 80 + 10), cpu), None);
    }

    #[test]
    fn a_normal_loop_is_never_promoted() {
        let mut g = Governor::new(ms(0), SimDuration::ZERO, false);
        for w in 1..=20u64 {
            assert_eq!(g.window(ms(50 * w), SimDuration::ZERO), None);
        }
        assert!(!g.realtime_now());
    }
}
