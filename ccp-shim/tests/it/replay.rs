//! Wire compatibility of a simulated run: the simulated datapath and agent exchange exactly
//! the bytes the Unix-socket transport carries, so a recorded run replays against upstream.
//!
//! One CCP Reno flow (a report per ACK, a window update whenever the agent's window changes)
//! runs for two simulated seconds with the message log on. Then:
//! 1. every datapath→agent message (READY, CREATE, MEASURE) is decoded by portus 0.9's
//!    deserializer, and its fields must equal ours; READY and CREATE must also be the very
//!    bytes libccp 1.2 sends for a datapath with the same id and a flow with the same
//!    information;
//! 2. every agent→datapath message (INSTALL_EXPR, CHANGE_PROG, UPDATE_FIELDS) is fed, at its
//!    arrival instant, to a libccp 1.2 datapath and to a fresh `ccp` datapath runtime holding
//!    the same flow (socket id 1 in both). libccp must accept each one, and after each
//!    message aimed at the flow both are invoked with the same signals: the window they set
//!    must be equal, and equal to the window the agent's message carried (the value the shim
//!    applied to the simulated flow when the message arrived); rates and reports (bytes) must
//!    be equal too.

use ccp::algs::{self, ParamValue, Params};
use ccp::datapath::{Config, Datapath, Primitives};
use ccp::program::{implicit, Reg};
use ccp::wire::Msg;
use ccp_shim::{Direction, ShimConfig};
use netrt::{Duration, Instant};
use portus::serialize as ps;

use crate::runtime_ffi::{CInfo, Libccp, NOW_US};
use crate::sim::{ccp, run_with};

#[test]
fn a_recorded_run_replays_against_portus_and_libccp() {
    let cfg = ShimConfig {
        log_messages: true,
        ..ShimConfig::default()
    };
    let staleness = cfg.staleness;
    let params: Params = [("report".to_string(), ParamValue::Str("per_ack".into()))].into();
    let (_sim, f) = run_with(
        1,
        2,
        ccp(cfg, move || algs::build("reno", &params).unwrap()),
    );
    let log = f.message_log();
    let st = f.stats();
    assert_eq!(
        st.invoke_errors + st.message_errors + st.agent_errors,
        0,
        "{st:?}"
    );
    let to_agent: Vec<_> = log.iter().filter(|m| m.dir == Direction::ToAgent).collect();
    let to_dp: Vec<_> = log
        .iter()
        .filter(|m| m.dir == Direction::ToDatapath)
        .collect();
    // Reports on every ACK; the agent answers when the window changes.
    assert!(to_agent.len() > 5_000 && to_dp.len() > 300, "{st:?}");
    let host = log[0].host;

    // 1. Datapath → agent, through portus's deserializer.
    let (mut readies, mut creates, mut reports) = (0, 0, 0);
    for (i, m) in to_agent.iter().enumerate() {
        let (ours, used) = Msg::decode(&m.bytes).unwrap();
        assert_eq!(used, m.bytes.len());
        let (theirs, pused) = ps::Msg::from_buf(&m.bytes).unwrap();
        assert_eq!(pused, m.bytes.len(), "message {i}");
        match (&ours, theirs) {
            (Msg::Ready(r), ps::Msg::Rdy(p)) => {
                assert_eq!(p.id, r.id);
                readies += 1;
            }
            (Msg::Create(c), ps::Msg::Cr(p)) => {
                let fl = &c.flow;
                assert_eq!(
                    (
                        p.sid,
                        p.init_cwnd,
                        p.mss,
                        p.src_ip,
                        p.src_port,
                        p.dst_ip,
                        p.dst_port
                    ),
                    (
                        c.sid,
                        fl.init_cwnd,
                        fl.mss,
                        fl.src_ip,
                        fl.src_port,
                        fl.dst_ip,
                        fl.dst_port
                    )
                );
                assert_eq!(p.cong_alg, fl.alg);
                creates += 1;
            }
            (Msg::Measure(ms), ps::Msg::Ms(p)) => {
                assert_eq!((p.sid, p.program_uid), (ms.sid, ms.program_uid));
                assert_eq!(usize::from(p.num_fields), ms.fields.len());
                assert_eq!(p.fields, ms.fields, "message {i}");
                reports += 1;
            }
            (o, t) => panic!("message {i}: ours {o:?}, portus {t:?}"),
        }
    }
    assert_eq!((readies, creates), (1, 1));
    assert!(reports > 5_000);

    // READY and CREATE are libccp's own bytes.
    let create = match Msg::decode(&to_agent[1].bytes).unwrap().0 {
        Msg::Create(c) => c,
        other => panic!("second message {other:?}"),
    };
    assert_eq!(create.sid, 1);
    NOW_US.with(|c| c.set(0));
    let mut lib = Libccp::init(host);
    assert_eq!(lib.take_msgs(), vec![to_agent[0].bytes.clone()], "READY");
    let fl = &create.flow;
    let lsid = lib.start(CInfo::new(
        fl.init_cwnd,
        fl.mss,
        [fl.src_ip, fl.src_port, fl.dst_ip, fl.dst_port],
        "",
    ));
    assert_eq!(lsid, create.sid);
    assert_eq!(lib.take_msgs(), vec![to_agent[1].bytes.clone()], "CREATE");

    // 2. Agent → datapath, into libccp and our runtime side by side.
    let mut ours = Datapath::new(
        Config::default().id(host).max_flows(usize::from(u16::MAX)),
        Instant::ZERO,
    );
    let sid = ours.open_flow(Instant::ZERO, fl.clone()).unwrap();
    assert_eq!(sid, lsid);
    let mine: Vec<Vec<u8>> =
        std::iter::from_fn(|| ours.poll_transmit().map(<[u8]>::to_vec)).collect();
    assert_eq!(
        mine,
        vec![to_agent[0].bytes.clone(), to_agent[1].bytes.clone()]
    );

    let mut cwnd = fl.init_cwnd;
    let (mut invoked, mut windows) = (0, 0);
    for (k, m) in to_dp.iter().enumerate() {
        let at = m.at + staleness;
        let us = (at - Instant::ZERO).as_micros();
        NOW_US.with(|c| c.set(us));
        ours.handle_bytes(at, &m.bytes)
            .unwrap_or_else(|e| panic!("message {k}: {e}"));
        assert!(lib.recv(&m.bytes) >= 0, "libccp refused message {k}");
        let (msg, _) = Msg::decode(&m.bytes).unwrap();
        let updates = match &msg {
            Msg::UpdateFields(u) => &u.updates,
            Msg::ChangeProg(c) => &c.updates,
            _ => continue,
        };
        assert_eq!(msg.sid(), sid);
        // The window the shim applied to the simulated flow when this message arrived.
        let sent_cwnd = updates
            .iter()
            .filter(|u| u.reg == Reg::implicit(implicit::CWND) && u.value != 0)
            .map(|u| u.value)
            .next_back();
        let p = Primitives {
            bytes_acked: fl.mss,
            packets_acked: 1,
            rtt_sample: Duration::from_millis(20),
            bytes_in_flight: cwnd,
            packets_in_flight: cwnd / fl.mss,
            snd_cwnd: cwnd,
            ..Primitives::default()
        };
        let theirs = lib.invoke(&p);
        let inv = ours.invoke(at, sid, &p);
        assert_eq!(theirs, 0, "libccp invocation after message {k}");
        assert_eq!(inv.error, None, "invocation after message {k}");
        assert_eq!(inv.cwnd, lib.seen.cwnd, "cwnd after message {k}");
        assert_eq!(
            inv.rate.map(|r| r as u32),
            lib.seen.rate,
            "rate after message {k}"
        );
        if let Some(c) = sent_cwnd {
            assert_eq!(inv.cwnd, Some(c as u32), "applied cwnd after message {k}");
            windows += 1;
        }
        let mine: Vec<Vec<u8>> =
            std::iter::from_fn(|| ours.poll_transmit().map(<[u8]>::to_vec)).collect();
        assert_eq!(mine, lib.take_msgs(), "reports after message {k}");
        if let Some(c) = inv.cwnd {
            cwnd = c;
        }
        invoked += 1;
    }
    eprintln!(
        "{} datapath->agent messages ({reports} reports) decoded by portus; {} agent->datapath \
         messages accepted by libccp, {invoked} invocations compared, {windows} windows",
        to_agent.len(),
        to_dp.len()
    );
    assert!(
        invoked > 300 && windows > 300,
        "{invoked} invocations, {windows} windows"
    );
}
