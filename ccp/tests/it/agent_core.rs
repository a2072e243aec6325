//! Agent core tests over the in-memory transport: a scripted ACK clock drives our datapath
//! runtime, our agent answers, and the window sequence is asserted.

use ccp::agent::builtin::{ConstCwnd, Reno};
use ccp::agent::{
    Agent, AgentConfig, Algorithm, Control, ControlError, FlowState, ProgramSpec, Report,
};
use ccp::datapath::{Config, Datapath, FlowInfo, InvokeError, Primitives};
use ccp::ipc::{channel_pair, ChannelEnd, Transport};
use ccp::wire::{Create, Measure, Msg, Ready};
use netrt::{Duration, Instant};

use crate::util::us;

/// A datapath runtime and an agent joined by a channel with a one-way delay.
struct Pair<A: Algorithm> {
    dp: Datapath,
    agent: Agent<A, ()>,
    dp_end: ChannelEnd,
    agent_end: ChannelEnd,
    buf: Vec<u8>,
}

impl<A: Algorithm> Pair<A> {
    fn new(alg: A, delay_us: u64, instance: u32) -> Self {
        let (dp_end, agent_end) = channel_pair(Duration::from_micros(delay_us));
        let mut p = Pair {
            dp: Datapath::new(Config::default(), us(0)),
            agent: Agent::new(alg, AgentConfig::default().instance(instance)).unwrap(),
            dp_end,
            agent_end,
            buf: vec![0; 65536],
        };
        p.flush_dp(us(0));
        p
    }

    fn flush_dp(&mut self, now: Instant) {
        while let Some(m) = self.dp.poll_transmit() {
            self.dp_end.send_to(now, &(), m).unwrap();
        }
    }

    /// Delivers everything due at `now` in both directions.
    fn deliver(&mut self, now: Instant) {
        while let Some((n, ())) = self.agent_end.recv_from(now, &mut self.buf).unwrap() {
            self.agent.handle_bytes(now, &(), &self.buf[..n]).unwrap();
        }
        while let Some(((), m)) = self.agent.poll_transmit() {
            self.agent_end.send_to(now, &(), &m).unwrap();
        }
        while let Some((n, ())) = self.dp_end.recv_from(now, &mut self.buf).unwrap() {
            self.dp.handle_bytes(now, &self.buf[..n]).unwrap();
        }
    }
}

fn ack(bytes: u32, rtt: u64, cwnd: u32) -> Primitives {
    Primitives {
        bytes_acked: bytes,
        packets_acked: 1,
        rtt_sample: Duration::from_micros(rtt),
        snd_cwnd: cwnd,
        ..Default::default()
    }
}

fn info(dst: u32) -> FlowInfo {
    FlowInfo {
        init_cwnd: 14_600,
        mss: 1460,
        src_ip: 1,
        src_port: 1000 + dst,
        dst_ip: dst,
        dst_port: 80,
        alg: None,
    }
}

/// Runs an ACK every ms; returns the sequence of distinct windows applied.
fn run_reno(pair: &mut Pair<Reno>, sid: u32, until: u64, cwnd: &mut u32) -> Vec<u32> {
    let mut seq = vec![];
    let mut t = 1000;
    while t <= until {
        pair.deliver(us(t));
        let inv = pair.dp.invoke(us(t), sid, &ack(1460, 10_000, *cwnd));
        if let Some(c) = inv.cwnd {
            if seq.last() != Some(&c) {
                seq.push(c);
            }
            *cwnd = c;
        }
        pair.flush_dp(us(t));
        t += 1000;
    }
    seq
}

#[test]
fn reno_window_sequence_over_delayed_channel() {
    let mut pair = Pair::new(Reno, 1000, 1);
    let sid = pair.dp.open_flow(us(0), info(9)).unwrap();
    pair.flush_dp(us(0));
    let mut cwnd = 10_000;
    let seq = run_reno(&mut pair, sid, 40_000, &mut cwnd);
    // CREATE reaches the agent at 1 ms; program + Cwnd 14600 reach the datapath at 2 ms.
    // Reports when Micros > 10 ms: at 13 ms (12 ACKs since 2 ms), 24 ms and 35 ms (11 ACKs
    // each); each new window reaches the datapath 2 ms later (slow start: cwnd += acked).
    assert_eq!(
        seq,
        vec![
            14_600,
            14_600 + 12 * 1460,
            14_600 + 23 * 1460,
            14_600 + 34 * 1460
        ]
    );
    assert_eq!(pair.agent.stats().reports, 3);
    assert_eq!(pair.agent.flows(&()), vec![sid]);
}

#[test]
fn reno_halves_on_loss() {
    let mut pair = Pair::new(Reno, 1000, 1);
    let sid = pair.dp.open_flow(us(0), info(9)).unwrap();
    pair.flush_dp(us(0));
    let mut cwnd = 10_000;
    run_reno(&mut pair, sid, 5000, &mut cwnd);
    assert_eq!(cwnd, 14_600);
    // A loss is reported at once; the halved window arrives 2 ms later.
    let mut p = ack(1460, 10_000, cwnd);
    p.lost_pkts_sample = 1;
    let inv = pair.dp.invoke(us(5500), sid, &p);
    assert!(inv.reported);
    pair.flush_dp(us(5500));
    let seq = run_reno(&mut pair, sid, 9000, &mut cwnd);
    assert_eq!(seq, vec![14_600, 7300]);
}

#[test]
fn const_cwnd_holds_window() {
    let mut pair = Pair::new(ConstCwnd { packets: 20 }, 500, 3);
    let sid = pair.dp.open_flow(us(0), info(9)).unwrap();
    pair.flush_dp(us(0));
    let mut t = 0;
    let mut last = None;
    while t < 5000 {
        pair.deliver(us(t));
        if let Some(c) = pair.dp.invoke(us(t), sid, &ack(1460, 0, 7777)).cwnd {
            last = Some(c);
        }
        t += 250;
    }
    assert_eq!(last, Some(20 * 1460));
}

#[test]
fn ready_reinstalls_and_drops_old_flows() {
    let mut agent: Agent<Reno, u8> = Agent::new(Reno, AgentConfig::default()).unwrap();
    agent
        .handle_msg(us(0), &7, Msg::Ready(Ready { id: 1 }))
        .unwrap();
    let first: Vec<_> = std::iter::from_fn(|| agent.poll_transmit()).collect();
    // uid-1 reset program, then reno.
    assert_eq!(first.len(), 2);
    assert!(first.iter().all(|(d, _)| *d == 7));
    agent
        .handle_msg(
            us(0),
            &7,
            Msg::Create(Create {
                sid: 4,
                flow: FlowInfo {
                    mss: 1460,
                    init_cwnd: 14600,
                    ..Default::default()
                },
            }),
        )
        .unwrap();
    assert_eq!(agent.flows(&7), vec![4]);
    while agent.poll_transmit().is_some() {}
    // The datapath restarts: flows forgotten, programs sent again.
    agent
        .handle_msg(us(0), &7, Msg::Ready(Ready { id: 1 }))
        .unwrap();
    assert!(agent.flows(&7).is_empty());
    let again: Vec<_> = std::iter::from_fn(|| agent.poll_transmit()).collect();
    assert_eq!(again, first);
    // CREATE from an unknown datapath installs programs first (as portus does).
    agent
        .handle_msg(
            us(0),
            &9,
            Msg::Create(Create {
                sid: 1,
                ..Default::default()
            }),
        )
        .unwrap();
    let out: Vec<_> = std::iter::from_fn(|| agent.poll_transmit()).collect();
    assert_eq!(out.len(), 3, "2 installs + CHANGE_PROG");
    assert!(matches!(
        Msg::decode(&out[2].1).unwrap().0,
        Msg::ChangeProg(_)
    ));
    assert_eq!(agent.num_datapaths(), 2);
    // A close MEASURE removes the flow.
    agent
        .handle_msg(us(0), &9, Msg::Measure(Measure::close(1)))
        .unwrap();
    assert!(agent.flows(&9).is_empty());
}

#[test]
fn uids_are_unique_per_instance_and_never_one() {
    let a: Agent<Reno, ()> = Agent::new(Reno, AgentConfig::default().instance(1)).unwrap();
    let b: Agent<Reno, ()> = Agent::new(Reno, AgentConfig::default().instance(2)).unwrap();
    let (ua, ub) = (
        a.program_uid("reno").unwrap(),
        b.program_uid("reno").unwrap(),
    );
    assert_ne!(ua, ub);
    assert_ne!(ua, 1);
    assert_ne!(ub, 1);
    // A report carrying another instance's uid is dropped, not misread.
    let mut b = b;
    b.handle_msg(
        us(0),
        &(),
        Msg::Create(Create {
            sid: 1,
            flow: FlowInfo {
                mss: 1460,
                ..Default::default()
            },
        }),
    )
    .unwrap();
    b.handle_msg(
        us(0),
        &(),
        Msg::Measure(Measure {
            sid: 1,
            program_uid: ua,
            fields: vec![1, 2, 3, 4],
        }),
    )
    .unwrap();
    assert_eq!(b.stats().dropped_reports, 1);
    assert_eq!(b.stats().reports, 0);
}

#[test]
fn restarted_agent_adopts_flows_of_the_old_one() {
    let mut pair = Pair::new(Reno, 1000, 1);
    let sid = pair.dp.open_flow(us(0), info(9)).unwrap();
    pair.flush_dp(us(0));
    let mut cwnd = 10_000;
    run_reno(&mut pair, sid, 20_000, &mut cwnd);
    assert_eq!(pair.dp.flow_program(sid), pair.agent.program_uid("reno"));
    // The agent restarts with a new instance tag. It installs its programs (uid-1 reset first)
    // when the datapath announces itself; the runtime then finds the flow's program stale and
    // re-sends CREATE (at most every 100 ms), and the new agent adopts the flow.
    pair.agent = Agent::new(Reno, AgentConfig::default().instance(2)).unwrap();
    pair.dp_end
        .send_to(
            us(20_000),
            &(),
            &Msg::Ready(Ready { id: 0 }).encode().unwrap(),
        )
        .unwrap();
    let mut errors = vec![];
    let mut t = 21_000;
    while t <= 250_000 {
        pair.deliver(us(t));
        let inv = pair.dp.invoke(us(t), sid, &ack(1460, 10_000, cwnd));
        if let Some(e) = inv.error {
            errors.push(e);
        }
        if let Some(c) = inv.cwnd {
            cwnd = c;
        }
        pair.flush_dp(us(t));
        t += 1000;
    }
    assert!(matches!(errors[0], InvokeError::StaleProgram { .. }));
    assert_eq!(pair.dp.flow_program(sid), pair.agent.program_uid("reno"));
    assert_eq!(pair.agent.flows(&()), vec![sid]);
    assert!(pair.agent.stats().reports >= 1);
}

/// Aggregates flows by destination address.
#[derive(Default)]
struct ByDst {
    creates: u32,
    subflows: u32,
}

#[derive(Default)]
struct Agg {
    members: Vec<u32>,
    closed: Vec<u32>,
}

impl FlowState for Agg {
    fn on_report(&mut self, _ctl: &mut Control<'_>, _r: &Report<'_>) {}
    fn close(&mut self, sid: u32) {
        self.closed.push(sid);
    }
}

impl Algorithm for ByDst {
    type Flow = Agg;
    fn name(&self) -> &str {
        "bydst"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![ccp::agent::builtin::const_program()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, _info: &Create) -> Agg {
        self.creates += 1;
        ctl.set_program("const", &[("cwnd", 1000)]).unwrap();
        Agg {
            members: vec![ctl.sid()],
            closed: vec![],
        }
    }
    fn aggregate_key(&self, info: &Create) -> Option<u64> {
        Some(u64::from(info.flow.dst_ip))
    }
    fn create_subflow(&mut self, agg: &mut Agg, ctl: &mut Control<'_>, _info: &Create) {
        self.subflows += 1;
        agg.members.push(ctl.sid());
        ctl.set_program("const", &[("cwnd", 2000)]).unwrap();
    }
}

#[test]
fn aggregation_hooks_group_flows_by_address() {
    let mut pair = Pair::new(ByDst::default(), 100, 5);
    let a = pair.dp.open_flow(us(0), info(1)).unwrap();
    let b = pair.dp.open_flow(us(0), info(1)).unwrap();
    let c = pair.dp.open_flow(us(0), info(2)).unwrap();
    pair.flush_dp(us(0));
    for t in [100, 200, 300] {
        pair.deliver(us(t));
    }
    assert_eq!(pair.agent.algorithm().creates, 2);
    assert_eq!(pair.agent.algorithm().subflows, 1);
    let w = |pair: &mut Pair<ByDst>, sid| pair.dp.invoke(us(400), sid, &ack(0, 0, 1)).cwnd;
    assert_eq!(w(&mut pair, a), Some(1000));
    assert_eq!(w(&mut pair, b), Some(2000));
    assert_eq!(w(&mut pair, c), Some(1000));
    pair.dp.close_flow(us(500), a);
    pair.dp.close_flow(us(500), b);
    pair.flush_dp(us(500));
    pair.deliver(us(600));
    assert_eq!(pair.agent.flows(&()), vec![c]);
    assert_eq!(pair.agent.stats().closes, 2);
}

/// Starts on a probing program; on its first report switches the flow to a second program
/// with a field set from the report.
struct Switcher;
struct SwitchFlow {
    switched: bool,
}

fn probe_program() -> ProgramSpec {
    let mut b = ccp::agent::asm::ProgramBuilder::new();
    let acked = b.report("acked", 0, true);
    use ccp::agent::asm::*;
    b.always(vec![
        ins(
            ccp::program::Op::Add,
            tmp(0),
            acked,
            prim(prim::ACK_BYTES_ACKED),
        ),
        bind(acked, tmp(0)),
        bind(should_report(), imm(1)),
    ]);
    b.build("probe")
}

impl Algorithm for Switcher {
    type Flow = SwitchFlow;
    fn name(&self) -> &str {
        "switcher"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![probe_program(), ccp::agent::builtin::const_program()]
    }
    fn create(&mut self, ctl: &mut Control<'_>, _info: &Create) -> SwitchFlow {
        ctl.set_program("probe", &[]).unwrap();
        SwitchFlow { switched: false }
    }
}

impl FlowState for SwitchFlow {
    fn on_report(&mut self, ctl: &mut Control<'_>, r: &Report<'_>) {
        if !self.switched {
            self.switched = true;
            let acked = r.get("Report.acked").unwrap();
            ctl.set_program("const", &[("cwnd", acked * 10)]).unwrap();
            assert_eq!(
                ctl.update_fields(&[("nope", 1)]),
                Err(ControlError::UnknownField("nope".into()))
            );
        }
    }
}

#[test]
fn flows_switch_programs_with_fields() {
    let mut pair = Pair::new(Switcher, 100, 9);
    let sid = pair.dp.open_flow(us(0), info(3)).unwrap();
    pair.flush_dp(us(0));
    let mut t = 100;
    let mut seq = vec![];
    while t <= 1000 {
        pair.deliver(us(t));
        let inv = pair.dp.invoke(us(t), sid, &ack(1460, 0, 5000));
        if let Some(c) = inv.cwnd {
            if seq.last() != Some(&c) {
                seq.push(c);
            }
        }
        pair.flush_dp(us(t));
        t += 100;
    }
    // probe reports 1460 at 200 µs; the switch to const (cwnd = 14600) lands at 400 µs.
    assert_eq!(seq, vec![5000, 14_600]);
    assert_eq!(pair.dp.flow_program(sid), pair.agent.program_uid("const"));
}

/// Records the order in which the agent closes flows.
struct CloseLog(std::rc::Rc<std::cell::RefCell<Vec<u32>>>);
struct Logged(std::rc::Rc<std::cell::RefCell<Vec<u32>>>);

impl Algorithm for CloseLog {
    type Flow = Logged;
    fn name(&self) -> &str {
        "closelog"
    }
    fn programs(&self) -> Vec<ProgramSpec> {
        vec![ccp::agent::builtin::const_program()]
    }
    fn create(&mut self, _ctl: &mut Control<'_>, _info: &Create) -> Logged {
        Logged(self.0.clone())
    }
}

impl FlowState for Logged {
    fn on_report(&mut self, _ctl: &mut Control<'_>, _r: &Report<'_>) {}
    fn close(&mut self, sid: u32) {
        self.0.borrow_mut().push(sid);
    }
}

#[test]
fn datapath_restart_closes_flows_in_socket_id_order() {
    // The agent will run inside the deterministic simulator: when it calls algorithm code for
    // many flows at once, the order must not depend on a hasher's seed.
    let log = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let mut agent: Agent<CloseLog, u8> =
        Agent::new(CloseLog(log.clone()), AgentConfig::default()).unwrap();
    let sids: Vec<u32> = (0..64u32).map(|k| (k * 37) % 64 + 1).collect();
    for &sid in &sids {
        let create = Msg::Create(Create {
            sid,
            ..Default::default()
        });
        agent.handle_msg(us(0), &3, create).unwrap();
    }
    let mut sorted = sids.clone();
    sorted.sort_unstable();
    assert_eq!(agent.flows(&3), sorted);
    agent
        .handle_msg(us(1), &3, Msg::Ready(Ready { id: 0 }))
        .unwrap();
    assert_eq!(*log.borrow(), sorted);
}
