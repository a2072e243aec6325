//! Point-to-point negotiation: the server's decision ([`decide`]), the client
//! ([`connect`], [`connect_zero_rtt`] with a [`ZeroRttCache`]) and the server ([`listen`],
//! [`Listener`]), over any datagram socket.
//!
//! # Protocol (1 RTT)
//! The client sends a `Hello` with its alternatives (after its own discovery filter) over the
//! base socket, fragmented (see [`crate::wire`]), and retransmits it with exponential backoff
//! until a reply comes ([`NegotiateConfig`]). The server judges every (client, server)
//! alternative pair ([`crate::caps::match_stacks`]), ranks the compatible ones by the operator
//! policy, reserves the best one's capacity (falling back down the ranking when a reservation
//! fails), and replies `Picked` with its chosen layers, or `Refused` naming the Chunnel that
//! failed. Both ends then fix their selects and build the datapath stack over a data
//! connection tagged with the negotiation's epoch. A retransmitted `Hello` gets the cached
//! reply again, so a lost reply costs one retransmission, not a second connection.
//!
//! # Policy
//! Compatible pairs are ranked by, in order: more coverage functions provided by the client
//! (client-provided implementations first), higher total priority (accelerated over host
//! fallbacks; discovery's priorities replace the declared ones), fewer select policies
//! violated (both ends' `prefer_left_if` predicates), then the lowest client alternative
//! index, then the lowest server alternative index (left branches first). The result is a
//! deterministic function of the two stacks and the registry.
//!
//! # 0-RTT
//! A client that remembers the stack negotiated with a server ([`ZeroRttCache`]) builds it at
//! once and sends data in the same flight as its `Hello`, which carries the remembered choice.
//! The server accepts it if it is still what a 1-RTT negotiation would choose now (then the
//! early data is delivered) or rejects it with that choice under the next epoch (then the
//! early data is dropped, and the client rebuilds its stack and sends every message of the
//! rejected attempt again): no message is lost or delivered twice either way, and a stale
//! cache converges to the 1-RTT choice.

pub(crate) mod base;
mod client;
pub(crate) mod pump;
mod server;

use std::cmp::Reverse;

use serde::{Deserialize, Serialize};

pub use base::DataConn;
pub use client::{connect, connect_zero_rtt, ZeroRttCache, ZeroRttConn};
pub use server::{listen, Listener};

use crate::caps::{match_stacks, Agreement, Matched};
use crate::registry::{Lease, Registry};
use crate::stack::Alternative;
use crate::wire::{ZeroRtt, ZeroRttOutcome};
use netrt::Duration;

/// Why a negotiation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[non_exhaustive]
pub enum NegotiationError {
    /// No pair of alternatives is compatible.
    #[error(
        "no compatible stack among {client} client and {server} server alternatives: {reason}"
    )]
    Incompatible {
        /// The first pair's mismatch, naming the Chunnel.
        reason: String,
        /// Client alternatives considered.
        client: usize,
        /// Server alternatives considered.
        server: usize,
    },
    /// Compatible pairs exist but none could be deployed here.
    #[error("no compatible stack could be deployed: {}", reasons.join("; "))]
    Unavailable {
        /// Why each was passed over.
        reasons: Vec<String>,
    },
    /// The server refused (its reason).
    #[error("refused by the server: {0}")]
    Refused(String),
    /// No reply after every attempt.
    #[error("no negotiation reply after {attempts} attempts")]
    Timeout {
        /// Attempts made.
        attempts: u32,
    },
    /// A reply that does not fit the request.
    #[error("invalid negotiation reply: {0}")]
    BadReply(String),
}

/// Timing of negotiation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NegotiateConfig {
    /// Wait before the first retransmission of a `Hello`; doubles each time.
    pub rto: Duration,
    /// `Hello`s sent before giving up.
    pub max_attempts: u32,
    /// Messages a 0-RTT connection keeps for replay until the server decides; a send beyond
    /// it waits for the decision.
    pub zero_rtt_buffer: usize,
    /// Server side: data from a client that never negotiated with this listener opens a
    /// connection at once on this alternative of the server's stack, under the client's
    /// epoch, with no `Hello` (each layer's agreement has no peer offer). For listeners that
    /// serve clients negotiated elsewhere, e.g. the shard sockets of a service whose clients
    /// negotiate client-side sharding with its front address, then push requests to the
    /// shards. `None` (default): such data is held for a 0-RTT `Hello` and dropped if none
    /// comes. A listener with this set should not also take 0-RTT clients.
    pub implicit_alternative: Option<usize>,
}

impl Default for NegotiateConfig {
    fn default() -> Self {
        NegotiateConfig {
            rto: Duration::from_millis(20),
            max_attempts: 8,
            zero_rtt_buffer: 1024,
            implicit_alternative: None,
        }
    }
}

/// What a negotiation decided, as each end sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The epoch of the connection's data.
    pub epoch: u32,
    /// This end's chosen alternative.
    pub alternative: usize,
    /// Per layer of it, top first: what both ends agreed.
    pub layers: Vec<Agreement>,
    /// Why better-ranked choices were passed over.
    pub fallbacks: Vec<String>,
    /// What happened to a 0-RTT proposal.
    pub zero_rtt: ZeroRttOutcome,
}

/// The server's choice.
#[derive(Debug)]
pub struct Decision {
    /// The client's alternative.
    pub client_alt: usize,
    /// The server's alternative.
    pub server_alt: usize,
    /// The agreements of both ends.
    pub matched: Matched,
    /// Why better-ranked pairs were passed over.
    pub fallbacks: Vec<String>,
    /// The server's reservations for its chosen alternative.
    pub lease: Lease,
}

/// The server's decision: ranks every compatible pair (see the module documentation) and
/// returns the best whose server side is available and whose capacity could be reserved.
pub fn decide(
    client: &[Alternative],
    server: &[Alternative],
    reg: &Registry,
) -> Result<Decision, NegotiationError> {
    let server: Vec<Alternative> = server
        .iter()
        .map(|a| Alternative {
            layers: a.layers.iter().map(|o| reg.effective(o)).collect(),
            penalty: a.penalty,
        })
        .collect();
    type Key = (Reverse<usize>, Reverse<i64>, u32, usize, usize);
    let mut cands: Vec<(Key, Matched)> = Vec::new();
    let mut first_mismatch: Option<String> = None;
    for (ci, c) in client.iter().enumerate() {
        for (si, s) in server.iter().enumerate() {
            match match_stacks(&c.layers, &s.layers) {
                Ok(m) => {
                    let prio: i64 = c
                        .layers
                        .iter()
                        .chain(&s.layers)
                        .map(|o| i64::from(o.priority))
                        .sum();
                    let key = (
                        Reverse(m.client_provided),
                        Reverse(prio),
                        c.penalty.saturating_add(s.penalty),
                        ci,
                        si,
                    );
                    cands.push((key, m));
                }
                Err(e) => {
                    first_mismatch.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
    if cands.is_empty() {
        return Err(NegotiationError::Incompatible {
            reason: first_mismatch.unwrap_or_else(|| "one end offers no alternative".into()),
            client: client.len(),
            server: server.len(),
        });
    }
    cands.sort_by_key(|c| c.0);
    let mut fallbacks = Vec::new();
    for (key, m) in cands {
        let (ci, si) = (key.3, key.4);
        let layers = &server[si].layers;
        let check = layers
            .iter()
            .try_for_each(|o| reg.available(o))
            .and_then(|()| m.server.iter().try_for_each(|a| reg.endpoints_ok(a)))
            .and_then(|()| reg.reserve(layers));
        match check {
            Ok(lease) => {
                return Ok(Decision {
                    client_alt: ci,
                    server_alt: si,
                    matched: m,
                    fallbacks,
                    lease,
                })
            }
            Err(why) => fallbacks.push(why),
        }
    }
    Err(NegotiationError::Unavailable { reasons: fallbacks })
}

/// The server's answer to a 0-RTT proposal: the 1-RTT decision, accepted if it is the
/// remembered pair (same client alternative, same server layers after discovery's
/// priorities), rejected otherwise. So a stale cache converges to the 1-RTT choice in one
/// step, and a remembered stack is never kept once a better one is deployed.
pub fn decide_zero_rtt(
    client: &[Alternative],
    proposal: &ZeroRtt,
    server: &[Alternative],
    reg: &Registry,
) -> Result<(Decision, ZeroRttOutcome), NegotiationError> {
    let d = decide(client, server, reg)?;
    let same = d.client_alt == proposal.client_alt as usize
        && d.matched.server.len() == proposal.server.len()
        && d.matched
            .server
            .iter()
            .zip(&proposal.server)
            .all(|(a, b)| &a.local == b);
    let outcome = if same {
        ZeroRttOutcome::Accepted
    } else {
        ZeroRttOutcome::Rejected
    };
    Ok((d, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caps::{Compat, Offer, Scope};
    use crate::registry::{Endpoints, Entry};
    use netmodels::offload::{Demand, ProgrammableSwitch};
    use std::cell::RefCell;
    use std::rc::Rc;

    fn alt(layers: Vec<Offer>) -> Alternative {
        Alternative { layers, penalty: 0 }
    }
    fn ser() -> Offer {
        Offer::new("serialize", "bincode", Compat::Exact).label("bincode/1")
    }

    #[test]
    fn prefers_client_provided_then_priority_then_falls_back_on_capacity() {
        let push = Offer::new("shard", "client-push", Compat::Provides).label("push");
        let accept = Offer::new("shard", "accept-push", Compat::Relies).label("push");
        let host = Offer::new("shard", "server-host", Compat::Provides).label("server");
        let switch = Offer::new("shard", "switch", Compat::Provides)
            .label("server")
            .scope(Scope::LocalNetwork)
            .priority(10);
        let server = vec![
            alt(vec![ser(), host.clone()]),
            alt(vec![ser(), switch.clone()]),
            alt(vec![ser(), accept]),
        ];
        let reg = Registry::new();
        let sw = Rc::new(RefCell::new(ProgrammableSwitch::new("tor", 1, 1, None)));
        reg.register(
            "shard",
            "switch",
            Entry::new(Scope::LocalNetwork, Endpoints::One, 10)
                .reserve(sw, Demand::new().table_entries(1)),
        );
        // A pushing client gets client push, though the switch has higher priority.
        let d = decide(&[alt(vec![ser(), push])], &server, &reg).unwrap();
        assert_eq!(d.server_alt, 2);
        // A plain client gets the switch (priority), holding its one table entry...
        let d1 = decide(&[alt(vec![ser()])], &server, &reg).unwrap();
        assert_eq!(d1.server_alt, 1);
        // ...so the next plain client falls back to the host and says why.
        let d2 = decide(&[alt(vec![ser()])], &server, &reg).unwrap();
        assert_eq!(d2.server_alt, 0);
        assert!(d2.fallbacks[0].contains("table entries exhausted"));
        drop(d1);
        assert_eq!(
            decide(&[alt(vec![ser()])], &server, &reg)
                .unwrap()
                .server_alt,
            1
        );
    }

    #[test]
    fn incompatible_names_the_chunnel() {
        let other = Offer::new("serialize", "postcard", Compat::Exact).label("postcard/1");
        let e = decide(&[alt(vec![ser()])], &[alt(vec![other])], &Registry::new()).unwrap_err();
        assert!(e.to_string().contains("serialize"), "{e}");
    }
}
