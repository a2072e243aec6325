//! Congestion control as scenario files choose it, per workload: a native controller by name
//! (`cc = "cubic"`), or CCP (`cc = { ccp = "bbr", params = { ... }, staleness_us = 20 }`): the
//! algorithm runs in an agent inside the simulation, reached through the `ccp` datapath
//! runtime over a channel with a one-way delay.
//!
//! A CCP workload gets one [`ccp_shim::CcpFactory`] (one datapath and one agent per sending
//! host). Flows are generated before the simulation exists, so each CCP workload's flows share
//! a [`LazyCc`] that [`bind_ccp`] connects to the simulation's runtime before the first flow
//! starts.

use std::cell::OnceCell;
use std::collections::BTreeMap;
use std::fmt;
use std::rc::Rc;

use ccp::algs::{self, AnyAlgorithm, Params};
use ccp_shim::{CcpFactory, ShimConfig, ShimStats};
use netmodels::sockets::SimRuntime;
use netmodels::{Network, NodeId};
use netrt::{Duration, Instant};
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use sim_core::Simulation;
use transport::{CcFactory, CcKind, CongestionControl, FlowContext};

/// A workload's congestion control: a native controller's name, or a CCP table.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum CcChoice {
    /// A native controller, in the transport: `"reno"`, `"cubic"` or `"dctcp"`.
    Native(CcKind),
    /// An algorithm run by a CCP agent.
    Ccp(CcpChoice),
}

impl From<CcKind> for CcChoice {
    fn from(k: CcKind) -> Self {
        CcChoice::Native(k)
    }
}

/// `cc = { ccp = "<algorithm>", ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CcpChoice {
    /// The CCP algorithm, by name (README's CCP section lists the algorithms and their
    /// parameters; an unknown name is an error that lists the known ones).
    #[schemars(extend("x-unit" = "name"))]
    pub ccp: String,
    /// The algorithm's parameters, by name. Common to all: `report` (`"per_ack"`, `"per_rtt"`
    /// or `"interval"`) and `report_interval_us` (> 0). Unknown names are errors.
    #[serde(default)]
    #[schemars(with = "BTreeMap<String, serde_json::Value>", extend("x-unit" = "per parameter"))]
    pub params: Params,
    /// One-way delay between the datapath and its agent (the staleness of every report and
    /// every control message), microseconds; finite and >= 0.
    #[serde(default = "default_staleness_us")]
    #[schemars(range(min = 0), extend("x-unit" = "µs"))]
    pub staleness_us: f64,
    /// After a send to the agent fails, the datapath waits this long for any agent message
    /// before it hands the flow to the native `fallback` controller, milliseconds; > 0.
    #[serde(default = "default_fallback_timeout_ms")]
    #[schemars(extend("x-unit" = "ms", "exclusiveMinimum" = 0))]
    pub fallback_timeout_ms: f64,
    /// The native controller a flow runs in fallback (it shadows the flow from its start).
    #[serde(default = "default_fallback")]
    pub fallback: CcKind,
    /// Stops every agent of this workload at this time, seconds (a fault, to exercise the
    /// fallback); finite and >= 0. Unset: the agents run to the end.
    #[serde(default)]
    #[schemars(extend("x-unit" = "s", "x-constraint" = "≥ 0"))]
    pub agent_stop_s: Option<f64>,
}

fn default_staleness_us() -> f64 {
    20.0
}
fn default_fallback_timeout_ms() -> f64 {
    1000.0
}
fn default_fallback() -> CcKind {
    CcKind::Reno
}

impl<'de> Deserialize<'de> for CcChoice {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CcChoice;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "a native controller (\"reno\", \"cubic\", \"dctcp\") or a CCP table \
                     ({ ccp = \"<algorithm>\", ... })",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CcChoice, E> {
                CcKind::deserialize(de::value::StrDeserializer::<E>::new(v))
                    .map(CcChoice::Native)
                    .map_err(|_| {
                        E::custom(format!(
                            "unknown congestion control {v:?}: expected \"reno\", \"cubic\", \
                             \"dctcp\", or a CCP table such as {{ ccp = \"{v}\" }} (CCP \
                             algorithms: {})",
                            algs::names().join(", ")
                        ))
                    })
            }
            fn visit_map<M: MapAccess<'de>>(self, m: M) -> Result<CcChoice, M::Error> {
                CcpChoice::deserialize(de::value::MapAccessDeserializer::new(m)).map(CcChoice::Ccp)
            }
        }
        d.deserialize_any(V)
    }
}

impl CcChoice {
    /// The name results record for the flows (`"reno"`, `"ccp:bbr"`).
    pub fn name(&self) -> String {
        match self {
            CcChoice::Native(k) => k.name().to_string(),
            CcChoice::Ccp(c) => format!("ccp:{}", c.ccp),
        }
    }

    /// Range checks, and (for CCP) the algorithm and its parameters: (field under `cc`,
    /// message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let CcChoice::Ccp(c) = self else {
            return Ok(());
        };
        if !(c.staleness_us.is_finite() && c.staleness_us >= 0.0) {
            return Err((
                "cc.staleness_us".into(),
                format!("expected a non-negative number, got {}", c.staleness_us),
            ));
        }
        if !(c.fallback_timeout_ms.is_finite() && c.fallback_timeout_ms > 0.0) {
            return Err((
                "cc.fallback_timeout_ms".into(),
                format!("expected a positive number, got {}", c.fallback_timeout_ms),
            ));
        }
        if let Some(t) = c.agent_stop_s {
            if !(t.is_finite() && t >= 0.0) {
                return Err((
                    "cc.agent_stop_s".into(),
                    format!("expected a non-negative number, got {t}"),
                ));
            }
        }
        let field = |e: &algs::AlgError| match e {
            algs::AlgError::UnknownAlgorithm { .. } => "cc.ccp".to_string(),
            algs::AlgError::UnknownParam { param, .. } | algs::AlgError::BadParam { param, .. } => {
                format!("cc.params.{param}")
            }
            algs::AlgError::Program { .. } => "cc.params".to_string(),
        };
        let alg = algs::build(&c.ccp, &c.params).map_err(|e| (field(&e), e.to_string()))?;
        // The agent core checks the program set too (names, count, encodability).
        ccp::agent::Agent::<AnyAlgorithm, ()>::new(alg, ccp::agent::AgentConfig::default())
            .map_err(|e| ("cc.ccp".to_string(), e.to_string()))?;
        Ok(())
    }
}

type SimCcp = CcpFactory<SimRuntime, AnyAlgorithm>;

/// A CCP factory not yet connected to a simulation: see [`bind_ccp`].
pub struct LazyCc {
    choice: CcpChoice,
    inner: OnceCell<SimCcp>,
}

impl fmt::Debug for LazyCc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LazyCc")
            .field("choice", &self.choice)
            .field("bound", &self.inner.get().is_some())
            .finish()
    }
}

impl LazyCc {
    fn bind(&self, rt: SimRuntime) -> Result<(), String> {
        if self.inner.get().is_some() {
            return Ok(());
        }
        let c = &self.choice;
        // Validated when the scenario loaded; checked again here for a clear error.
        algs::build(&c.ccp, &c.params).map_err(|e| e.to_string())?;
        let cfg = ShimConfig {
            staleness: Duration::from_secs_f64(c.staleness_us * 1e-6),
            fallback_timeout: Duration::from_secs_f64(c.fallback_timeout_ms * 1e-3),
            agent_stop: c
                .agent_stop_s
                .map(|s| Instant::ZERO + Duration::from_secs_f64(s)),
            log_messages: false,
            fallback: c.fallback,
        };
        let (name, params) = (c.ccp.clone(), c.params.clone());
        let f = CcpFactory::new(rt, cfg, move || {
            algs::build(&name, &params).expect("parameters validated when the factory was built")
        })
        .map_err(|e| e.to_string())?;
        let _ = self.inner.set(f);
        Ok(())
    }

    /// The shim's counters (zero until bound).
    pub fn stats(&self) -> ShimStats {
        self.inner.get().map(|f| f.stats()).unwrap_or_default()
    }
}

impl CcFactory for LazyCc {
    fn build(&self, ctx: &FlowContext) -> Box<dyn CongestionControl> {
        match self.inner.get() {
            Some(f) => f.build(ctx),
            // Unreachable through the runner, which binds before any flow starts; a flow
            // built earlier gets the fallback controller rather than a panic.
            None => self.choice.fallback.build(ctx.mss, ctx.init_cwnd_pkts),
        }
    }
    fn name(&self) -> String {
        format!("ccp:{}", self.choice.ccp)
    }
}

/// The CCP factories of a run (one per CCP workload), bound to its simulation.
#[derive(Default)]
pub struct CcpBindings {
    factories: Vec<Rc<LazyCc>>,
}

impl CcpBindings {
    /// Registers a workload's factory; returns the factory its flows use.
    pub fn register(&mut self, choice: &CcChoice) -> Rc<dyn CcFactory> {
        match choice {
            CcChoice::Native(k) => Rc::new(*k),
            CcChoice::Ccp(c) => {
                let lazy = Rc::new(LazyCc {
                    choice: c.clone(),
                    inner: OnceCell::new(),
                });
                self.factories.push(lazy.clone());
                lazy
            }
        }
    }

    /// True when some workload uses CCP.
    pub fn any(&self) -> bool {
        !self.factories.is_empty()
    }

    /// Counters summed over every CCP workload.
    pub fn stats(&self) -> ShimStats {
        let mut s = ShimStats::default();
        for f in &self.factories {
            s.add(&f.stats());
        }
        s
    }
}

/// Connects every CCP factory to `sim`'s runtime (that of host `host`; the shim uses only
/// its clock and tasks). Call after [`Simulation::new`], before running.
pub fn bind_ccp(sim: &Simulation<Network>, host: NodeId, b: &CcpBindings) -> Result<(), String> {
    if !b.any() {
        return Ok(());
    }
    let rt = sim
        .model()
        .runtime(sim.handle(), host)
        .ok_or_else(|| format!("CCP: node {host} is not a host"))?;
    for f in &b.factories {
        f.bind(rt.clone())?;
    }
    Ok(())
}
