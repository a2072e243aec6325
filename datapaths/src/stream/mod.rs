//! The project's transport on real sockets: [`transport::Sender`] and [`transport::Receiver`]
//! driven by tokio over UDP ([`endpoint::Endpoint`]), with the datagram encoding of
//! [`wire`], and the workloads the `realflow` binary runs:
//! - bulk transfer ([`bulk_send`], [`bulk_recv`]): N bytes or a duration; the sender reports
//!   goodput, retransmissions and RTT samples, the receiver goodput and a digest of the bytes;
//! - request/response ([`rr_client`], [`rr_server`]): each request is a stream whose first 16
//!   bytes announce the response size, answered by a stream of that size; the client reports
//!   each request's completion time (FCT).
//!
//! Congestion control is any [`transport::CcFactory`]: the native controllers
//! ([`transport::CcKind`]) or CCP ([`ccp_remote`]: the `ccp-shim` datapath with its agent in
//! another process, reached over the Unix socket of [`crate::unix`]). [`linux_tcp`] runs the
//! same two workloads over the kernel's TCP with a chosen `TCP_CONGESTION`, for comparison.
//!
//! Submodules: [`wire`] (datagram encoding, checked decoding), [`payload`] (application bytes,
//! digest, reassembly), [`endpoint`] (the driver), [`ccp_remote`], [`linux_tcp`].

pub mod ccp_remote;
pub mod endpoint;
pub mod linux_tcp;
pub mod payload;
pub mod wire;

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use netrt::{Duration, Instant};
use serde::Serialize;
use transport::CcFactory;

use crate::tokio_rt::TokioRuntime;
use endpoint::{Endpoint, EndpointConfig, Event};
use payload::Source;

/// RTT samples of one stream, in microseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RttSummary {
    /// Samples taken (one per ACK of new data).
    pub count: u64,
    /// Smallest.
    pub min: u32,
    /// Median.
    pub p50: u32,
    /// 99th percentile.
    pub p99: u32,
    /// Largest.
    pub max: u32,
    /// Mean.
    pub mean: f64,
}

impl RttSummary {
    /// Summarises `samples` (of `count` taken; only the kept ones enter the quantiles).
    pub fn of(mut samples: Vec<u32>, count: u64) -> Self {
        if samples.is_empty() {
            return RttSummary {
                count,
                ..Default::default()
            };
        }
        samples.sort_unstable();
        let q = |p: f64| samples[((samples.len() - 1) as f64 * p).round() as usize];
        let mean = samples.iter().map(|&s| f64::from(s)).sum::<f64>() / samples.len() as f64;
        RttSummary {
            count,
            min: samples[0],
            p50: q(0.5),
            p99: q(0.99),
            max: samples[samples.len() - 1],
            mean,
        }
    }
}

/// What a sender reports when its stream is complete.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SendReport {
    /// The receiver.
    pub peer: String,
    /// Stream id.
    pub stream: u32,
    /// Congestion control (`reno`, `ccp:reno`, …).
    pub cc: String,
    /// Bytes delivered (acknowledged).
    pub bytes: u64,
    /// Seconds from opening the stream to the last byte acknowledged.
    pub secs: f64,
    /// `bytes · 8 / secs`.
    pub goodput_bps: f64,
    /// Segments transmitted (retransmissions and the SYN included).
    pub segments_sent: u64,
    /// Segments retransmitted.
    pub retransmitted_segments: u64,
    /// Retransmission timeouts.
    pub timeouts: u64,
    /// Fast-recovery episodes.
    pub recoveries: u64,
    /// A CCP flow ran its fallback controller.
    pub fell_back: bool,
    /// RTT samples.
    pub rtt_us: RttSummary,
    /// Digest of the bytes sent (hex; when verifying).
    pub digest: Option<String>,
}

/// What a receiver reports when a stream is complete.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecvReport {
    /// The sender.
    pub peer: String,
    /// Stream id.
    pub stream: u32,
    /// Bytes delivered in order.
    pub bytes: u64,
    /// Seconds from the first segment to the last byte.
    pub secs: f64,
    /// `bytes · 8 / secs`.
    pub goodput_bps: f64,
    /// Digest of the bytes received (hex; when verifying).
    pub digest: Option<String>,
    /// Data segments received.
    pub segments: u64,
    /// Segments that carried nothing new.
    pub duplicate_segments: u64,
    /// Segments that arrived above a hole.
    pub out_of_order_segments: u64,
    /// The request header (response bytes, request id), for request streams.
    pub request: Option<(u64, u64)>,
}

/// How much a bulk sender sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    /// Exactly this many bytes per flow.
    Bytes(u64),
    /// Send for this long, then finish what is in flight.
    Duration(Duration),
}

/// Errors of the stream workloads.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StreamError {
    /// A socket operation failed.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The workload did not finish in time.
    #[error("timed out after {0:?}: {1}")]
    TimedOut(std::time::Duration, String),
    /// A peer's answer made no sense.
    #[error("protocol error: {0}")]
    Protocol(String),
}

/// The pattern seed of bulk stream `id`.
pub fn bulk_source(id: u32) -> Source {
    Source::Pattern {
        seed: 0x5eed_0000 + u64::from(id),
    }
}

/// Sends `flows` bulk streams (ids 0..flows) to `to` from `bind` and waits until each is
/// acknowledged; gives up after `limit`. Reports per stream, in completion order.
#[allow(clippy::too_many_arguments)]
pub async fn bulk_send(
    rt: &TokioRuntime,
    bind: SocketAddr,
    to: SocketAddr,
    flows: u32,
    amount: Amount,
    cfg: EndpointConfig,
    cc: Rc<dyn CcFactory>,
    limit: Duration,
) -> Result<(Vec<SendReport>, endpoint::EndpointStats), StreamError> {
    let mut ep = Endpoint::bind(rt, bind, cfg, cc).await?;
    let start = ep.now();
    let total = match amount {
        Amount::Bytes(b) => Some(b),
        Amount::Duration(_) => None,
    };
    for id in 0..flows {
        ep.open(to, id, total, bulk_source(id));
    }
    let mut stop = match amount {
        Amount::Duration(d) => Some(start + d),
        Amount::Bytes(_) => None,
    };
    let give_up = start + limit;
    let mut out = Vec::new();
    while out.len() < flows as usize {
        let deadline = stop.map_or(give_up, |s| s.min(give_up));
        match ep.next_event(Some(deadline)).await? {
            Some(Event::Sent(r)) => out.push(r),
            Some(Event::Received(_)) => {}
            None => {
                if stop.is_some_and(|s| ep.now() >= s) {
                    for id in 0..flows {
                        ep.end_stream(to, id);
                    }
                    stop = None;
                } else {
                    return Err(StreamError::TimedOut(
                        limit.into(),
                        format!(
                            "{} of {flows} streams acknowledged; {}",
                            out.len(),
                            ep.describe_senders()
                        ),
                    ));
                }
            }
        }
    }
    Ok((out, ep.stats()))
}

/// Receives bulk streams on `bind` until `flows` are complete (or `limit` passes), then
/// keeps answering for `linger` (so a sender whose last ACK was lost completes). `ready` is
/// called with the bound address once listening.
pub async fn bulk_recv(
    rt: &TokioRuntime,
    bind: SocketAddr,
    flows: u32,
    mut cfg: EndpointConfig,
    linger: Duration,
    limit: Option<Duration>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(Vec<RecvReport>, endpoint::EndpointStats), StreamError> {
    cfg.accept = true;
    let mut ep = Endpoint::bind(rt, bind, cfg, Rc::new(transport::CcKind::Reno)).await?;
    ready(ep.local_addr());
    let give_up = limit.map(|l| ep.now() + l);
    let mut out = Vec::new();
    while out.len() < flows as usize {
        match ep.next_event(give_up).await? {
            Some(Event::Received(r)) => out.push(r),
            Some(Event::Sent(_)) => {}
            None => {
                return Err(StreamError::TimedOut(
                    limit.unwrap_or_default().into(),
                    format!("{} of {flows} streams received", out.len()),
                ))
            }
        }
    }
    let end = ep.now() + linger;
    while ep.next_event(Some(end)).await?.is_some() {}
    Ok((out, ep.stats()))
}

/// One request's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RequestResult {
    /// Request number.
    pub id: u64,
    /// Request bytes (header included).
    pub req_bytes: u64,
    /// Response bytes.
    pub resp_bytes: u64,
    /// Flow completion time: from sending the request to the last response byte, µs.
    pub fct_us: f64,
    /// The response arrived intact (digest matches; `None` when not verifying).
    pub intact: Option<bool>,
}

/// Sends `requests` requests of `req_bytes` (at least the 16-byte header) to `to`, one after
/// another, each answered by `resp_bytes` (at least 1); reports each FCT.
#[allow(clippy::too_many_arguments)]
pub async fn rr_client(
    rt: &TokioRuntime,
    bind: SocketAddr,
    to: SocketAddr,
    requests: u64,
    req_bytes: u64,
    resp_bytes: u64,
    mut cfg: EndpointConfig,
    cc: Rc<dyn CcFactory>,
    limit: Duration,
) -> Result<Vec<RequestResult>, StreamError> {
    cfg.accept = true;
    let verify = cfg.verify;
    let mut ep = Endpoint::bind(rt, bind, cfg, cc).await?;
    let req_bytes = req_bytes.max(payload::HEADER_LEN as u64);
    let resp_bytes = resp_bytes.max(1);
    let give_up = ep.now() + limit;
    let mut out = Vec::new();
    for k in 0..requests {
        let id =
            u32::try_from(2 * k).map_err(|_| StreamError::Protocol("too many requests".into()))?;
        let t0 = ep.now();
        ep.open(to, id, Some(req_bytes), Source::request(resp_bytes, k));
        loop {
            match ep.next_event(Some(give_up)).await? {
                Some(Event::Received(r)) if r.stream == id + 1 => {
                    let fct = ep.now().saturating_since(t0);
                    let intact = verify.then(|| {
                        let want = payload::digest_of(&response_source(id + 1), resp_bytes);
                        r.digest == Some(format!("{want:016x}")) && r.bytes == resp_bytes
                    });
                    out.push(RequestResult {
                        id: k,
                        req_bytes,
                        resp_bytes,
                        fct_us: fct.as_nanos() as f64 / 1e3,
                        intact,
                    });
                    break;
                }
                Some(_) => {}
                None => {
                    return Err(StreamError::TimedOut(
                        limit.into(),
                        format!("{} of {requests} requests answered", out.len()),
                    ))
                }
            }
        }
    }
    // Let the last request's sender see its final ACK (it already did, or the response
    // could not have been sent), and answer a retransmitted last segment.
    let end = ep.now() + Duration::from_millis(50);
    while ep.next_event(Some(end)).await?.is_some() {}
    Ok(out)
}

/// The pattern of the response on stream `id`.
pub fn response_source(id: u32) -> Source {
    Source::Pattern {
        seed: 0x7e59_0000 + u64::from(id),
    }
}

/// Serves requests on `bind` until `stop_after` (or forever): each complete request stream
/// `id` from a client is answered with stream `id + 1` of the size its header asks for.
/// Returns the number of requests served.
pub async fn rr_server(
    rt: &TokioRuntime,
    bind: SocketAddr,
    mut cfg: EndpointConfig,
    cc: Rc<dyn CcFactory>,
    stop_after: Option<Duration>,
    ready: impl FnOnce(SocketAddr),
) -> Result<u64, StreamError> {
    cfg.accept = true;
    let mut ep = Endpoint::bind(rt, bind, cfg, cc).await?;
    ready(ep.local_addr());
    let end: Option<Instant> = stop_after.map(|d| ep.now() + d);
    let mut served = 0;
    while let Some(ev) = ep.next_event(end).await? {
        if let Event::Received(r) = ev {
            let Some((resp, _)) = r.request else { continue };
            let Ok(peer) = r.peer.parse::<SocketAddr>() else {
                continue;
            };
            let id = r.stream.wrapping_add(1);
            ep.open(peer, id, Some(resp), response_source(id));
            served += 1;
        }
    }
    Ok(served)
}
