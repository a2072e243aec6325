//! Capabilities: what an implementation declares ([`Offer`]), how two ends' layers are judged
//! compatible ([`Compat`], [`match_stacks`]) and what both ends agreed per layer
//! ([`Agreement`]).
//!
//! # Compatibility rules
//! A stack alternative is a list of offers, top (first to process outgoing data) to bottom.
//! Two alternatives, one per end, are compatible when:
//! - their [`Compat::Exact`] layers, in order, are the same Chunnel types with equal label
//!   sets (both ends run compatible implementations: a serializer's labels name the format
//!   and version, so both ends agree on the wire layout);
//! - between two consecutive exact layers (a *segment*), the coverage layers
//!   ([`Compat::Provides`], [`Compat::Relies`]) are paired by Chunnel type. A function
//!   provided on one end only is fine (sharding at the client *or* at the server); provided
//!   on both ends, their labels must intersect; an end that *relies* on the function needs
//!   the other end to provide it with an intersecting label. A Chunnel type appears at most
//!   once per segment per end.
//!
//! The agreed labels of a layer are the exact labels, the intersection when both ends have
//! the layer, or the layer's own labels when only one end has it.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// How a Chunnel type's implementations are judged compatible across ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Compat {
    /// Both ends must run this Chunnel type, with equal labels (serialization, reliability,
    /// encryption).
    Exact,
    /// This end provides the function; the other end may provide it too (labels must then
    /// intersect) or not at all.
    Provides,
    /// This end needs the other end to provide the function with an intersecting label (a
    /// server that accepts client-side sharding).
    Relies,
}

/// Where an implementation runs, as a discovery scope.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// Inside the application (a library; the host fallback).
    Application,
    /// On the host, outside the application (kernel, SmartNIC).
    Host,
    /// In the local network (a programmable switch).
    LocalNetwork,
}

/// What one implementation of a Chunnel type declares: serializable, sent in negotiation.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Offer {
    /// The Chunnel type, e.g. `"serialize"`, `"shard"`.
    pub chunnel: String,
    /// The implementation, e.g. `"bincode-host"`, `"switch-offload"`.
    pub implementation: String,
    /// Labels, e.g. the serialization format and version.
    pub labels: BTreeSet<String>,
    /// How compatibility is judged.
    pub compat: Compat,
    /// Higher is preferred (accelerated implementations above host fallbacks). Discovery may
    /// override it.
    pub priority: i32,
    /// Where it runs.
    pub scope: Scope,
}

impl Offer {
    /// An offer with no labels, priority 0, application scope.
    pub fn new(chunnel: &str, implementation: &str, compat: Compat) -> Self {
        Offer {
            chunnel: chunnel.to_string(),
            implementation: implementation.to_string(),
            labels: BTreeSet::new(),
            compat,
            priority: 0,
            scope: Scope::Application,
        }
    }

    /// Adds a label.
    pub fn label(mut self, l: impl Into<String>) -> Self {
        self.labels.insert(l.into());
        self
    }

    /// Sets the priority.
    pub fn priority(mut self, p: i32) -> Self {
        self.priority = p;
        self
    }

    /// Sets the scope.
    pub fn scope(mut self, s: Scope) -> Self {
        self.scope = s;
        self
    }
}

/// What both ends agreed for one layer of an end's chosen alternative.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agreement {
    /// This end's offer for the layer.
    pub local: Offer,
    /// The other end's matching layer, if it has one.
    pub peer: Option<Offer>,
    /// The agreed labels (see the module documentation).
    pub labels: BTreeSet<String>,
}

/// Why two alternatives are incompatible, naming the Chunnel that failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
pub enum Mismatch {
    /// The ends have different numbers of exact layers.
    #[error("exact layers differ: {client} at the client, {server} at the server")]
    ExactCount {
        /// Chunnel types of the client's exact layers.
        client: String,
        /// Chunnel types of the server's exact layers.
        server: String,
    },
    /// An exact layer differs in type or labels.
    #[error("{chunnel}: client offers {client:?}, server offers {server:?}")]
    Exact {
        /// The Chunnel type (the client's).
        chunnel: String,
        /// The client's labels.
        client: BTreeSet<String>,
        /// The server's labels.
        server: BTreeSet<String>,
    },
    /// Both ends provide a function with disjoint labels.
    #[error("{chunnel}: no common label between {client:?} and {server:?}")]
    Disjoint {
        /// The Chunnel type.
        chunnel: String,
        /// The client's labels.
        client: BTreeSet<String>,
        /// The server's labels.
        server: BTreeSet<String>,
    },
    /// One end relies on a function the other does not provide.
    #[error("{chunnel}: the {side} relies on it, the other end does not provide it")]
    Unprovided {
        /// The Chunnel type.
        chunnel: String,
        /// `"client"` or `"server"`.
        side: String,
    },
    /// A Chunnel type appears twice in one segment of one end.
    #[error("{chunnel}: appears twice between the same exact layers at the {side}")]
    Duplicate {
        /// The Chunnel type.
        chunnel: String,
        /// `"client"` or `"server"`.
        side: String,
    },
}

/// The agreements of a compatible pair: one per layer of each end, in stack order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Matched {
    /// Per layer of the client's alternative.
    pub client: Vec<Agreement>,
    /// Per layer of the server's alternative.
    pub server: Vec<Agreement>,
    /// Coverage functions the client provides (the default policy prefers more).
    pub client_provided: usize,
}

fn segments(alt: &[Offer]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let mut exact = Vec::new();
    let mut segs = vec![Vec::new()];
    for (i, o) in alt.iter().enumerate() {
        if o.compat == Compat::Exact {
            exact.push(i);
            segs.push(Vec::new());
        } else {
            segs.last_mut().expect("one segment").push(i);
        }
    }
    (exact, segs)
}

fn names(alt: &[Offer], idx: &[usize]) -> String {
    let v: Vec<&str> = idx.iter().map(|&i| alt[i].chunnel.as_str()).collect();
    format!("[{}]", v.join(", "))
}

fn by_type<'a>(
    alt: &'a [Offer],
    seg: &[usize],
    side: &str,
) -> Result<BTreeMap<&'a str, usize>, Mismatch> {
    let mut m: BTreeMap<&str, usize> = BTreeMap::new();
    for &i in seg {
        if m.insert(alt[i].chunnel.as_str(), i).is_some() {
            return Err(Mismatch::Duplicate {
                chunnel: alt[i].chunnel.clone(),
                side: side.to_string(),
            });
        }
    }
    Ok(m)
}

/// Judges a client alternative against a server alternative (see the module documentation).
pub fn match_stacks(client: &[Offer], server: &[Offer]) -> Result<Matched, Mismatch> {
    let (ce, cs) = segments(client);
    let (se, ss) = segments(server);
    if ce.len() != se.len() {
        return Err(Mismatch::ExactCount {
            client: names(client, &ce),
            server: names(server, &se),
        });
    }
    let mut c_ag: Vec<Option<Agreement>> = vec![None; client.len()];
    let mut s_ag: Vec<Option<Agreement>> = vec![None; server.len()];
    for (&ci, &si) in ce.iter().zip(&se) {
        let (c, s) = (&client[ci], &server[si]);
        if c.chunnel != s.chunnel || c.labels != s.labels {
            return Err(Mismatch::Exact {
                chunnel: c.chunnel.clone(),
                client: c.labels.clone(),
                server: s.labels.clone(),
            });
        }
        c_ag[ci] = Some(Agreement {
            local: c.clone(),
            peer: Some(s.clone()),
            labels: c.labels.clone(),
        });
        s_ag[si] = Some(Agreement {
            local: s.clone(),
            peer: Some(c.clone()),
            labels: s.labels.clone(),
        });
    }
    let mut client_provided = 0;
    for (cseg, sseg) in cs.iter().zip(&ss) {
        let cm = by_type(client, cseg, "client")?;
        let sm = by_type(server, sseg, "server")?;
        let types: BTreeSet<&str> = cm.keys().chain(sm.keys()).copied().collect();
        for t in types {
            let c = cm.get(t).map(|&i| (i, &client[i]));
            let s = sm.get(t).map(|&i| (i, &server[i]));
            match (c, s) {
                (Some((ci, c)), Some((si, s))) => {
                    if c.compat == Compat::Relies && s.compat == Compat::Relies {
                        return Err(Mismatch::Unprovided {
                            chunnel: t.to_string(),
                            side: "client and the server both".to_string(),
                        });
                    }
                    let common: BTreeSet<String> =
                        c.labels.intersection(&s.labels).cloned().collect();
                    if common.is_empty() {
                        return Err(Mismatch::Disjoint {
                            chunnel: t.to_string(),
                            client: c.labels.clone(),
                            server: s.labels.clone(),
                        });
                    }
                    if c.compat == Compat::Provides {
                        client_provided += 1;
                    }
                    c_ag[ci] = Some(Agreement {
                        local: c.clone(),
                        peer: Some(s.clone()),
                        labels: common.clone(),
                    });
                    s_ag[si] = Some(Agreement {
                        local: s.clone(),
                        peer: Some(c.clone()),
                        labels: common,
                    });
                }
                (Some((i, o)), None) | (None, Some((i, o))) => {
                    let is_client = c.is_some();
                    if o.compat == Compat::Relies {
                        return Err(Mismatch::Unprovided {
                            chunnel: t.to_string(),
                            side: if is_client { "client" } else { "server" }.to_string(),
                        });
                    }
                    let ag = Agreement {
                        local: o.clone(),
                        peer: None,
                        labels: o.labels.clone(),
                    };
                    if is_client {
                        client_provided += 1;
                        c_ag[i] = Some(ag);
                    } else {
                        s_ag[i] = Some(ag);
                    }
                }
                (None, None) => unreachable!("type came from one of the maps"),
            }
        }
    }
    Ok(Matched {
        client: c_ag
            .into_iter()
            .map(|a| a.expect("every layer judged"))
            .collect(),
        server: s_ag
            .into_iter()
            .map(|a| a.expect("every layer judged"))
            .collect(),
        client_provided,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ser(fmt: &str) -> Offer {
        Offer::new("serialize", fmt, Compat::Exact).label(fmt)
    }
    fn shard(imp: &str, c: Compat, l: &str) -> Offer {
        Offer::new("shard", imp, c).label(l)
    }

    #[test]
    fn exact_layers_need_equal_labels() {
        assert!(match_stacks(&[ser("bincode/1")], &[ser("bincode/1")]).is_ok());
        let e = match_stacks(&[ser("bincode/1")], &[ser("postcard/1")]).unwrap_err();
        assert!(matches!(e, Mismatch::Exact { ref chunnel, .. } if chunnel == "serialize"));
        assert!(matches!(
            match_stacks(&[ser("a")], &[]).unwrap_err(),
            Mismatch::ExactCount { .. }
        ));
    }

    #[test]
    fn coverage_one_sided_or_relied() {
        let push = shard("client-push", Compat::Provides, "client-push");
        let srv = shard("server", Compat::Provides, "server");
        let accept = shard("accept-push", Compat::Relies, "client-push");
        // Client push against a server that accepts it.
        let m = match_stacks(&[ser("b"), push.clone()], &[ser("b"), accept.clone()]).unwrap();
        assert_eq!(m.client_provided, 1);
        assert_eq!(m.server[1].peer.as_ref(), Some(&push));
        // A plain client against a server that shards itself.
        let m = match_stacks(&[ser("b")], &[ser("b"), srv.clone()]).unwrap();
        assert_eq!(m.client_provided, 0);
        assert!(m.server[1].peer.is_none());
        // A plain client against a server that relies on client push.
        assert!(matches!(
            match_stacks(&[ser("b")], &[ser("b"), accept]).unwrap_err(),
            Mismatch::Unprovided { .. }
        ));
        // Both shard with disjoint labels.
        assert!(matches!(
            match_stacks(&[push], &[srv]).unwrap_err(),
            Mismatch::Disjoint { .. }
        ));
    }

    #[test]
    fn coverage_layers_pair_within_segments_only() {
        // The shard layer sits above the serializer at the client but below it at the server:
        // two different segments, so each end provides it one-sidedly.
        let push = shard("p", Compat::Provides, "x");
        let m = match_stacks(&[push.clone(), ser("b")], &[ser("b"), push]).unwrap();
        assert!(m.client[0].peer.is_none() && m.server[1].peer.is_none());
    }
}
