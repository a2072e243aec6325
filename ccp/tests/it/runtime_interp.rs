//! Interpreter tests with hand-computed registers: fallthrough, volatile reset, Micros
//! rebasing, staged updates, fallback, and the safe handling of libccp's defects.

use ccp::agent::asm::{self, bind, flag, imm, ins, prim, tmp, ProgramBuilder};
use ccp::datapath::{
    Config, Datapath, FlowError, FlowInfo, InvalidProgram, InvokeError, MessageError, Primitives,
};
use ccp::program::{Expression, Op, Program, Reg};
use ccp::wire::{ChangeProg, InstallExpr, Measure, Msg, UpdateField, UpdateFields};
use netrt::Duration;

use crate::util::us;

const UID: u32 = 77;

fn install(dp: &mut Datapath, uid: u32, program: Program) -> Result<(), MessageError> {
    dp.handle_msg(
        us(0),
        Msg::InstallExpr(InstallExpr {
            sid: 0,
            program_uid: uid,
            program,
        }),
    )
}

fn change(dp: &mut Datapath, sid: u32, uid: u32, updates: Vec<UpdateField>) {
    dp.handle_msg(
        us(0),
        Msg::ChangeProg(ChangeProg {
            sid,
            program_uid: uid,
            updates,
        }),
    )
    .unwrap();
}

fn drain(dp: &mut Datapath) -> Vec<Msg> {
    let mut v = Vec::new();
    while let Some(b) = dp.poll_transmit() {
        v.push(Msg::decode(b).unwrap().0);
    }
    v
}

fn reports(dp: &mut Datapath) -> Vec<Vec<u64>> {
    drain(dp)
        .into_iter()
        .filter_map(|m| match m {
            Msg::Measure(Measure { fields, .. }) if !fields.is_empty() => Some(fields),
            _ => None,
        })
        .collect()
}

fn setup(program: Program) -> (Datapath, u32) {
    let mut dp = Datapath::new(Config::default(), us(0));
    let sid = dp
        .open_flow(
            us(0),
            FlowInfo {
                init_cwnd: 14600,
                mss: 1460,
                ..Default::default()
            },
        )
        .unwrap();
    install(&mut dp, UID, program).unwrap();
    change(&mut dp, sid, UID, vec![]);
    let first = drain(&mut dp);
    assert!(matches!(first[0], Msg::Ready(_)));
    assert!(matches!(first[1], Msg::Create(_)));
    (dp, sid)
}

fn acks(bytes: u32, cwnd: u32) -> Primitives {
    Primitives {
        bytes_acked: bytes,
        packets_acked: 1,
        snd_cwnd: cwnd,
        rtt_sample: Duration::from_micros(100),
        ..Default::default()
    }
}

/// Report.acked (volatile), Report.total (non-volatile), control step = 5.
/// 1: acked += Ack.bytes_acked; total += Ack.bytes_acked; fallthrough
/// 2: when acked > 3000: report; Cwnd := total + step
/// 3: when true: Report.third := Report.third + 1   (runs every time: libccp never clears
///    the fallthrough flag between clauses, so clause 2 being true does not stop here)
fn counting_program() -> Program {
    let mut b = ProgramBuilder::new();
    let acked = b.report("acked", 0, true);
    let total = b.report("total", 0, false);
    let third = b.report("third", 0, false);
    let step = b.control("step", 5, false);
    b.always(vec![
        ins(Op::Add, tmp(0), acked, prim(asm::prim::ACK_BYTES_ACKED)),
        bind(acked, tmp(0)),
        ins(Op::Add, tmp(1), total, prim(asm::prim::ACK_BYTES_ACKED)),
        bind(total, tmp(1)),
        bind(asm::fallthrough(), imm(1)),
    ]);
    b.clause(
        vec![ins(Op::Gt, flag(), acked, imm(3000))],
        vec![
            bind(asm::should_report(), imm(1)),
            ins(Op::Add, tmp(0), total, step),
            bind(asm::cwnd(), tmp(0)),
        ],
    );
    b.always(vec![
        ins(Op::Add, tmp(0), third, imm(1)),
        bind(third, tmp(0)),
    ]);
    b.program()
}

#[test]
fn fallthrough_report_and_volatile_reset() {
    let (mut dp, sid) = setup(counting_program());
    let mut cwnds = vec![];
    for t in 1..=5u64 {
        let inv = dp.invoke(us(t * 10), sid, &acks(1000, 10_000));
        assert_eq!(inv.error, None);
        cwnds.push(inv.cwnd);
        assert_eq!(inv.reported, t == 4);
    }
    // Cwnd register = snd_cwnd each time, except the report invocation: total(4000) + step(5).
    assert_eq!(
        cwnds,
        vec![
            Some(10_000),
            Some(10_000),
            Some(10_000),
            Some(4005),
            Some(10_000)
        ]
    );
    // Report: acked = 4000, total = 4000, third = 4 (clause 3 ran on every invocation).
    assert_eq!(reports(&mut dp), vec![vec![4000, 4000, 4]]);
    // After the report, acked was reset (then 1000 added), total kept.
    assert_eq!(dp.report_register(sid, 0), Some(1000));
    assert_eq!(dp.report_register(sid, 1), Some(5000));
    assert_eq!(dp.report_register(sid, 2), Some(5));
}

/// 1: when Micros > 100: Report.m := Micros; report; Micros := 0
fn micros_program() -> Program {
    let mut b = ProgramBuilder::new();
    let m = b.report("m", 0, false);
    b.clause(
        vec![ins(Op::Gt, flag(), asm::micros(), imm(100))],
        vec![
            bind(m, asm::micros()),
            bind(asm::should_report(), imm(1)),
            bind(asm::micros(), imm(0)),
        ],
    );
    b.program()
}

#[test]
fn micros_rebases_on_program_switch_and_on_write() {
    let (mut dp, sid) = setup(micros_program());
    // The staged switch is applied at the first invocation (t = 1000): Micros counts from there.
    for (t, rep) in [
        (1000, false),
        (1050, false),
        (1101, true),
        (1150, false),
        (1202, true),
    ] {
        let inv = dp.invoke(us(t), sid, &acks(0, 5000));
        assert_eq!(inv.reported, rep, "t = {t}");
    }
    assert_eq!(reports(&mut dp), vec![vec![101], vec![101]]);
}

#[test]
fn micros_write_nonzero_is_in_microseconds() {
    // Documented difference: libccp rebases with now() in ns minus a value in µs.
    let mut b = ProgramBuilder::new();
    let m = b.report("m", 0, false);
    let once = b.control("once", 0, false);
    b.clause(
        vec![ins(Op::Equiv, flag(), once, imm(0))],
        vec![bind(asm::micros(), imm(40)), bind(once, imm(1))],
    );
    b.always(vec![
        bind(m, asm::micros()),
        bind(asm::should_report(), imm(1)),
    ]);
    let (mut dp, sid) = setup(b.program());
    dp.invoke(us(500), sid, &acks(0, 5000));
    dp.invoke(us(510), sid, &acks(0, 5000));
    // First invocation: clause 1 sets Micros := 40 and stops. Second: 10 µs later → 50.
    assert_eq!(reports(&mut dp), vec![vec![50]]);
}

#[test]
fn staged_updates_apply_at_next_invocation() {
    let (mut dp, sid) = setup(counting_program());
    dp.invoke(us(1), sid, &acks(1000, 10_000));
    assert_eq!(dp.control_register(sid, 0), Some(5));
    dp.handle_msg(
        us(2),
        Msg::UpdateFields(UpdateFields {
            sid,
            updates: vec![UpdateField::control(0, 50), UpdateField::cwnd(7000)],
        }),
    )
    .unwrap();
    // Staged, not applied.
    assert_eq!(dp.control_register(sid, 0), Some(5));
    // Next invocation: Cwnd register := 7000 (overrides snd_cwnd), step = 50.
    let inv = dp.invoke(us(3), sid, &acks(1000, 10_000));
    assert_eq!(inv.cwnd, Some(7000));
    assert_eq!(dp.control_register(sid, 0), Some(50));
    dp.invoke(us(4), sid, &acks(1000, 7000));
    let inv = dp.invoke(us(5), sid, &acks(1000, 7000));
    assert!(inv.reported);
    // total = 4000, step = 50.
    assert_eq!(inv.cwnd, Some(4050));
}

#[test]
fn change_prog_updates_override_defaults_and_reset_state() {
    let (mut dp, sid) = setup(counting_program());
    dp.invoke(us(1), sid, &acks(1000, 10_000));
    dp.invoke(us(2), sid, &acks(1000, 10_000));
    assert_eq!(dp.report_register(sid, 1), Some(2000));
    // Re-selecting the same program resets its registers to their DEF values, then the
    // CHANGE_PROG's own updates apply.
    change(&mut dp, sid, UID, vec![UpdateField::control(0, 1000)]);
    dp.invoke(us(3), sid, &acks(1000, 10_000));
    assert_eq!(dp.report_register(sid, 1), Some(1000));
    assert_eq!(dp.control_register(sid, 0), Some(1000));
}

#[test]
fn fallback_runs_native_controller_and_says_so() {
    let mut dp = Datapath::new(
        Config::default().fallback_timeout(Duration::from_micros(1000)),
        us(0),
    );
    let sid = dp
        .open_flow(
            us(0),
            FlowInfo {
                init_cwnd: 14600,
                mss: 1460,
                ..Default::default()
            },
        )
        .unwrap();
    install(&mut dp, UID, counting_program()).unwrap();
    change(&mut dp, sid, UID, vec![]);
    assert!(!dp.invoke(us(10), sid, &acks(1000, 20_000)).fallback);
    dp.notify_send_failed(us(100));
    dp.notify_send_failed(us(500)); // only the first failure starts the timer
    let inv = dp.invoke(us(1100), sid, &acks(1000, 20_000));
    assert!(!inv.fallback, "timeout not yet exceeded");
    let inv = dp.invoke(us(1101), sid, &acks(1460, 20_000));
    assert!(inv.fallback);
    assert!(dp.in_fallback());
    // Native Reno in slow start from the datapath's window: 20000 + 1460.
    assert_eq!(inv.cwnd, Some(21_460));
    let inv = dp.invoke(
        us(1102),
        sid,
        &Primitives {
            lost_pkts_sample: 1,
            snd_cwnd: 21_460,
            ..Default::default()
        },
    );
    assert_eq!(inv.cwnd, Some(10_730));
    // Any agent message ends fallback; the program runs again.
    dp.handle_msg(
        us(1200),
        Msg::UpdateFields(UpdateFields {
            sid,
            updates: vec![],
        }),
    )
    .unwrap();
    let inv = dp.invoke(us(1201), sid, &acks(1000, 10_730));
    assert!(!inv.fallback);
    assert_eq!(inv.cwnd, Some(10_730));
}

#[test]
fn arithmetic_errors_abort_one_invocation_only() {
    // when true: Report.q := Ack.bytes_acked / Ack.packets_acked; report
    let mut b = ProgramBuilder::new();
    let q = b.report("q", 0, true);
    b.always(vec![
        ins(
            Op::Div,
            tmp(0),
            prim(asm::prim::ACK_BYTES_ACKED),
            prim(asm::prim::ACK_PACKETS_ACKED),
        ),
        bind(q, tmp(0)),
        bind(asm::should_report(), imm(1)),
    ]);
    let (mut dp, sid) = setup(b.program());
    let mut p = acks(3000, 9000);
    p.packets_acked = 0;
    let inv = dp.invoke(us(1), sid, &p);
    assert_eq!(inv.error, Some(InvokeError::DivByZero { a: 3000 }));
    assert!(!inv.reported);
    assert_eq!(inv.cwnd, None);
    p.packets_acked = 2;
    let inv = dp.invoke(us(2), sid, &p);
    assert_eq!(inv.error, None);
    assert_eq!(reports(&mut dp), vec![vec![1500]]);
}

#[test]
fn mul_overflow_missed_by_libccp_is_an_error() {
    // libccp flags a*b only if the wrapped result < a; 3 * 2^63 wraps to 2^63 > 3, unnoticed.
    let mut b = ProgramBuilder::new();
    let r = b.report("r", 0, false);
    b.always(vec![
        ins(Op::Mul, tmp(0), imm(3), prim(asm::prim::FLOW_RATE_OUTGOING)),
        bind(r, tmp(0)),
    ]);
    let (mut dp, sid) = setup(b.program());
    let mut p = acks(0, 1000);
    p.rate_outgoing = 1 << 63;
    let inv = dp.invoke(us(1), sid, &p);
    assert_eq!(
        inv.error,
        Some(InvokeError::MulOverflow { a: 3, b: 1 << 63 })
    );
}

#[test]
fn ewma_weight_above_ten_is_an_error() {
    let mut b = ProgramBuilder::new();
    let e = b.report("e", 100, false);
    b.always(vec![ins(Op::Ewma, e, imm(12), imm(50))]);
    let (mut dp, sid) = setup(b.program());
    assert!(matches!(
        dp.invoke(us(1), sid, &acks(0, 1000)).error,
        Some(InvokeError::EwmaOverflow { weight: 12, .. })
    ));
    // A valid EWMA: (2 * 100 + 8 * 50) / 10 = 60.
    let mut b = ProgramBuilder::new();
    let e = b.report("e", 100, false);
    b.always(vec![ins(Op::Ewma, e, imm(2), imm(50))]);
    let (mut dp, sid) = setup(b.program());
    dp.invoke(us(1), sid, &acks(0, 1000));
    assert_eq!(dp.report_register(sid, 0), Some(60));
}

#[test]
fn cwnd_above_u32_saturates_instead_of_truncating() {
    let mut b = ProgramBuilder::new();
    b.always(vec![
        ins(Op::Mul, tmp(0), imm(1 << 16), imm(1 << 16)),
        bind(asm::cwnd(), tmp(0)),
    ]);
    let (mut dp, sid) = setup(b.program());
    // libccp would call set_cwnd((u32)2^32) = set_cwnd(0).
    assert_eq!(dp.invoke(us(1), sid, &acks(0, 1000)).cwnd, Some(u32::MAX));
}

#[test]
fn invalid_programs_are_refused_at_install() {
    let mut dp = Datapath::new(Config::default(), us(0));
    // Read of report register 200 (libccp reads past the register file).
    let bad_reg = Program {
        expressions: vec![Expression {
            cond_start: 0,
            num_cond: 1,
            body_start: 1,
            num_body: 0,
        }],
        instrs: vec![bind(flag(), Reg::report(200, false))],
    };
    assert_eq!(
        install(&mut dp, 5, bad_reg),
        Err(MessageError::Program {
            uid: 5,
            source: InvalidProgram::BadRegister {
                index: 0,
                operand: "right",
                reg: Reg::report(200, false),
            },
        })
    );
    // Expression range past the end (libccp executes stale instructions).
    let bad_range = Program {
        expressions: vec![Expression {
            cond_start: 0,
            num_cond: 1,
            body_start: 1,
            num_body: 5,
        }],
        instrs: vec![bind(flag(), imm(1))],
    };
    assert_eq!(
        install(&mut dp, 6, bad_range),
        Err(MessageError::Program {
            uid: 6,
            source: InvalidProgram::BadExpression {
                index: 0,
                num_instructions: 1,
            },
        })
    );
    // Write to a primitive.
    let bad_write = Program {
        expressions: vec![],
        instrs: vec![bind(prim(0), imm(1))],
    };
    assert_eq!(
        install(&mut dp, 7, bad_write),
        Err(MessageError::Program {
            uid: 7,
            source: InvalidProgram::BadRegister {
                index: 0,
                operand: "result",
                reg: Reg::primitive(0),
            },
        })
    );
    // DEF with a non-immediate default (libccp uses stale memory).
    let bad_def = Program {
        expressions: vec![],
        instrs: vec![ins(
            Op::Def,
            Reg::report(0, true),
            Reg::report(0, true),
            tmp(0),
        )],
    };
    assert_eq!(
        install(&mut dp, 8, bad_def),
        Err(MessageError::Program {
            uid: 8,
            source: InvalidProgram::BadDef { index: 0 },
        })
    );
    // 111 report DEFs: libccp would send 111 registers, reading past its report file.
    let def = ins(Op::Def, Reg::report(0, true), Reg::report(0, true), imm(0));
    let too_many_reports = Program {
        expressions: vec![],
        instrs: vec![def; 111],
    };
    assert_eq!(
        install(&mut dp, 9, too_many_reports),
        Err(MessageError::Program {
            uid: 9,
            source: InvalidProgram::TooMany {
                what: "report field definitions",
                count: 111,
                max: 110,
            },
        })
    );
    let ok = Program {
        expressions: vec![],
        instrs: vec![def; 110],
    };
    assert_eq!(install(&mut dp, 10, ok), Ok(()));
    assert_eq!(dp.program_uids(), vec![10]);
}

#[test]
fn bad_updates_and_unknown_programs_are_refused() {
    let (mut dp, sid) = setup(counting_program());
    // Control index 200: libccp writes past its staging array.
    let e = dp.handle_msg(
        us(0),
        Msg::UpdateFields(UpdateFields {
            sid,
            updates: vec![UpdateField::control(1, 9), UpdateField::control(200, 1)],
        }),
    );
    assert_eq!(
        e,
        Err(MessageError::BadUpdate {
            index: 1,
            reg: Reg::control(200, false),
        })
    );
    // Nothing was staged (libccp stages the valid prefix).
    dp.invoke(us(1), sid, &acks(0, 1000));
    assert_eq!(dp.control_register(sid, 1), Some(0));
    // CHANGE_PROG to a uid never installed (libccp ignores it silently).
    let e = dp.handle_msg(
        us(0),
        Msg::ChangeProg(ChangeProg {
            sid,
            program_uid: 999,
            updates: vec![],
        }),
    );
    assert_eq!(e, Err(MessageError::UnknownProgram(999)));
    assert_eq!(dp.flow_program(sid), Some(UID));
}

#[test]
fn stale_program_after_agent_restart_is_detected() {
    let (mut dp, sid) = setup(counting_program());
    assert_eq!(dp.invoke(us(1), sid, &acks(1000, 5000)).error, None);
    // A restarted agent installs uid 1 first: the old programs are dropped.
    install(&mut dp, 1, micros_program()).unwrap();
    let inv = dp.invoke(us(200_000), sid, &acks(1000, 5000));
    assert_eq!(inv.error, Some(InvokeError::StaleProgram { uid: UID }));
    // The flow is announced again so that the new agent can adopt it.
    let msgs = drain(&mut dp);
    assert!(matches!(&msgs[..], [Msg::Create(c)] if c.sid == sid));
    assert_eq!(
        dp.invoke(us(200_001), sid, &acks(1000, 5000)).error,
        Some(InvokeError::NoProgram)
    );
    // CHANGE_PROG to the new uid-1 program resumes the flow.
    change(&mut dp, sid, 1, vec![]);
    assert_eq!(dp.invoke(us(200_002), sid, &acks(1000, 5000)).error, None);
}

#[test]
fn flows_reuse_the_lowest_free_sid_and_close_sends_measure() {
    let mut dp = Datapath::new(Config::default().max_flows(2), us(0));
    let a = dp.open_flow(us(0), FlowInfo::default()).unwrap();
    let b = dp.open_flow(us(0), FlowInfo::default()).unwrap();
    assert_eq!((a, b), (1, 2));
    assert_eq!(
        dp.open_flow(us(0), FlowInfo::default()),
        Err(FlowError::TableFull(2))
    );
    dp.close_flow(us(0), 1);
    assert_eq!(dp.open_flow(us(0), FlowInfo::default()).unwrap(), 1);
    let msgs = drain(&mut dp);
    assert!(msgs.contains(&Msg::Measure(Measure::close(1))));
    assert_eq!(
        dp.invoke(us(0), 9, &Primitives::default()).error,
        Some(InvokeError::UnknownFlow(9))
    );
}

#[test]
fn rtt_zero_reads_as_u32_max_and_infinity_def() {
    let mut b = ProgramBuilder::new();
    let minrtt = b.report("minrtt", 0x3fff_ffff, true);
    b.always(vec![
        ins(Op::Min, tmp(0), minrtt, prim(asm::prim::FLOW_RTT_SAMPLE_US)),
        bind(minrtt, tmp(0)),
    ]);
    let (mut dp, sid) = setup(b.program());
    let mut p = acks(0, 1000);
    p.rtt_sample = Duration::ZERO;
    dp.invoke(us(1), sid, &p);
    assert_eq!(dp.report_register(sid, 0), Some(u64::from(u32::MAX)));
    p.rtt_sample = Duration::from_micros(250);
    dp.invoke(us(2), sid, &p);
    assert_eq!(dp.report_register(sid, 0), Some(250));
}

#[test]
fn rate_is_not_truncated_to_32_bits() {
    let mut b = ProgramBuilder::new();
    b.always(vec![
        ins(Op::Mul, tmp(0), imm(1 << 20), imm(1 << 20)),
        bind(asm::rate(), tmp(0)),
    ]);
    let (mut dp, sid) = setup(b.program());
    // libccp calls set_rate_abs((u32)2^40) = set_rate_abs(0).
    assert_eq!(dp.invoke(us(1), sid, &acks(0, 1000)).rate, Some(1 << 40));
}

#[test]
fn reinstalling_a_uid_replaces_the_program() {
    let (mut dp, sid) = setup(counting_program());
    // Identical content: a no-op, the flow keeps running.
    install(&mut dp, UID, counting_program()).unwrap();
    assert_eq!(dp.invoke(us(1), sid, &acks(1000, 5000)).error, None);
    // Different content under the same uid (libccp keeps both and CHANGE_PROG finds the
    // old one): ours replaces it, and flows of the old version notice.
    install(&mut dp, UID, micros_program()).unwrap();
    assert_eq!(
        dp.invoke(us(2), sid, &acks(1000, 5000)).error,
        Some(InvokeError::StaleProgram { uid: UID })
    );
    change(&mut dp, sid, UID, vec![]);
    assert_eq!(dp.invoke(us(3), sid, &acks(1000, 5000)).error, None);
    assert_eq!(dp.program_uids(), vec![UID]);
}
