//! Tokio-shaped free functions for code running inside a simulation task: [`now`], [`sleep`],
//! [`sleep_until`], [`timeout`], [`spawn`]. They read the simulation that is polling the current
//! task, so the same async code can run on the simulator or (behind a thin adapter) on tokio.
//!
//! Calling them outside a simulation task is a programming error and panics with a message that
//! says so. Code that should also run on real datapaths takes a [`netrt::Runtime`] instead
//! (the network model's `SimRuntime` implements it on top of these).

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

pub use netrt::{Elapsed, JoinError, JoinHandle};

use crate::queue::EventId;
use crate::time::{SimDuration, SimTime};

type BoxTask = Pin<Box<dyn Future<Output = ()>>>;

/// What a task may ask of the simulation that polls it.
pub(crate) trait RuntimeApi {
    fn now(&self) -> SimTime;
    fn add_timer(&self, at: SimTime, waker: Waker) -> EventId;
    fn cancel_timer(&self, id: EventId);
}

struct Ctx {
    api: Rc<dyn RuntimeApi>,
    spawner: Rc<dyn Fn(BoxTask)>,
}

thread_local! {
    static CURRENT: RefCell<Option<Ctx>> = const { RefCell::new(None) };
}

pub(crate) struct EnterGuard {
    prev: Option<Ctx>,
}

impl Drop for EnterGuard {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

pub(crate) fn enter(api: Rc<dyn RuntimeApi>, spawner: Rc<dyn Fn(BoxTask)>) -> EnterGuard {
    let prev = CURRENT.with(|c| c.borrow_mut().replace(Ctx { api, spawner }));
    EnterGuard { prev }
}

fn with_api<R>(f: impl FnOnce(&dyn RuntimeApi) -> R) -> R {
    CURRENT.with(|c| {
        let c = c.borrow();
        let ctx = c
            .as_ref()
            .expect("sim_core::rt used outside a simulation task");
        f(&*ctx.api)
    })
}

fn with_spawner(fut: BoxTask) {
    let spawner = CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .map(|ctx| ctx.spawner.clone())
            .expect("sim_core::rt used outside a simulation task")
    });
    spawner(fut);
}

/// True when called from inside a simulation task.
pub fn in_simulation() -> bool {
    CURRENT.with(|c| c.borrow().is_some())
}

/// The current virtual time.
pub fn now() -> SimTime {
    with_api(|a| a.now())
}

/// Waits until `d` of virtual time has passed.
pub fn sleep(d: SimDuration) -> Sleep {
    Sleep {
        deadline: now() + d,
        timer: None,
    }
}

/// Waits until the virtual instant `deadline`.
pub fn sleep_until(deadline: SimTime) -> Sleep {
    Sleep {
        deadline,
        timer: None,
    }
}

/// Spawns a task on the current simulation.
pub fn spawn<F>(fut: F) -> JoinHandle<F::Output>
where
    F: Future + 'static,
    F::Output: 'static,
{
    let (task, handle) = netrt::joinable(fut);
    with_spawner(task);
    handle
}

/// The future returned by [`sleep`]. Dropping it before it fires cancels its timer.
#[must_use = "futures do nothing unless awaited"]
pub struct Sleep {
    deadline: SimTime,
    timer: Option<EventId>,
}

impl Sleep {
    /// The instant this sleep ends.
    pub fn deadline(&self) -> SimTime {
        self.deadline
    }
}

impl Future for Sleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let now = now();
        if now >= self.deadline {
            self.timer = None;
            return Poll::Ready(());
        }
        if self.timer.is_none() {
            let id = with_api(|a| a.add_timer(self.deadline, cx.waker().clone()));
            self.timer = Some(id);
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if let Some(id) = self.timer.take() {
            // Only a timer whose instant has not come is certainly still queued.
            if in_simulation() && now() < self.deadline {
                with_api(|a| a.cancel_timer(id));
            }
        }
    }
}

/// Runs `fut` until it finishes or `d` passes, whichever comes first.
pub async fn timeout<F: Future>(d: SimDuration, fut: F) -> Result<F::Output, Elapsed> {
    let mut fut = std::pin::pin!(fut);
    let mut sl = std::pin::pin!(sleep(d));
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if sl.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(Elapsed));
        }
        Poll::Pending
    })
    .await
}
