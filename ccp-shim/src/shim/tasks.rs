//! The two tasks per host: the agent's (run the algorithm on due messages, send its answers)
//! and the datapath's (apply the agent's messages at their arrival instants).

use std::cell::RefCell;
use std::rc::Rc;

use ccp::agent::{Agent, Algorithm};
use ccp::ipc::{ChannelEnd, Transport};
use ccp::wire::MAX_MSG_LEN;
use netrt::{Instant, Runtime};

use super::Host;

/// The agent side of one host: receive due messages, run the algorithm, answer.
pub(super) async fn agent_task<R: Runtime, A: Algorithm>(
    rt: R,
    agent: Rc<RefCell<Agent<A, ()>>>,
    mut end: ChannelEnd,
    host: Rc<Host>,
    stop: Option<Instant>,
) {
    let mut buf = vec![0u8; MAX_MSG_LEN];
    loop {
        let now = rt.now();
        if stop.is_some_and(|t| now >= t) {
            // Dropping `end` makes the datapath's sends fail: its fallback timer starts.
            return;
        }
        agent_step(&mut agent.borrow_mut(), &mut end, &host, now, &mut buf);
        let wake = match (end.next_arrival(), stop) {
            (Some(a), Some(s)) => Some(a.min(s)),
            (a, s) => a.or(s),
        };
        match wake {
            Some(t) => {
                let _ = rt
                    .timeout(t.saturating_since(now), host.agent_notify.notified())
                    .await;
            }
            None => host.agent_notify.notified().await,
        }
    }
}

/// One step of [`agent_task`]: hand every due message to the agent, send its answers, wake
/// the datapath task if it needs it.
fn agent_step<A: Algorithm>(
    agent: &mut Agent<A, ()>,
    end: &mut ChannelEnd,
    host: &Host,
    now: Instant,
    buf: &mut [u8],
) {
    let mut errors = 0;
    while let Ok(Some((n, ()))) = end.recv_from(now, buf) {
        if agent.handle_bytes(now, &(), &buf[..n]).is_err() {
            errors += 1;
        }
    }
    // The datapath task needs a wake-up only when nothing was in flight to it (otherwise
    // it already waits for the earliest arrival; see `HostState::flush`).
    let idle = end.in_flight() == 0;
    let mut sent = false;
    while let Some(ok) = agent.poll_transmit_with(|(), m| {
        let ok = end.send_to(now, &(), m).is_ok();
        if ok {
            host.state.borrow_mut().log_to_datapath(now, m);
        }
        ok
    }) {
        sent |= ok;
    }
    if errors > 0 {
        host.state.borrow_mut().stats.agent_errors += errors;
    }
    if sent && idle {
        host.dp_notify.notify();
    }
}

/// The datapath side of one host: apply the agent's messages at their arrival instants.
pub(super) async fn datapath_task<R: Runtime>(rt: R, host: Rc<Host>) {
    let mut buf = vec![0u8; MAX_MSG_LEN];
    loop {
        let now = rt.now();
        let next = {
            let mut st = host.state.borrow_mut();
            st.receive(now, &mut buf);
            st.end.next_arrival()
        };
        match next {
            Some(t) => {
                let _ = rt
                    .timeout(t.saturating_since(now), host.dp_notify.notified())
                    .await;
            }
            None => host.dp_notify.notified().await,
        }
    }
}
