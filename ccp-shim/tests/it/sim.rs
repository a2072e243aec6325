use std::rc::Rc;

use ccp::agent::builtin::{const_program, reno_program, Reno, RenoFlow};
use ccp::agent::{Algorithm, Control, FlowState, ProgramSpec, Report};
use ccp::wire::Create;
use ccp::wire::Msg;
use ccp_shim::{CcpFactory, Direction, ShimConfig};
use netmodels::network::NetworkOptions;
use netmodels::sockets::SimRuntime;
use netmodels::topology::LinkParams;
use netmodels::{FlowSpec, Network, TopologyConfig};
use netrt::{Duration, Instant};
use sim_core::{RngStreams, SimTime, Simulation};
use transport::{CcFactory, CcKind};

/// Sets every flow's window to 40 packets from the agent (implicit `Cwnd` and the constant
/// program's `cwnd` field), once, when the flow is created.
struct Forty;
struct FortyFlow;
impl FlowState for FortyFlow {
    fn on_report(&mut self, _ctl: &mut Control<'_>, _r: &Report<'_>) {}
}
impl Algorithm for Forty {
    type Flow = FortyFlow;
    fn name(&self) -> &str {
        "forty"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![const_program()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> FortyFlow {
        let w = 40 * u64::from(info.flow.mss);
        ctl.set_program("const", &[("cwnd", w), ("Cwnd", w)])
            .unwrap();
        FortyFlow
    }
}

/// The built-in Reno, but halving at most once per loss episode: after a cut, losses are
/// ignored until a window's worth of data (the window before the cut, about what was in
/// flight when the loss happened) has been acknowledged, a stand-in for the recovery point.
struct EpisodeReno;
struct EpisodeFlow {
    reno: RenoFlow,
    /// Bytes still to be acknowledged before a loss may cut the window again.
    holdoff: u64,
}
impl FlowState for EpisodeFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        let acked = r.get("acked").unwrap_or(0);
        let mut loss = r.get("loss").unwrap_or(0);
        let timeout = r.get("timeout").unwrap_or(0) != 0;
        let held = self.holdoff > 0;
        self.holdoff = self.holdoff.saturating_sub(acked);
        if loss > 0 && held && !timeout {
            loss = 0;
        } else if loss > 0 || timeout {
            self.holdoff = self.reno.cwnd;
        }
        let w = self.reno.step(acked, loss, timeout);
        ctl.set_cwnd(w);
    }
}
impl Algorithm for EpisodeReno {
    type Flow = EpisodeFlow;
    fn name(&self) -> &str {
        "reno"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![reno_program()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> EpisodeFlow {
        EpisodeFlow {
            reno: Reno.create(ctl, info),
            holdoff: 0,
        }
    }
}

/// 100 Mbit/s, 20 ms RTT, a one-BDP (167-packet) drop-tail bottleneck, `pairs` pairs.
pub(crate) fn network(pairs: u32) -> Network {
    let topo = TopologyConfig::Dumbbell {
        pairs,
        bottleneck: LinkParams::fixed(100_000_000, 10_000.0, 167),
        access: LinkParams::fixed(1_000_000_000, 1.0, 1000),
        middlebox: None,
    }
    .build()
    .unwrap();
    Network::new(topo, NetworkOptions::default(), &RngStreams::new(7)).unwrap()
}

/// A simulation of `network(pairs)` with one bulk flow per pair from t = 0, each controlled by
/// what `cc` builds from the simulation's runtime; started, not yet run.
pub(crate) fn start_with<F: CcFactory + 'static>(
    pairs: u32,
    cc: impl FnOnce(SimRuntime) -> Rc<F>,
) -> (Simulation<Network>, Rc<F>) {
    let mut sim = Simulation::new(network(pairs));
    let rt = sim.model().runtime(sim.handle(), 0).unwrap();
    let f = cc(rt);
    for p in 0..pairs {
        sim.model_mut()
            .add_flow(FlowSpec {
                src: p,
                dst: pairs + p,
                size: None,
                start: SimTime::ZERO,
                cc: f.clone(),
                priority: 0,
            })
            .unwrap();
    }
    sim.model().start_events(sim.handle());
    (sim, f)
}

/// [`start_with`], run for `secs` seconds.
pub(crate) fn run_with<F: CcFactory + 'static>(
    pairs: u32,
    secs: u64,
    cc: impl FnOnce(SimRuntime) -> Rc<F>,
) -> (Simulation<Network>, Rc<F>) {
    let (mut sim, f) = start_with(pairs, cc);
    sim.run_until(SimTime::from_nanos(secs * 1_000_000_000));
    (sim, f)
}

pub(crate) fn ccp<A: Algorithm + 'static>(
    cfg: ShimConfig,
    alg: impl Fn() -> A + 'static,
) -> impl FnOnce(SimRuntime) -> Rc<CcpFactory<SimRuntime, A>> {
    move |rt| Rc::new(CcpFactory::new(rt, cfg, alg).unwrap())
}

fn goodput_mbps(sim: &Simulation<Network>, flows: u32, secs: u64) -> f64 {
    (0..flows)
        .map(|f| sim.model().flow_delivered(f) as f64)
        .sum::<f64>()
        * 8.0
        / secs as f64
        / 1e6
}

#[test]
fn ccp_reno_fills_the_link_like_native_reno() {
    let secs = 20;
    let (native, _) = run_with(1, secs, |_| Rc::new(CcKind::Reno));
    let (ccp_run, f) = run_with(1, secs, ccp(ShimConfig::default(), || EpisodeReno));
    let (gn, gc) = (
        goodput_mbps(&native, 1, secs),
        goodput_mbps(&ccp_run, 1, secs),
    );
    let st = f.stats();
    eprintln!("native {gn:.2} ccp {gc:.2} Mbit/s, {st:?}");
    assert!(gn > 85.0, "native Reno {gn:.2} Mbit/s");
    assert!(
        (gc - gn).abs() / gn < 0.05,
        "CCP Reno {gc:.2} vs native {gn:.2} Mbit/s ({st:?})"
    );
    // Per-RTT reports: about one per 20+ ms RTT over 20 s, not one per ACK.
    assert!(st.invocations > 100_000, "{st:?}");
    assert!(
        (300..2_000).contains(&st.to_agent),
        "messages to the agent: {st:?}"
    );
    assert!(st.to_datapath >= st.to_agent / 2, "{st:?}");
    assert_eq!(
        st.invoke_errors + st.message_errors + st.agent_errors,
        0,
        "{st:?}"
    );
    let rec = &ccp_run.model().flow_records(ccp_run.now())[0];
    assert_eq!(rec.cc, "ccp:reno");
    assert!(!rec.cc_fell_back);
}

#[test]
fn the_agents_window_takes_effect_when_its_message_arrives() {
    // The constant-window algorithm answers CREATE with a 40-packet window. CREATE leaves at
    // t = 0, reaches the agent at 20 µs; its answer reaches the datapath at 40 µs. The
    // handshake's SYN-ACK comes back at ~20 ms: by then the window is 40 packets, and the
    // sender sends 40 segments at that instant, not the initial 10.
    let cfg = ShimConfig {
        log_messages: true,
        ..ShimConfig::default()
    };
    let (sim, f) = run_with(1, 1, ccp(cfg, || Forty));
    let log = f.message_log();
    let change = log
        .iter()
        .find(|m| {
            m.dir == Direction::ToDatapath
                && matches!(Msg::decode(&m.bytes), Ok((Msg::ChangeProg(_), _)))
        })
        .expect("the agent switched the flow to its program");
    // Sent by the agent when CREATE arrived: 20 µs after t = 0.
    assert_eq!(change.at, Instant::ZERO + Duration::from_micros(20));
    let s = sim.model().flow_sender(0).unwrap();
    assert_eq!(s.cc().cwnd_bytes(), 40 * 1460);
    // Run a fresh copy only to just past the SYN-ACK and count what left at once.
    let (mut sim2, _) = start_with(1, ccp(ShimConfig::default(), || Forty));
    // Base RTT: 2 × (10 ms + 2 × 1 µs) plus serialization; the SYN-ACK is back before 20.1 ms.
    sim2.run_until(SimTime::from_nanos(20_100_000));
    let s2 = sim2.model().flow_sender(0).unwrap();
    assert!(
        s2.snd_nxt() >= 40 * 1460,
        "sent {} bytes after the SYN-ACK",
        s2.snd_nxt()
    );
}

#[test]
fn same_seed_same_messages_and_bytes() {
    let cfg = ShimConfig {
        log_messages: true,
        ..ShimConfig::default()
    };
    let (a, fa) = run_with(2, 3, ccp(cfg.clone(), || Reno));
    let (b, fb) = run_with(2, 3, ccp(cfg, || Reno));
    assert_eq!(fa.message_log(), fb.message_log());
    assert!(fa.message_log().len() > 200);
    for f in 0..2 {
        assert_eq!(a.model().flow_delivered(f), b.model().flow_delivered(f));
    }
}

#[test]
fn a_stopped_agent_hands_the_flow_to_the_native_controller() {
    let cfg = ShimConfig {
        agent_stop: Some(Instant::ZERO + Duration::from_secs(2)),
        fallback_timeout: Duration::from_millis(100),
        ..ShimConfig::default()
    };
    let (mut sim, f) = start_with(1, ccp(cfg, || EpisodeReno));
    sim.run_until(SimTime::from_nanos(3_000_000_000));
    let at3 = sim.model().flow_delivered(0);
    sim.run_until(SimTime::from_nanos(6_000_000_000));
    let st = f.stats();
    assert!(st.send_failures > 0, "{st:?}");
    assert_eq!(st.flows_fell_back, 1, "{st:?}");
    let rec = &sim.model().flow_records(sim.now())[0];
    assert!(rec.cc_fell_back);
    // The native controller keeps the link busy once the agent is gone.
    let mbps = (sim.model().flow_delivered(0) - at3) as f64 * 8.0 / 3.0 / 1e6;
    assert!(mbps > 85.0, "{mbps:.2} Mbit/s in fallback");
}

/// A retransmission timeout drops the window to one segment at once, as Linux's
/// `tcp_enter_loss` does under ccp-kernel, instead of keeping the pre-timeout window until
/// the agent's answer arrives.
#[test]
fn a_timeout_drops_the_window_to_one_segment_before_the_agent_answers() {
    let sim = Simulation::new(network(1));
    let rt = sim.model().runtime(sim.handle(), 0).unwrap();
    let f = CcpFactory::new(rt, ShimConfig::default(), Reno::default).unwrap();
    let ctx = transport::FlowContext {
        flow: 0,
        src: "10.0.0.1:5000".parse().unwrap(),
        dst: "10.0.1.1:80".parse().unwrap(),
        mss: 1448,
        init_cwnd_pkts: 10,
        now: SimTime::ZERO,
        waker: transport::FlowWaker::noop(),
    };
    let mut cc = transport::CcFactory::build(&f, &ctx);
    assert_eq!(cc.cwnd_bytes(), 14_480, "the initial window");
    cc.on_timeout(SimTime::from_nanos(1_000_000));
    assert_eq!(cc.cwnd_bytes(), 1448, "one segment right after the timeout");
}

/// Installs Reno's reporting program with a 40-segment window, once, when the flow is
/// created; the program itself never sets `Cwnd`.
struct WideOnce;
struct WideOnceFlow;
impl FlowState for WideOnceFlow {
    fn on_report(&mut self, _ctl: &mut Control<'_>, _r: &Report<'_>) {}
}
impl Algorithm for WideOnce {
    type Flow = WideOnceFlow;
    fn name(&self) -> &str {
        "wide-once"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![reno_program()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, info: &Create) -> WideOnceFlow {
        let w = 40 * u64::from(info.flow.mss);
        ctl.set_program("reno", &[("Cwnd", w)]).unwrap();
        WideOnceFlow
    }
}

/// A window the agent set, applied when its message arrived, is not applied a second time
/// at the next invocation: a timeout after it keeps its one-segment window, and so do the
/// ACKs after the timeout, until the agent says otherwise. (The runtime used to keep the
/// update staged until the next invocation, which was the timeout's: the window went back to
/// the pre-timeout 40 segments at once, and 10-packet incast flows timed out twice.)
#[test]
fn an_applied_agent_window_does_not_come_back_after_a_timeout() {
    let mut sim = Simulation::new(network(1));
    let rt = sim.model().runtime(sim.handle(), 0).unwrap();
    let f = CcpFactory::new(rt, ShimConfig::default(), || WideOnce).unwrap();
    let ctx = transport::FlowContext {
        flow: 0,
        src: "10.0.0.1:5000".parse().unwrap(),
        dst: "10.0.1.1:80".parse().unwrap(),
        mss: 1448,
        init_cwnd_pkts: 10,
        now: SimTime::ZERO,
        waker: transport::FlowWaker::noop(),
    };
    let mut cc = transport::CcFactory::build(&f, &ctx);
    // CREATE reaches the agent after 20 µs, its CHANGE_PROG the datapath 20 µs later.
    sim.run_until(SimTime::from_nanos(200_000));
    assert_eq!(
        cc.cwnd_bytes(),
        40 * 1448,
        "the agent's window, at its arrival"
    );
    let t = SimTime::from_nanos(1_000_000);
    cc.on_timeout(t);
    assert_eq!(cc.cwnd_bytes(), 1448, "one segment after the timeout");
    let ack = transport::AckSignals {
        bytes_acked: 1448,
        packets_acked: 1,
        was_timeout: true,
        rtt_sample: Some(Duration::from_micros(20)),
        snd_cwnd: 1448,
        ..transport::AckSignals::default()
    };
    cc.on_ack(t + Duration::from_micros(20), &ack);
    assert_eq!(cc.cwnd_bytes(), 1448, "the ACK after the timeout");
}

/// A flow's record carries what the agent's algorithm exports about it: live for a flow that
/// is still running, and for a flow that completed, what the agent held when it closed (the
/// agent forgets the flow once the close reaches it, 20 µs later).
#[test]
fn flow_records_carry_the_agents_exports_also_after_the_flow_closed() {
    let mut sim = Simulation::new(network(2));
    let rt = sim.model().runtime(sim.handle(), 0).unwrap();
    let f = Rc::new(
        CcpFactory::new(rt, ShimConfig::default(), || {
            ccp::algs::build("reno", &ccp::algs::Params::new()).unwrap()
        })
        .unwrap(),
    );
    for (p, size) in [(0, Some(200_000)), (1, None)] {
        sim.model_mut()
            .add_flow(FlowSpec {
                src: p,
                dst: 2 + p,
                size,
                start: SimTime::ZERO,
                cc: f.clone(),
                priority: 0,
            })
            .unwrap();
    }
    sim.model().start_events(sim.handle());
    sim.run_until(SimTime::from_nanos(2_000_000_000));
    let recs = sim.model().flow_records(sim.now());
    assert!(recs[0].fct_s.is_some(), "the sized flow completed");
    assert!(recs[1].fct_s.is_none(), "the bulk flow runs");
    for r in &recs {
        assert!(r.cc_state.starts_with("cwnd_bytes="), "{r:?}");
        assert!(r.cc_state.contains(";last_rtt_us="), "{r:?}");
    }
}
