//! Spawned tasks: [`JoinHandle`] and [`JoinError`], built on nothing but `std`, so every
//! runtime returns the same handle type from [`crate::Runtime::spawn`].
//!
//! A runtime only has to run a boxed `()` future ([`crate::Runtime::spawn_boxed`]); the wrapper
//! here stores the output where the handle finds it, honours [`JoinHandle::abort`], and reports
//! [`JoinError::Cancelled`] when the runtime drops the task unfinished (for example when a
//! simulation ends).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

/// A boxed, non-`Send` future: what a runtime is asked to run.
pub type LocalBoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Why a task produced no value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum JoinError {
    /// The task was aborted through its handle, or the runtime dropped it before it finished.
    Cancelled,
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinError::Cancelled => f.write_str("task cancelled before completion"),
        }
    }
}

impl std::error::Error for JoinError {}

struct Shared<T> {
    result: Option<Result<T, JoinError>>,
    /// The task awaiting the handle.
    join_waker: Option<Waker>,
    /// The spawned task itself, so `abort` can get it polled once more.
    task_waker: Option<Waker>,
    aborted: bool,
    taken: bool,
}

impl<T> Shared<T> {
    fn finish(&mut self, r: Result<T, JoinError>) {
        if self.result.is_none() && !self.taken {
            self.result = Some(r);
        }
        if let Some(w) = self.join_waker.take() {
            w.wake();
        }
    }
}

/// Awaits the output of a spawned task: `Ok(output)`, or `Err(JoinError)` if it was aborted or
/// dropped unfinished. Dropping the handle detaches the task (it keeps running), as in tokio.
pub struct JoinHandle<T> {
    shared: Rc<RefCell<Shared<T>>>,
}

impl<T> fmt::Debug for JoinHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl<T> JoinHandle<T> {
    /// Asks the task to stop: it is dropped the next time the runtime polls it (at once on the
    /// simulator, at the next scheduler turn on tokio) and the handle resolves to
    /// [`JoinError::Cancelled`] unless the task had already finished.
    pub fn abort(&self) {
        let waker = {
            let mut s = self.shared.borrow_mut();
            s.aborted = true;
            s.task_waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// True once the task has finished, been aborted or been dropped.
    pub fn is_finished(&self) -> bool {
        let s = self.shared.borrow();
        s.result.is_some() || s.taken
    }
}

impl<T> Future for JoinHandle<T> {
    type Output = Result<T, JoinError>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.shared.borrow_mut();
        match s.result.take() {
            Some(r) => {
                s.taken = true;
                Poll::Ready(r)
            }
            None if s.taken => Poll::Ready(Err(JoinError::Cancelled)),
            None => {
                s.join_waker = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
}

/// Wraps `fut` into the `()` task a runtime runs, and the handle that observes it.
pub fn joinable<F>(fut: F) -> (LocalBoxFuture<'static, ()>, JoinHandle<F::Output>)
where
    F: Future + 'static,
    F::Output: 'static,
{
    let shared = Rc::new(RefCell::new(Shared {
        result: None,
        join_waker: None,
        task_waker: None,
        aborted: false,
        taken: false,
    }));
    let task = Task {
        fut: Some(Box::pin(fut)),
        shared: shared.clone(),
    };
    (Box::pin(task), JoinHandle { shared })
}

struct Task<F: Future> {
    fut: Option<Pin<Box<F>>>,
    shared: Rc<RefCell<Shared<F::Output>>>,
}

impl<F: Future> Future for Task<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.shared.borrow().aborted {
            // Drop the future before reporting, so its resources are released first.
            self.fut = None;
            self.shared.borrow_mut().finish(Err(JoinError::Cancelled));
            return Poll::Ready(());
        }
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(());
        };
        match fut.as_mut().poll(cx) {
            Poll::Ready(v) => {
                self.fut = None;
                self.shared.borrow_mut().finish(Ok(v));
                Poll::Ready(())
            }
            Poll::Pending => {
                let mut s = self.shared.borrow_mut();
                if !s
                    .task_waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    s.task_waker = Some(cx.waker().clone());
                }
                Poll::Pending
            }
        }
    }
}

impl<F: Future> Drop for Task<F> {
    fn drop(&mut self) {
        self.fut = None;
        if let Ok(mut s) = self.shared.try_borrow_mut() {
            s.task_waker = None;
            s.finish(Err(JoinError::Cancelled));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Flag(std::sync::atomic::AtomicBool);
    impl Wake for Flag {
        fn wake(self: Arc<Self>) {
            self.0.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn waker() -> (Waker, Arc<Flag>) {
        let f = Arc::new(Flag(false.into()));
        (Waker::from(f.clone()), f)
    }

    #[test]
    fn output_reaches_the_handle() {
        let (mut task, mut h) = joinable(async { 7 });
        let (w, _) = waker();
        let mut cx = Context::from_waker(&w);
        assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
        assert!(task.as_mut().poll(&mut cx).is_ready());
        assert!(h.is_finished());
        assert_eq!(Pin::new(&mut h).poll(&mut cx), Poll::Ready(Ok(7)));
    }

    #[test]
    fn abort_wakes_the_task_and_cancels() {
        let (mut task, mut h) = joinable(std::future::pending::<u8>());
        let (w, woken) = waker();
        let mut cx = Context::from_waker(&w);
        assert!(task.as_mut().poll(&mut cx).is_pending());
        h.abort();
        assert!(woken.0.load(std::sync::atomic::Ordering::SeqCst));
        assert!(task.as_mut().poll(&mut cx).is_ready());
        assert_eq!(
            Pin::new(&mut h).poll(&mut cx),
            Poll::Ready(Err(JoinError::Cancelled))
        );
    }

    #[test]
    fn dropped_task_reports_cancelled_and_wakes_the_joiner() {
        let (task, mut h) = joinable(std::future::pending::<u8>());
        let (w, woken) = waker();
        let mut cx = Context::from_waker(&w);
        assert!(Pin::new(&mut h).poll(&mut cx).is_pending());
        drop(task);
        assert!(woken.0.load(std::sync::atomic::Ordering::SeqCst));
        assert_eq!(
            Pin::new(&mut h).poll(&mut cx),
            Poll::Ready(Err(JoinError::Cancelled))
        );
        // Polled again after completion: still an error, never a panic.
        assert_eq!(
            Pin::new(&mut h).poll(&mut cx),
            Poll::Ready(Err(JoinError::Cancelled))
        );
    }
}
