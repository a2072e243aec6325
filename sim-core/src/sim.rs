//! The simulation kernel: one event queue, one model, and a single-threaded async executor, all
//! driven by virtual time.
//!
//! A [`Model`] receives its own events through [`Model::handle`] and schedules more through the
//! [`Handle`]. Async tasks spawned on the same handle run between events; they read the time and
//! sleep through [`crate::rt`] (shaped like tokio's `time` module) and talk to the model through
//! shared state that the model wakes. Everything runs on one thread in an order fixed by
//! (time, insertion sequence) and by the FIFO order in which tasks are woken.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use crate::queue::{EventId, EventQueue, NO_KEY};
use crate::rt::{self, RuntimeApi};
use crate::time::{SimDuration, SimTime};

/// A simulated system: it reacts to its own events at virtual instants.
pub trait Model {
    /// The events this model schedules for itself.
    type Event: 'static;
    /// Handles one event at `now` (equal to `sim.now()`).
    fn handle(&mut self, now: SimTime, event: Self::Event, sim: &Handle<Self::Event>);
    /// True when the model has nothing more to do and the run may end before its end time.
    fn finished(&self) -> bool {
        false
    }
    /// A hint, called with the key of the event that will most likely be handled next (given
    /// to [`Handle::schedule_keyed`]: a port index, say), before the current one is handled: a
    /// model may start loading the state that event will touch (see [`prefetch`]), so that the
    /// cache misses of a large model overlap with the current event's work. Never called for
    /// events scheduled without a key. It must not change anything observable.
    #[inline]
    fn prefetch(&self, _key: u32) {}
}

/// Asks the CPU to start loading the cache lines holding `*r` (all of them, for a value larger
/// than a line), without waiting for them. Never changes a result: a prefetch is only a hint (a
/// no-op off x86-64).
#[inline(always)]
pub fn prefetch<T>(r: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = (r as *const T).cast::<i8>();
        let mut off = 0;
        while off < std::mem::size_of::<T>().max(1) {
            // SAFETY: a prefetch reads nothing architecturally and cannot fault, whatever the
            // address; SSE is part of the x86-64 baseline. `wrapping_add` keeps the address
            // computation itself free of undefined behaviour.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    start.wrapping_add(off),
                );
            }
            off += 64;
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = r;
}

enum Slot<E> {
    Model(E),
    Wake(Waker),
}

type BoxTask = Pin<Box<dyn Future<Output = ()>>>;

struct TaskWaker {
    id: usize,
    queued: AtomicBool,
    ready: Arc<ReadyQueue>,
}

/// Woken task ids in wake order, plus a flag that lets the event loop skip the lock when no
/// task was woken (the common case between packet events).
#[derive(Default)]
struct ReadyQueue {
    ids: Mutex<VecDeque<usize>>,
    any: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            if let Ok(mut q) = self.ready.ids.lock() {
                q.push_back(self.id);
            }
            self.ready.any.store(true, Ordering::Release);
        }
    }
}

struct TaskSlot {
    future: Option<BoxTask>,
    waker: Arc<TaskWaker>,
}

/// The shared state of one simulation. Reached through [`Handle`] and, inside tasks, through
/// the thread-local context of [`crate::rt`].
pub struct Core<E> {
    now: SimTime,
    queue: EventQueue<Slot<E>>,
    tasks: Vec<Option<TaskSlot>>,
    free: Vec<usize>,
    ready: Arc<ReadyQueue>,
    events: u64,
    live_tasks: usize,
}

/// A cloneable reference to a running simulation: read the time, schedule and cancel model
/// events, spawn tasks.
pub struct Handle<E> {
    core: Rc<RefCell<Core<E>>>,
}

impl<E> Clone for Handle<E> {
    fn clone(&self) -> Self {
        Handle {
            core: self.core.clone(),
        }
    }
}

impl<E: 'static> Handle<E> {
    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.core.borrow().now
    }

    /// Schedules `event` at `at` (clamped to now: events never go back in time).
    pub fn schedule_at(&self, at: SimTime, event: E) -> EventId {
        let mut c = self.core.borrow_mut();
        let at = at.max(c.now);
        c.queue.push(at, Slot::Model(event))
    }

    /// [`Handle::schedule_at`] with a prefetch key: while this event is the next due, the
    /// kernel passes `key` to [`Model::prefetch`] before handling the event before it.
    pub fn schedule_keyed(&self, at: SimTime, event: E, key: u32) -> EventId {
        let mut c = self.core.borrow_mut();
        let at = at.max(c.now);
        c.queue.push_keyed(at, Slot::Model(event), key)
    }

    /// Schedules `event` after `delay`.
    pub fn schedule_in(&self, delay: SimDuration, event: E) -> EventId {
        let mut c = self.core.borrow_mut();
        let at = c.now + delay;
        c.queue.push(at, Slot::Model(event))
    }

    /// Cancels a pending event or timer.
    pub fn cancel(&self, id: EventId) {
        self.core.borrow_mut().queue.cancel(id);
    }

    /// Spawns a task on the simulation's executor; it first runs before the next event.
    pub fn spawn<F>(&self, fut: F) -> rt::JoinHandle<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let (task, handle) = netrt::joinable(fut);
        self.spawn_boxed(task);
        handle
    }

    /// Spawns a boxed `()` task (what [`netrt::Runtime::spawn_boxed`] asks for).
    pub fn spawn_boxed(&self, fut: netrt::LocalBoxFuture<'static, ()>) {
        let mut c = self.core.borrow_mut();
        let id = match c.free.pop() {
            Some(id) => id,
            None => {
                c.tasks.push(None);
                c.tasks.len() - 1
            }
        };
        let waker = Arc::new(TaskWaker {
            id,
            queued: AtomicBool::new(false),
            ready: c.ready.clone(),
        });
        c.tasks[id] = Some(TaskSlot {
            future: Some(fut),
            waker: waker.clone(),
        });
        c.live_tasks += 1;
        drop(c);
        waker.wake_by_ref();
    }
}

impl<E: 'static> RuntimeApi for RefCell<Core<E>> {
    fn now(&self) -> SimTime {
        self.borrow().now
    }
    fn add_timer(&self, at: SimTime, waker: Waker) -> EventId {
        let mut c = self.borrow_mut();
        let at = at.max(c.now);
        c.queue.push(at, Slot::Wake(waker))
    }
    fn cancel_timer(&self, id: EventId) {
        self.borrow_mut().queue.cancel(id);
    }
}

/// Counters of one run, for the CLI's summary line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Model events and timer firings handled.
    pub events: u64,
    /// Task polls.
    pub polls: u64,
}

/// A model, its event queue and its executor.
pub struct Simulation<M: Model> {
    model: M,
    handle: Handle<M::Event>,
    polls: u64,
}

impl<M: Model> Simulation<M> {
    /// A simulation of `model` at time zero with nothing scheduled.
    pub fn new(model: M) -> Self {
        let core = Core {
            now: SimTime::ZERO,
            queue: EventQueue::new(),
            tasks: Vec::new(),
            free: Vec::new(),
            ready: Arc::new(ReadyQueue::default()),
            events: 0,
            live_tasks: 0,
        };
        Simulation {
            model,
            handle: Handle {
                core: Rc::new(RefCell::new(core)),
            },
            polls: 0,
        }
    }

    /// The handle to schedule events and spawn tasks with.
    pub fn handle(&self) -> &Handle<M::Event> {
        &self.handle
    }

    /// The model.
    pub fn model(&self) -> &M {
        &self.model
    }

    /// The model, mutably (between runs).
    pub fn model_mut(&mut self) -> &mut M {
        &mut self.model
    }

    /// Takes the model out, ending the simulation.
    pub fn into_model(self) -> M {
        self.model
    }

    /// The current virtual time.
    pub fn now(&self) -> SimTime {
        self.handle.now()
    }

    /// Counters so far.
    pub fn stats(&self) -> RunStats {
        RunStats {
            events: self.handle.core.borrow().events,
            polls: self.polls,
        }
    }

    /// Tasks spawned and not yet finished.
    pub fn live_tasks(&self) -> usize {
        self.handle.core.borrow().live_tasks
    }

    fn poll_ready(&mut self) {
        // A plain load first: the flag is almost always clear between packet events, and a
        // swap is a locked instruction on every event.
        if !self.handle.core.borrow().ready.any.load(Ordering::Acquire) {
            return;
        }
        let core_rc = self.handle.core.clone();
        if !core_rc.borrow().ready.any.swap(false, Ordering::AcqRel) {
            return;
        }
        let _guard = rt::enter(core_rc.clone() as Rc<dyn RuntimeApi>, {
            let h = self.handle.clone();
            Rc::new(move |f: BoxTask| h.spawn_boxed(f)) as Rc<dyn Fn(BoxTask)>
        });
        loop {
            let next = {
                let c = core_rc.borrow();
                let mut q = match c.ready.ids.lock() {
                    Ok(q) => q,
                    Err(p) => p.into_inner(),
                };
                q.pop_front()
            };
            let Some(id) = next else { break };
            let taken = {
                let mut c = core_rc.borrow_mut();
                match c.tasks.get_mut(id).and_then(|s| s.as_mut()) {
                    Some(slot) => {
                        slot.waker.queued.store(false, Ordering::Release);
                        slot.future.take().map(|f| (f, slot.waker.clone()))
                    }
                    None => None,
                }
            };
            let Some((mut fut, waker)) = taken else {
                continue;
            };
            let w = Waker::from(waker);
            let mut cx = Context::from_waker(&w);
            self.polls += 1;
            let done = fut.as_mut().poll(&mut cx).is_ready();
            let mut c = core_rc.borrow_mut();
            if done {
                c.tasks[id] = None;
                c.free.push(id);
                c.live_tasks -= 1;
            } else if let Some(slot) = c.tasks[id].as_mut() {
                slot.future = Some(fut);
            }
        }
    }

    /// Handles the earliest event if its time is at most `limit`; false when there is none.
    fn step(&mut self, limit: SimTime) -> bool {
        let next = self.handle.core.borrow_mut().queue.pop_until(limit);
        let Some((t, slot)) = next else { return false };
        {
            let mut c = self.handle.core.borrow_mut();
            if let Some(key) = c.queue.peek_key().filter(|&k| k != NO_KEY) {
                self.model.prefetch(key);
            }
            debug_assert!(t >= c.now, "time went backwards");
            c.now = t;
            c.events += 1;
        }
        match slot {
            Slot::Model(ev) => self.model.handle(t, ev, &self.handle),
            Slot::Wake(w) => w.wake(),
        }
        true
    }

    /// Runs every event and task up to and including `end`, then sets the clock to `end`; stops
    /// early (leaving the clock at the last event) once [`Model::finished`] says so.
    pub fn run_until(&mut self, end: SimTime) {
        loop {
            self.poll_ready();
            if self.model.finished() || !self.step(end) {
                break;
            }
        }
        let mut c = self.handle.core.borrow_mut();
        if end != SimTime::MAX && c.now < end && !self.model.finished() {
            c.now = end;
        }
    }

    /// Runs until nothing is scheduled and no task is ready. Tasks blocked forever stay blocked.
    pub fn run(&mut self) {
        self.run_until(SimTime::MAX);
    }

    /// Runs for `d` more virtual time.
    pub fn run_for(&mut self, d: SimDuration) {
        let end = self.now() + d;
        self.run_until(end);
    }

    /// Spawns `fut`, runs until it finishes, and returns its output; `None` if the simulation
    /// ran dry (nothing scheduled) before it finished.
    pub fn block_on<F>(&mut self, fut: F) -> Option<F::Output>
    where
        F: Future + 'static,
        F::Output: 'static,
    {
        let out = Rc::new(RefCell::new(None));
        let slot = out.clone();
        self.handle.spawn(async move {
            let v = fut.await;
            *slot.borrow_mut() = Some(v);
        });
        loop {
            self.poll_ready();
            if out.borrow().is_some() || !self.step(SimTime::MAX) {
                break;
            }
        }
        let v = out.borrow_mut().take();
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::mpsc;
    use std::cell::Cell;

    struct Log(Vec<(u64, u32)>);
    impl Model for Log {
        type Event = u32;
        fn handle(&mut self, now: SimTime, ev: u32, sim: &Handle<u32>) {
            self.0.push((now.as_nanos(), ev));
            if ev < 3 {
                sim.schedule_in(SimDuration::from_nanos(10), ev + 1);
            }
        }
    }

    /// Records the events it handles and the prefetch keys it is given, interleaved.
    struct Prefetching(Vec<String>);
    impl Model for Prefetching {
        type Event = u32;
        fn handle(&mut self, _now: SimTime, ev: u32, _sim: &Handle<u32>) {
            self.0.push(format!("handle {ev}"));
        }
        fn prefetch(&self, key: u32) {
            // `prefetch` takes `&self`: record through a side channel.
            PREFETCHED.with(|p| p.borrow_mut().push(key));
        }
    }
    thread_local! {
        static PREFETCHED: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    #[test]
    fn the_model_is_given_the_next_events_key_before_the_current_event_runs() {
        let mut s = Simulation::new(Prefetching(vec![]));
        let h = s.handle().clone();
        h.schedule_keyed(SimTime::from_nanos(30), 3, 300);
        h.schedule_at(SimTime::from_nanos(10), 1);
        h.schedule_keyed(SimTime::from_nanos(20), 2, 200);
        h.schedule_keyed(SimTime::from_nanos(1 << 40), 4, 400);
        s.run();
        assert_eq!(
            s.model().0,
            ["handle 1", "handle 2", "handle 3", "handle 4"]
        );
        // Before event 1 runs, event 2 is next (key 200); before 2, event 3; before 3, event 4;
        // none after 4. The unkeyed event 1 never yields a key.
        assert_eq!(PREFETCHED.with(|p| p.borrow().clone()), [200, 300, 400]);
    }

    #[test]
    fn model_events_run_in_time_order() {
        let mut s = Simulation::new(Log(vec![]));
        s.handle().schedule_at(SimTime::from_nanos(5), 0);
        s.handle().schedule_at(SimTime::from_nanos(5), 100);
        s.run();
        assert_eq!(
            s.model().0,
            vec![(5, 0), (5, 100), (15, 1), (25, 2), (35, 3)]
        );
        assert_eq!(s.stats().events, 5);
    }

    #[test]
    fn cancelled_event_does_not_run() {
        let mut s = Simulation::new(Log(vec![]));
        let id = s.handle().schedule_at(SimTime::from_nanos(5), 50);
        s.handle().schedule_at(SimTime::from_nanos(6), 60);
        s.handle().cancel(id);
        s.run();
        assert_eq!(s.model().0, vec![(6, 60)]);
    }

    #[test]
    fn tasks_sleep_in_virtual_time_and_share_channels() {
        let mut s = Simulation::new(Log(vec![]));
        let h = s.handle().clone();
        let (tx, mut rx) = mpsc::unbounded_channel::<(u64, &'static str)>();
        let tx2 = tx.clone();
        h.spawn(async move {
            rt::sleep(SimDuration::from_millis(3)).await;
            tx.send((rt::now().as_nanos(), "a")).ok();
        });
        h.spawn(async move {
            rt::sleep(SimDuration::from_millis(1)).await;
            tx2.send((rt::now().as_nanos(), "b")).ok();
        });
        let got = s.block_on(async move {
            let mut v = vec![];
            while let Some(x) = rx.recv().await {
                v.push(x);
            }
            v
        });
        assert_eq!(got, Some(vec![(1_000_000, "b"), (3_000_000, "a")]));
        assert_eq!(s.now(), SimTime::from_nanos(3_000_000));
    }

    #[test]
    fn dropped_sleep_cancels_its_timer_and_timeout_works() {
        let mut s = Simulation::new(Log(vec![]));
        let r = s.block_on(async {
            let slow = rt::sleep(SimDuration::from_secs(5));
            rt::timeout(SimDuration::from_millis(2), slow).await
        });
        assert_eq!(r, Some(Err(rt::Elapsed)));
        assert_eq!(s.now(), SimTime::from_nanos(2_000_000));
        s.run();
        // The 5 s timer was cancelled, so the clock never advanced to it.
        assert_eq!(s.now(), SimTime::from_nanos(2_000_000));
    }

    #[test]
    fn spawn_inside_task_and_join() {
        let mut s = Simulation::new(Log(vec![]));
        let hits = Rc::new(Cell::new(0));
        let h2 = hits.clone();
        let out = s.block_on(async move {
            let j = rt::spawn(async move {
                rt::sleep(SimDuration::from_micros(7)).await;
                h2.set(h2.get() + 1);
                41
            });
            j.await.unwrap_or(0) + 1
        });
        assert_eq!(out, Some(42));
        assert_eq!(hits.get(), 1);
        assert_eq!(s.live_tasks(), 0);
    }

    #[test]
    fn tasks_and_model_interleave_fifo_at_same_instant() {
        let mut s = Simulation::new(Log(vec![]));
        let h = s.handle().clone();
        let h2 = h.clone();
        s.block_on(async move {
            rt::sleep(SimDuration::from_nanos(4)).await;
            h2.schedule_in(SimDuration::from_nanos(1), 99);
        });
        s.run();
        assert_eq!(s.model().0, vec![(5, 99)]);
    }
}
