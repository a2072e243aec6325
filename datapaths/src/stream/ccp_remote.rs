//! CCP with the agent in another process: a [`ccp_shim::CcpFactory`] whose per-host relay
//! moves the datapath's messages over a Unix datagram socket to an agent (the `ccp agent`
//! binary, or portus) at `/tmp/ccp/<agent name>`, and the agent's answers back.
//!
//! Each host's relay binds its own socket `/tmp/ccp/<agent name>-dp-<pid>-<host ip>` with the
//! checks of [`crate::unix::UnixTransport::bind`] (a live socket is never replaced; the file
//! is removed when the relay ends). The agent answers every datapath at the address its
//! messages came from, as portus does.

use std::collections::VecDeque;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::rc::Rc;

use ccp::algs::AnyAlgorithm;
use ccp_shim::{AgentLink, CcpFactory, ShimConfig};
use netrt::{Duration, LocalBoxFuture};

use crate::tokio_rt::TokioRuntime;
use crate::unix::{ccp_path, check_ipc_name, UnixTransport, RECV_BUF};

/// A CCP factory for flows on `rt` whose agent listens on `/tmp/ccp/<agent_name>`.
/// `alg_name` labels the flows (`ccp:<alg_name>`); the agent decides the algorithm.
pub fn factory(
    rt: &TokioRuntime,
    agent_name: &str,
    alg_name: &str,
) -> io::Result<Rc<CcpFactory<TokioRuntime, AnyAlgorithm>>> {
    check_ipc_name(agent_name)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let agent = ccp_path(agent_name);
    let prefix = format!("{agent_name}-dp-{}", std::process::id());
    let cfg = ShimConfig {
        staleness: Duration::ZERO,
        ..ShimConfig::default()
    };
    let f = CcpFactory::with_remote_agent(rt.clone(), cfg, alg_name, move |link| {
        relay(link, agent.clone(), prefix.clone())
    });
    Ok(Rc::new(f))
}

fn relay(
    link: AgentLink<TokioRuntime>,
    agent: PathBuf,
    prefix: String,
) -> LocalBoxFuture<'static, ()> {
    Box::pin(async move {
        let name = format!("{prefix}-{}", Ipv4Addr::from(link.host_ip()));
        // Ending the relay drops the link: the datapath's sends fail and its fallback
        // controller takes over after the fallback timeout.
        if let Err(e) = run_relay(link, &agent, &name).await {
            eprintln!("ccp relay {name}: {e}");
        }
    })
}

async fn run_relay(
    mut link: AgentLink<TokioRuntime>,
    agent: &PathBuf,
    name: &str,
) -> io::Result<()> {
    // The checked bind (directory, stale or live socket); the file goes with `bound`.
    let bound = UnixTransport::bind(name)?;
    let std_sock = bound.socket().try_clone()?;
    std_sock.set_read_timeout(None)?;
    std_sock.set_nonblocking(true)?;
    let sock = tokio::net::UnixDatagram::from_std(std_sock)?;
    // Connected, so that the kernel reports the socket writable only when the agent's
    // queue has room (an unconnected Unix datagram sender is told it is writable while the
    // peer's queue is full, and then waits for a readiness change that may never come).
    sock.connect(agent).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("connecting to the agent at {}: {e}", agent.display()),
        )
    })?;
    let mut to_agent = vec![0u8; RECV_BUF];
    let mut from_agent = vec![0u8; RECV_BUF];
    // Messages the agent's queue had no room for yet. The relay never blocks on a send:
    // it keeps reading the agent's answers meanwhile (a relay blocked on a full agent queue
    // while the agent blocks on the relay's full queue would stop both for good).
    let mut backlog: VecDeque<Vec<u8>> = VecDeque::new();
    let gone = |e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("sending to the agent at {}: {e}", agent.display()),
        )
    };
    loop {
        while let Some(m) = backlog.front() {
            match sock.try_send(m) {
                Ok(_) => {
                    backlog.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // No agent at the path any more: end the relay.
                Err(e) => return Err(gone(e)),
            }
        }
        tokio::select! {
            n = link.recv(&mut to_agent) => {
                let m = &to_agent[..n];
                if !backlog.is_empty() {
                    backlog.push_back(m.to_vec());
                } else {
                    match sock.try_send(m) {
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            backlog.push_back(m.to_vec())
                        }
                        Err(e) => return Err(gone(e)),
                    }
                }
            }
            r = sock.recv(&mut from_agent) => {
                let n = r?;
                link.send(&from_agent[..n]);
            }
            r = sock.writable(), if !backlog.is_empty() => r?,
        }
    }
}
