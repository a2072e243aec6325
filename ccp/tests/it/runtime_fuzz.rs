//! Proptest stand-in for the `runtime` fuzz target: arbitrary INSTALL / UPDATE / CHANGE_PROG
//! messages (structurally valid or raw bytes) fed to the runtime, interleaved with
//! invocations, never panic, never loop, and keep the runtime within its limits.

use ccp::datapath::{Config, Datapath, FlowInfo, Primitives};
use ccp::program::{Expression, Instr, Op, Program, Reg, RegKind};
use ccp::wire::{ChangeProg, InstallExpr, Msg, UpdateField, UpdateFields};
use netrt::{Duration, Instant};
use proptest::prelude::*;

fn reg() -> BoxedStrategy<Reg> {
    (0u8..=8, prop_oneof![0u32..20, 100u32..120, any::<u32>()])
        .prop_map(|(k, i)| Reg::new(RegKind::from_u8(k).unwrap(), i))
        .boxed()
}

fn program() -> impl Strategy<Value = Program> {
    let instr = (0u8..15, reg(), reg(), reg()).prop_map(|(o, res, left, right)| Instr {
        op: Op::from_u8(o).unwrap(),
        res,
        left,
        right,
    });
    let idx = prop_oneof![0u32..40, any::<u32>()];
    let expr = (idx.clone(), idx.clone(), idx.clone(), idx).prop_map(|(a, b, c, d)| Expression {
        cond_start: a,
        num_cond: b % 50,
        body_start: c,
        num_body: d % 50,
    });
    let small = (
        prop::collection::vec(expr, 0..8),
        prop::collection::vec(instr, 0..40),
    );
    // DEF-heavy programs around the report-register limit, with a clause that reports.
    let def = (0u32..110, any::<bool>(), any::<u32>()).prop_map(|(i, v, d)| Instr {
        op: Op::Def,
        res: Reg::report(i, v),
        left: Reg::report(i, v),
        right: Reg::imm(u64::from(d)),
    });
    let big = prop::collection::vec(def, 100..130).prop_map(|mut d| {
        let n = d.len() as u32;
        let set = |r: Reg| Instr {
            op: Op::Bind,
            res: r,
            left: r,
            right: Reg::imm(1),
        };
        d.push(set(Reg::implicit(0)));
        d.push(set(Reg::implicit(2)));
        let e = Expression {
            cond_start: n,
            num_cond: 1,
            body_start: n + 1,
            num_body: 1,
        };
        (vec![e], d)
    });
    prop_oneof![4 => small, 1 => big].prop_map(|(expressions, instrs)| Program {
        expressions,
        instrs,
    })
}

#[derive(Clone, Debug)]
enum Op_ {
    Install(u32, Program),
    Change(u32, u32, Vec<UpdateField>),
    Update(u32, Vec<UpdateField>),
    Raw(Vec<u8>),
    Invoke(u32, u64, u32, u32),
    SendFailed,
    Open,
    Close(u32),
}

fn update() -> impl Strategy<Value = UpdateField> {
    (reg(), any::<u64>()).prop_map(|(reg, value)| UpdateField { reg, value })
}

fn op() -> impl Strategy<Value = Op_> {
    prop_oneof![
        3 => (0u32..4, program()).prop_map(|(u, p)| Op_::Install(u, p)),
        2 => (0u32..4, 0u32..4, prop::collection::vec(update(), 0..4))
            .prop_map(|(s, u, f)| Op_::Change(s, u, f)),
        2 => (0u32..4, prop::collection::vec(update(), 0..4)).prop_map(|(s, f)| Op_::Update(s, f)),
        1 => prop::collection::vec(any::<u8>(), 0..100).prop_map(Op_::Raw),
        6 => (0u32..4, any::<u64>(), any::<u32>(), any::<u32>())
            .prop_map(|(s, r, a, c)| Op_::Invoke(s, r, a, c)),
        1 => Just(Op_::SendFailed),
        1 => Just(Op_::Open),
        1 => (0u32..4).prop_map(Op_::Close),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, ..ProptestConfig::default() })]

    #[test]
    fn runtime_survives_arbitrary_agent_messages(ops in prop::collection::vec(op(), 1..60)) {
        let mut dp = Datapath::new(Config::default().max_programs(3).max_flows(3)
            .fallback_timeout(Duration::from_micros(50)), Instant::ZERO);
        let _ = dp.open_flow(Instant::ZERO, FlowInfo::default());
        let mut now = Instant::ZERO;
        for o in ops {
            now += Duration::from_micros(10);
            match o {
                Op_::Install(uid, program) => {
                    let m = Msg::InstallExpr(InstallExpr { sid: 0, program_uid: uid, program });
                    let _ = dp.handle_msg(now, m.clone());
                    // The same through bytes.
                    if let Ok(b) = m.encode() {
                        let _ = dp.handle_bytes(now, &b);
                    }
                }
                Op_::Change(sid, uid, updates) => {
                    let _ = dp.handle_msg(now, Msg::ChangeProg(ChangeProg { sid, program_uid: uid, updates }));
                }
                Op_::Update(sid, updates) => {
                    let _ = dp.handle_msg(now, Msg::UpdateFields(UpdateFields { sid, updates }));
                }
                Op_::Raw(b) => { let _ = dp.handle_bytes(now, &b); }
                Op_::Invoke(sid, rtt, acked, cwnd) => {
                    let p = Primitives { rtt_sample: Duration::from_nanos(rtt), bytes_acked: acked, snd_cwnd: cwnd,
                        rate_outgoing: rtt, lost_pkts_sample: acked % 3, ..Default::default() };
                    let inv = dp.invoke(now, sid, &p);
                    prop_assert!(inv.cwnd != Some(0));
                    prop_assert!(inv.rate != Some(0));
                }
                Op_::SendFailed => dp.notify_send_failed(now),
                Op_::Open => { let _ = dp.open_flow(now, FlowInfo::default()); }
                Op_::Close(sid) => dp.close_flow(now, sid),
            }
            prop_assert!(dp.program_uids().len() <= 3);
            while let Some(b) = dp.poll_transmit() {
                let (m, used) = Msg::decode(b).unwrap();
                prop_assert_eq!(used, b.len());
                if let Msg::Measure(m) = m {
                    prop_assert!(m.fields.len() <= 110);
                }
            }
        }
    }
}
