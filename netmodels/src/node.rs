//! Programmable nodes: nodes whose packet processing is user code (a middlebox such as
//! Bundler's sendbox, a pacer, a marker), beside hosts and switches.
//!
//! A [`NodeProgram`] sees every packet that reaches its node and is not addressed to it, and
//! the timers it set; through the [`NodeCtx`] it forwards a packet by the network's routes,
//! enqueues it on a port of its choice, drops it, sets timers, and reads or changes the rate
//! of its out-ports (a pacer). Packets carry a [`crate::PacketData::tag`] that programs may read
//! and set (e.g. epoch marks). Such a node may have any number of links and sits on the
//! routed path: routes go through it like through a switch.
//!
//! Built-in programs, usable from scenario files through [`ProgramConfig`]: [`Forward`] (a
//! plain store-and-forward hop) and [`Pacer`] (serializes its out-ports at a set rate, so the
//! queue of a slower bottleneck downstream moves to it).
//!
//! A program must not keep packets beyond a call (every packet it receives is forwarded,
//! enqueued or dropped), or it must report them in [`NodeProgram::held_bytes`] so that byte
//! accounting still holds.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use sim_core::{Handle, SimTime};

use crate::events::{Event, PortId};
use crate::network::Network;
use crate::packet::{NodeId, Packet};
use crate::port::PortError;

/// User code that processes the packets of one node. Called only from the simulation's event
/// loop, at virtual instants; everything it does through `ctx` happens at `now`.
pub trait NodeProgram {
    /// Called once when the simulation starts (at time zero), before any packet.
    fn on_start(&mut self, _now: SimTime, _ctx: &mut NodeCtx<'_>) {}
    /// A packet not addressed to this node arrived on `in_port` (the port of the neighbour
    /// that sent it, see [`crate::network::Network::ports`]).
    fn on_packet(&mut self, now: SimTime, in_port: PortId, pkt: Packet, ctx: &mut NodeCtx<'_>);
    /// A timer set with [`NodeCtx::set_timer`] fired.
    fn on_timer(&mut self, _now: SimTime, _token: u64, _ctx: &mut NodeCtx<'_>) {}
    /// Bytes of packets the program holds (not in any port); 0 for programs that never hold.
    fn held_bytes(&self) -> u64 {
        0
    }
}

/// Errors of [`NodeCtx`] operations.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeError {
    /// The port does not leave this node.
    #[error("port {port} does not leave node {node}")]
    NotOwnPort {
        /// The node.
        node: NodeId,
        /// The port.
        port: PortId,
    },
    /// The port refused the change.
    #[error("port {port}: {source}")]
    Port {
        /// The port.
        port: PortId,
        /// Why.
        #[source]
        source: PortError,
    },
}

/// What a [`NodeProgram`] may do to the network, at the current instant.
pub struct NodeCtx<'a> {
    pub(crate) net: &'a mut Network,
    pub(crate) node: NodeId,
    pub(crate) now: SimTime,
    pub(crate) h: &'a Handle<Event>,
}

impl NodeCtx<'_> {
    /// This node.
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The current instant.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// The ports leaving this node, in link order.
    pub fn out_ports(&self) -> Vec<PortId> {
        self.net.out_ports(self.node)
    }

    /// The port the network's routes (with ECMP) would send `pkt` out of from this node.
    pub fn route(&self, pkt: &Packet) -> Option<PortId> {
        self.net.route(self.node, pkt)
    }

    /// Sends `pkt` on by the network's routes, as a switch would; a packet without a route is
    /// dropped.
    pub fn forward(&mut self, pkt: Packet) {
        match self.route(&pkt) {
            Some(pid) => self.net.enqueue(self.now, pid, pkt, self.h),
            None => self.net.drop_packet(pkt),
        }
    }

    /// Queues `pkt` on `port`, which must leave this node (otherwise the packet is dropped
    /// and the error says why).
    pub fn enqueue(&mut self, port: PortId, pkt: Packet) -> Result<(), NodeError> {
        if self.owns(port) {
            self.net.enqueue(self.now, port, pkt, self.h);
            Ok(())
        } else {
            self.net.drop_packet(pkt);
            Err(NodeError::NotOwnPort {
                node: self.node,
                port,
            })
        }
    }

    /// Sends a packet this node made (a copy, or a rewritten packet whose size changed) by the
    /// routes, like [`NodeCtx::forward`], but counted as injected and given a fresh id. A
    /// program that replaces a packet by packets it made drops the original
    /// ([`NodeCtx::drop_packet`]) and originates the new ones, so byte accounting holds.
    pub fn originate(&mut self, mut pkt: Packet) {
        self.net.count_originated(&mut pkt);
        self.forward(pkt);
    }

    /// Drops `pkt` (counted as dropped in the network's byte accounting).
    pub fn drop_packet(&mut self, pkt: Packet) {
        self.net.drop_packet(pkt);
    }

    /// Calls [`NodeProgram::on_timer`] with `token` at `at` (now, if `at` has passed).
    pub fn set_timer(&mut self, at: SimTime, token: u64) {
        self.h.schedule_at(
            at,
            Event::NodeTimer {
                node: self.node,
                token,
            },
        );
    }

    fn owns(&self, port: PortId) -> bool {
        self.net
            .ports()
            .get(port as usize)
            .is_some_and(|p| p.from == self.node)
    }

    fn own(&self, port: PortId) -> Result<(), NodeError> {
        if self.owns(port) {
            Ok(())
        } else {
            Err(NodeError::NotOwnPort {
                node: self.node,
                port,
            })
        }
    }

    /// The rate of one of this node's out-ports, in bit/s.
    pub fn port_rate_bps(&self, port: PortId) -> Result<u64, NodeError> {
        self.own(port)?;
        Ok(self.net.ports()[port as usize].nominal_bps())
    }

    /// Bytes queued on one of this node's out-ports.
    pub fn port_queue_bytes(&self, port: PortId) -> Result<u64, NodeError> {
        self.own(port)?;
        Ok(self.net.ports()[port as usize].queue_bytes())
    }

    /// Changes the rate of one of this node's (fixed-rate) out-ports from the next packet on.
    pub fn set_port_rate_bps(&mut self, port: PortId, bps: u64) -> Result<(), NodeError> {
        self.own(port)?;
        self.net
            .port_mut(port)
            .set_rate_bps(bps)
            .map_err(|source| NodeError::Port { port, source })
    }
}

/// A built-in program, as scenario files name it (`program = { kind = "pacer", rate_mbps =
/// 95 }`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum ProgramConfig {
    /// Forwards every packet by the routes: a store-and-forward hop ([`Forward`]).
    Forward,
    /// Serializes every out-port at `rate_mbps` and forwards by the routes ([`Pacer`]): set
    /// just under the bottleneck's rate, it moves the standing queue to itself.
    Pacer {
        /// The rate every out-port serializes at, in Mbit/s; in (0, 10^7].
        #[schemars(range(max = 1e7), extend("x-unit" = "Mbit/s", "exclusiveMinimum" = 0))]
        rate_mbps: f64,
    },
}

impl ProgramConfig {
    /// Checks the parameters; `field` names the config field in errors.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            ProgramConfig::Forward => Ok(()),
            ProgramConfig::Pacer { rate_mbps } => {
                if rate_mbps.is_finite() && *rate_mbps > 0.0 && *rate_mbps <= 1e7 {
                    Ok(())
                } else {
                    Err(format!(
                        "rate_mbps: expected a rate in (0, 1e7] Mbit/s, got {rate_mbps}"
                    ))
                }
            }
        }
    }

    /// The program.
    pub fn build(&self) -> Box<dyn NodeProgram> {
        match self {
            ProgramConfig::Forward => Box::new(Forward),
            ProgramConfig::Pacer { rate_mbps } => Box::new(Pacer {
                rate_bps: (rate_mbps * 1e6).round() as u64,
            }),
        }
    }
}

/// Forwards every packet by the network's routes: a store-and-forward hop.
#[derive(Clone, Copy, Debug, Default)]
pub struct Forward;

impl NodeProgram for Forward {
    fn on_packet(&mut self, _now: SimTime, _in_port: PortId, pkt: Packet, ctx: &mut NodeCtx<'_>) {
        ctx.forward(pkt);
    }
}

/// Serializes every out-port at `rate_bps` (set at start) and forwards by the routes. Placed
/// before a bottleneck and set just under its rate, it moves the standing queue from the
/// bottleneck to itself, where it can be scheduled (Bundler's sendbox idea).
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    /// The pacing rate in bit/s.
    pub rate_bps: u64,
}

impl NodeProgram for Pacer {
    fn on_start(&mut self, _now: SimTime, ctx: &mut NodeCtx<'_>) {
        for p in ctx.out_ports() {
            // A trace-driven out-port keeps its trace: the error only says so.
            let _ = ctx.set_port_rate_bps(p, self.rate_bps);
        }
    }
    fn on_packet(&mut self, _now: SimTime, _in_port: PortId, pkt: Packet, ctx: &mut NodeCtx<'_>) {
        ctx.forward(pkt);
    }
}
