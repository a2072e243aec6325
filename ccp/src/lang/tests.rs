//! Unit tests: every construct and every error of the language.

use super::*;
use crate::program::{implicit, primitive, Expression, Instr, Op, Reg, RegKind, ValueType};

fn ok(src: &str) -> Compiled {
    compile(src, &[]).unwrap_or_else(|e| panic!("{e}\n{src}"))
}

fn err(src: &str) -> CompileError {
    match compile(src, &[]) {
        Ok(c) => panic!("accepted: {src}\n{c:?}"),
        Err(e) => e,
    }
}

fn at(line: u32, column: u32) -> Option<Pos> {
    Some(Pos { line, column })
}

fn i(op: Op, res: Reg, left: Reg, right: Reg) -> Instr {
    Instr {
        op,
        res,
        left,
        right,
    }
}

const FLAG: Reg = Reg::implicit(implicit::EXPR_FLAG);

/// Wraps a body in a program with a few fields.
fn prog(body: &str) -> String {
    format!("(def (Report (volatile a 0) (f false)) (c 3))\n(when true {body})")
}

/// The body instructions of the first clause of [`prog`].
fn body(stmt: &str) -> Vec<Instr> {
    let c = ok(&prog(stmt));
    let e = c.program.expressions[0];
    c.program.instrs[e.body_start as usize..].to_vec()
}

const A: Reg = Reg::report(0, true);
const F: Reg = Reg::report(1, false);
const C: Reg = Reg::control(0, false);

#[test]
fn def_flat_grouped_volatile_and_order() {
    let c = ok("(def (zz 1) (volatile Report.y 2) (Report (b 3) (volatile a true)) (m false))\n(when true (report))");
    // Grouped reports first, then flat reports; controls in order.
    let names: Vec<_> = c
        .scope
        .named
        .iter()
        .map(|n| (n.name.as_str(), n.reg))
        .collect();
    assert_eq!(
        names,
        [
            ("Report.b", Reg::report(0, false)),
            ("Report.a", Reg::report(1, true)),
            ("Report.y", Reg::report(2, true)),
            ("zz", Reg::control(0, false)),
            ("m", Reg::control(1, false)),
        ]
    );
    // DEFs sorted by name.
    let defs: Vec<_> = c.program.instrs[..5]
        .iter()
        .map(|i| (i.res, i.right))
        .collect();
    assert_eq!(
        defs,
        [
            (Reg::report(1, true), Reg::imm(1)),
            (Reg::report(0, false), Reg::imm(3)),
            (Reg::report(2, true), Reg::imm(2)),
            (Reg::control(1, false), Reg::imm(0)),
            (Reg::control(0, false), Reg::imm(1)),
        ]
    );
    assert!(c.program.instrs[..5]
        .iter()
        .all(|i| i.op == Op::Def && i.left == i.res));
    assert_eq!(c.scope.report_index("a"), Some(1));
    assert_eq!(c.scope.lookup("Cwnd"), Some(Reg::implicit(implicit::CWND)));
    assert_eq!(c.scope.named[1].ty, ValueType::Bool);
    assert_eq!(c.scope.named[1].init, Some(1));
}

#[test]
fn def_infinity_and_empty() {
    let c = ok("(def (Report.m +infinity))\n(when true (report))");
    assert_eq!(c.program.instrs[0].right, Reg::imm(u64::MAX));
    assert_eq!(c.program.instrs[0].right.index, u32::MAX);
    let c = ok("(def)\n(when true (report))");
    assert_eq!(c.program.instrs.len(), 2);
}

#[test]
fn clause_layout_and_commands() {
    let c = ok("(def (Report.a 0))\n(when true (report) (fallthrough))\n(when false (report))");
    assert_eq!(
        c.program.expressions,
        [
            Expression {
                cond_start: 1,
                num_cond: 1,
                body_start: 2,
                num_body: 2
            },
            Expression {
                cond_start: 4,
                num_cond: 1,
                body_start: 5,
                num_body: 1
            },
        ]
    );
    let rep = Reg::implicit(implicit::SHOULD_REPORT);
    let ft = Reg::implicit(implicit::SHOULD_FALLTHROUGH);
    assert_eq!(
        c.program.instrs[1],
        i(Op::Bind, FLAG, FLAG, Reg::imm_bool(true))
    );
    assert_eq!(
        c.program.instrs[2],
        i(Op::Bind, rep, rep, Reg::imm_bool(true))
    );
    assert_eq!(
        c.program.instrs[3],
        i(Op::Bind, ft, ft, Reg::imm_bool(true))
    );
    assert_eq!(
        c.program.instrs[4],
        i(Op::Bind, FLAG, FLAG, Reg::imm_bool(false))
    );
}

#[test]
fn condition_writes_flag_with_last_instruction() {
    let c = ok("(def (Report.a 0))\n(when (&& (> Micros 3) (< Ack.now 4)) (report))");
    let t = |n| Reg::tmp(n);
    assert_eq!(
        c.program.instrs[1..4],
        [
            i(
                Op::Gt,
                t(0),
                Reg::implicit(implicit::US_ELAPSED),
                Reg::imm(3)
            ),
            i(
                Op::Lt,
                t(1),
                Reg::primitive(primitive::ACK_NOW),
                Reg::imm(4)
            ),
            i(Op::Mul, FLAG, t(0), t(1)),
        ]
    );
}

#[test]
fn every_operator_and_alias() {
    let num = [
        ("+", Op::Add),
        ("add", Op::Add),
        ("-", Op::Sub),
        ("sub", Op::Sub),
        ("*", Op::Mul),
        ("mul", Op::Mul),
        ("/", Op::Div),
        ("div", Op::Div),
        ("max", Op::Max),
        ("min", Op::Min),
        ("wrapped_max", Op::MaxWrap),
    ];
    for (s, op) in num {
        let b = body(&format!("(:= c ({s} c 2))"));
        assert_eq!(
            b,
            [
                i(op, Reg::tmp(0), C, Reg::imm(2)),
                i(Op::Bind, C, C, Reg::tmp(0))
            ],
            "{s}"
        );
    }
    let cmp = [
        ("==", Op::Equiv),
        ("eq", Op::Equiv),
        (">", Op::Gt),
        ("gt", Op::Gt),
        ("<", Op::Lt),
        ("lt", Op::Lt),
    ];
    for (s, op) in cmp {
        let b = body(&format!("(:= Report.f ({s} c 2))"));
        assert_eq!(
            b,
            [
                i(op, Reg::tmp(0), C, Reg::imm(2)),
                i(Op::Bind, F, F, Reg::tmp(0))
            ],
            "{s}"
        );
    }
    for (s, op) in [
        ("&&", Op::Mul),
        ("and", Op::Mul),
        ("||", Op::Add),
        ("or", Op::Add),
    ] {
        let b = body(&format!("(:= Report.f ({s} Report.f true))"));
        assert_eq!(b[0], i(op, Reg::tmp(0), F, Reg::imm_bool(true)), "{s}");
    }
    assert_eq!(body("(bind c 1)"), body("(:= c 1)"));
    assert_eq!(
        body("(:= Report.a (if Report.f 5))"),
        [i(Op::If, A, F, Reg::imm(5))]
    );
    assert_eq!(
        body("(:= Report.a (!if Report.f 5))"),
        [i(Op::NotIf, A, F, Reg::imm(5))]
    );
    let rtt = Reg::primitive(primitive::FLOW_RTT_SAMPLE_US);
    assert_eq!(
        body("(:= Report.a (ewma 3 Flow.rtt_sample_us))"),
        [i(Op::Ewma, A, Reg::imm(3), rtt)]
    );
}

#[test]
fn ge_le_extension() {
    let t = Reg::tmp(0);
    assert_eq!(
        body("(:= Report.f (>= c 2))")[..2],
        [
            i(Op::Lt, t, C, Reg::imm(2)),
            i(Op::Equiv, t, t, Reg::imm(0))
        ]
    );
    assert_eq!(
        body("(:= Report.f (<= c 2))")[..2],
        [
            i(Op::Gt, t, C, Reg::imm(2)),
            i(Op::Equiv, t, t, Reg::imm(0))
        ]
    );
}

#[test]
fn literals_true_false_infinity() {
    assert_eq!(body("(:= Report.f true)"), [i(Op::Bind, F, F, Reg::imm(1))]);
    assert_eq!(
        body("(:= Report.f false)"),
        [i(Op::Bind, F, F, Reg::imm(0))]
    );
    assert_eq!(
        body("(:= c +infinity)"),
        [i(Op::Bind, C, C, Reg::imm(u64::MAX))]
    );
}

#[test]
fn primitives_micros_cwnd_rate() {
    for (idx, name) in primitive::NAMES.iter().enumerate() {
        let stmt = if *name == "Flow.was_timeout" {
            format!("(:= Report.f {name})")
        } else {
            format!("(:= c {name})")
        };
        assert_eq!(body(&stmt)[0].right, Reg::primitive(idx as u32), "{name}");
    }
    assert_eq!(body("(:= Cwnd 10)")[0].res, Reg::implicit(implicit::CWND));
    assert_eq!(body("(:= Rate 10)")[0].res, Reg::implicit(implicit::RATE));
    assert_eq!(
        body("(:= Micros 0)")[0].res,
        Reg::implicit(implicit::US_ELAPSED)
    );
}

#[test]
fn locals_and_tmps_allocation() {
    let b = body("(:= x 1) (:= y (+ x 2)) (:= x (+ y (* x 2)))");
    let (x, y) = (Reg::local(0), Reg::local(1));
    assert_eq!(
        b,
        [
            i(Op::Bind, x, x, Reg::imm(1)),
            i(Op::Add, Reg::tmp(0), x, Reg::imm(2)),
            i(Op::Bind, y, y, Reg::tmp(0)),
            i(Op::Mul, Reg::tmp(0), x, Reg::imm(2)),
            i(Op::Add, Reg::tmp(1), y, Reg::tmp(0)),
            i(Op::Bind, x, x, Reg::tmp(1)),
        ]
    );
    let c = ok(&prog("(:= x true)"));
    let x = c.scope.named.iter().find(|n| n.name == "x").unwrap();
    assert_eq!(
        (x.reg.kind, x.ty, x.init),
        (RegKind::Local, ValueType::Bool, None)
    );
}

#[test]
fn if_and_ewma_into_locals_and_implicits() {
    // Extension: portus accepts these but cannot serialize them.
    let b = body("(:= Cwnd (if Report.f 10)) (:= s (ewma 2 c))");
    assert_eq!(
        b,
        [
            i(Op::If, Reg::implicit(implicit::CWND), F, Reg::imm(10)),
            i(Op::Ewma, Reg::local(0), Reg::imm(2), C),
        ]
    );
}

#[test]
fn chained_bind_value() {
    assert_eq!(
        body("(:= c (:= Report.a 4))"),
        [i(Op::Bind, A, A, Reg::imm(4)), i(Op::Bind, C, C, A)]
    );
}

#[test]
fn comments_are_whitespace() {
    let plain = ok(&prog("(report)"));
    let commented = ok("# head\n(def # d\n (Report (volatile a 0) (f false)) (c 3)) # x\n# y\n(when true # z\n (report) # w\n) # end");
    assert_eq!(plain.program, commented.program);
}

#[test]
fn overrides() {
    let src = "(def (Report (volatile a 0) (f false)) (c 3))\n(when true (report))";
    let c = compile(src, &[("c", 9), ("Report.f", 1)]).unwrap();
    assert_eq!(c.program.instrs[1].right, Reg::imm(1));
    assert_eq!(c.program.instrs[2].right, Reg::imm(9));
    assert_eq!(c.scope.named[2].init, Some(9));
    let e = compile(src, &[("Report.zz", 1)]).unwrap_err();
    assert_eq!(
        (e.pos, e.kind),
        (None, ErrorKind::UnknownOverride("Report.zz".into()))
    );
    let e = compile(src, &[("Cwnd", 1)]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownOverride("Cwnd".into()));
    let e = compile(src, &[("Report.f", 2)]).unwrap_err();
    assert!(matches!(
        e.kind,
        ErrorKind::OverrideNotBool { value: 2, .. }
    ));
    let e = compile(src, &[("c", 1 << 31)]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::ImmediateTooLarge(1 << 31));
    assert!(compile(src, &[("c", u64::MAX)]).is_ok());
}

#[test]
fn warnings() {
    let c = ok(&prog("5 (+ c 1)"));
    assert_eq!(c.warnings.len(), 2);
    assert!(c
        .warnings
        .iter()
        .all(|w| w.kind == WarningKind::UnusedValue));
    assert_eq!(
        c.warnings[0].pos,
        Pos {
            line: 2,
            column: 12
        }
    );
    let c = ok("(def (Control.number 0))\n(when true (:= Control.numer 0))");
    assert_eq!(
        c.warnings[0].kind,
        WarningKind::LocalLikeField {
            name: "Control.numer".into(),
            similar: "Control.number".into()
        }
    );
    assert!(c.warnings[0].to_string().contains("line 2, column 16"));
    assert!(ok(&prog("(:= total 1)")).warnings.is_empty());
}

fn expected(e: &CompileError) -> (&'static str, String) {
    match &e.kind {
        ErrorKind::Expected { expected, found } => (expected, found.clone()),
        k => panic!("not an Expected error: {k:?}"),
    }
}

#[test]
fn syntax_errors_say_what_was_expected() {
    let e = err("");
    assert_eq!(e.pos, at(1, 1));
    assert_eq!(
        expected(&e),
        ("`(def` at the start of the program", "end of input".into())
    );
    let e = err("(when true (report))");
    assert_eq!(expected(&e).0, "`def`");
    let e = err("(def (a 0))");
    assert_eq!(
        (e.pos, expected(&e).0),
        (at(1, 12), "`(when` or end of input")
    );
    let e = err("(def (a 0))\n(when true)");
    assert_eq!(
        (e.pos, expected(&e)),
        (at(2, 11), ("an expression", "`)`".into()))
    );
    let e = err("(def (a))\n(when true (report))");
    assert_eq!(e.pos, at(1, 8));
    assert!(expected(&e).0.starts_with("an initial value"));
    let e = err("(def (a 1 2))\n(when true (report))");
    assert_eq!(expected(&e).0, "`)` after the initial value");
    let e = err("(def (volatile 0))\n(when true (report))");
    assert_eq!(expected(&e), ("a field name", "`0`".into()));
    let e = err("(def (Report))\n(when true (report))");
    assert!(expected(&e).0.starts_with("an initial value"));
    let e = err("(def (Report (a 0) 5))\n(when true (report))");
    assert!(expected(&e).0.starts_with("a declaration"));
    let e = err("(def (a 0))\n(when true (report)) junk");
    assert_eq!(
        (e.pos, expected(&e)),
        (at(2, 22), ("`(when` or end of input", "`junk`".into()))
    );
    let e = err(&prog("(:= c (+ 1 2)"));
    assert_eq!(expected(&e), ("a statement or `)`", "end of input".into()));
    let e = err(&prog("(:= c (+ 1 2"));
    assert_eq!(expected(&e), ("`)`", "end of input".into()));
    let e = err(&prog("(report 1)"));
    assert_eq!(expected(&e), ("`)`", "`1`".into()));
    let e = err(&prog("(1 2 3)"));
    assert_eq!(expected(&e).0, "an operator, `report` or `fallthrough`");
    let e = err(&prog(")"));
    assert_eq!(expected(&e).0, "an expression");
    let e = err("(def (a 0))\n(WHEN true (report))");
    assert_eq!(expected(&e).0, "`when`");
}

#[test]
fn lexical_errors() {
    assert_eq!(
        err(&prog("(:= c 1x)")).kind,
        ErrorKind::GluedNumber("1x".into())
    );
    let e = err(&prog("(:= c 99999999999999999999)"));
    assert_eq!(
        e.kind,
        ErrorKind::NumberTooLarge("99999999999999999999".into())
    );
    assert_eq!(e.pos, at(2, 18));
    assert_eq!(err(&prog("(= c 1)")).kind, ErrorKind::UnexpectedChar('='));
    let e = compile_bytes(b"(def (a 0))\n(when \xff", &[]).unwrap_err();
    assert_eq!((e.pos, e.kind), (at(2, 7), ErrorKind::NotUtf8));
}

#[test]
fn operator_errors() {
    let e = err(&prog("(:= c (blah 1 2))"));
    assert_eq!(
        (e.pos, e.kind),
        (at(2, 19), ErrorKind::UnknownOperator("blah".into()))
    );
    assert_eq!(
        err(&prog("(reset)")).kind,
        ErrorKind::UnknownOperator("reset".into())
    );
    assert_eq!(
        err(&prog("(:= c (+ 1))")).kind,
        ErrorKind::Arity {
            op: "+".into(),
            found: 1
        }
    );
    assert_eq!(
        err(&prog("(:= c (max))")).kind,
        ErrorKind::Arity {
            op: "max".into(),
            found: 0
        }
    );
    assert_eq!(
        err(&prog("(:= c (+ 1 2 3))")).kind,
        ErrorKind::Arity {
            op: "+".into(),
            found: 3
        }
    );
}

#[test]
fn name_errors() {
    let e = err(&prog("(:= c __shouldReport)"));
    assert_eq!(e.kind, ErrorKind::ReservedName("__shouldReport".into()));
    assert_eq!(
        err("(def (__a 0))\n(when true (report))").kind,
        ErrorKind::ReservedName("__a".into())
    );
    assert_eq!(
        err("(def (true 0))\n(when true (report))").kind,
        ErrorKind::LiteralAsName("true".into())
    );
    let e = err("(def (a 0) (Report (a 1)) (Report.a 2))\n(when true (report))");
    assert_eq!(
        (e.pos, e.kind),
        (at(1, 28), ErrorKind::Duplicate("Report.a".into()))
    );
    assert_eq!(
        err("(def (Cwnd 0))\n(when true (report))").kind,
        ErrorKind::ShadowsBuiltin("Cwnd".into())
    );
    assert_eq!(
        err("(def (Ack.now 0))\n(when true (report))").kind,
        ErrorKind::ShadowsBuiltin("Ack.now".into())
    );
    assert_eq!(
        err("(def (Report (a 0)) (Report (b 0)))\n(when true (report))").kind,
        ErrorKind::SecondReportGroup
    );
    let e = err(&prog("(:= c nope)"));
    assert_eq!(
        (e.pos, e.kind),
        (at(2, 18), ErrorKind::UndefinedName("nope".into()))
    );
    assert_eq!(
        err(&prog("(:= x (+ x 1))")).kind,
        ErrorKind::UndefinedName("x".into())
    );
    assert_eq!(
        err(&prog("nope")).kind,
        ErrorKind::UndefinedName("nope".into())
    );
    assert_eq!(
        err(&prog("(:= Report.b 1)")).kind,
        ErrorKind::UndeclaredReportField("Report.b".into())
    );
}

#[test]
fn type_errors() {
    let ty = |src: &str| match err(&prog(src)).kind {
        ErrorKind::Type {
            expected, found, ..
        } => (expected, found),
        k => panic!("{src}: {k:?}"),
    };
    use ValueType::{Bool, Num};
    assert_eq!(ty("(:= c (+ true 1))"), (Num, Bool));
    assert_eq!(ty("(:= c (- 1 Report.f))"), (Num, Bool));
    assert_eq!(ty("(:= Report.f (&& 1 true))"), (Bool, Num));
    assert_eq!(ty("(:= Report.f (|| true c))"), (Bool, Num));
    assert_eq!(ty("(:= Report.f (== Flow.was_timeout true))"), (Num, Bool));
    assert_eq!(ty("(:= Report.f (> 1 false))"), (Num, Bool));
    assert_eq!(ty("(:= c (if 1 2))"), (Bool, Num));
    assert_eq!(ty("(:= c (ewma true 2))"), (Num, Bool));
    assert_eq!(ty("(:= c (ewma 2 true))"), (Num, Bool));
    assert_eq!(ty("(:= c true)"), (Num, Bool));
    assert_eq!(ty("(:= Report.f 1)"), (Bool, Num));
    assert_eq!(ty("(:= c (if true false))"), (Num, Bool));
    assert_eq!(ty("(:= x 1) (:= x true)"), (Num, Bool));
    let e = err("(def (a 0))\n(when (+ 1 2) (report))");
    assert!(matches!(
        e.kind,
        ErrorKind::Type {
            expected: Bool,
            found: Num,
            ..
        }
    ));
    assert_eq!(e.pos, at(2, 7));
    let e = err("(def (a 0))\n(when 1 (report))");
    assert!(matches!(
        e.kind,
        ErrorKind::Type {
            expected: Bool,
            found: Num,
            ..
        }
    ));
}

#[test]
fn write_errors() {
    assert_eq!(
        err(&prog("(:= Ack.now 1)")).kind,
        ErrorKind::WriteToPrimitive("Ack.now".into())
    );
    assert_eq!(
        err(&prog("(:= Flow.was_timeout true)")).kind,
        ErrorKind::WriteToPrimitive("Flow.was_timeout".into())
    );
    assert_eq!(
        err(&prog("(:= 5 1)")).kind,
        ErrorKind::WriteToConstant("5".into())
    );
    assert_eq!(
        err(&prog("(:= true 1)")).kind,
        ErrorKind::WriteToConstant("true".into())
    );
    assert_eq!(
        err(&prog("(:= +infinity 1)")).kind,
        ErrorKind::WriteToConstant("+infinity".into())
    );
    assert_eq!(err(&prog("(:= (+ 1 2) 3)")).kind, ErrorKind::NotAssignable);
    assert_eq!(err(&prog("(:= (report) 3)")).kind, ErrorKind::NotAssignable);
}

#[test]
fn conditional_placement_errors() {
    let k = |s: &str| err(&prog(s)).kind;
    assert_eq!(k("(if true 1)"), ErrorKind::ConditionalNotBound("if"));
    assert_eq!(k("(!if true 1)"), ErrorKind::ConditionalNotBound("!if"));
    assert_eq!(k("(ewma 1 2)"), ErrorKind::ConditionalNotBound("ewma"));
    assert_eq!(
        k("(:= c (+ (if true 1) 2))"),
        ErrorKind::ConditionalNotBound("if")
    );
    assert_eq!(
        k("(:= c (+ 2 (ewma 1 2)))"),
        ErrorKind::ConditionalNotBound("ewma")
    );
    assert_eq!(
        k("(:= c (if true (if true 1)))"),
        ErrorKind::ConditionalNotBound("if")
    );
    assert_eq!(
        k("(:= c (if (if true true) 1))"),
        ErrorKind::ConditionalNotBound("if")
    );
    assert_eq!(
        k("(:= Report.f (report))"),
        ErrorKind::CommandAsValue("report")
    );
    assert_eq!(
        k("(:= c (+ (fallthrough) 1))"),
        ErrorKind::CommandAsValue("fallthrough")
    );
}

#[test]
fn condition_errors() {
    let k = |c: &str| {
        err(&format!(
            "(def (Report.f false) (x 0))\n(when {c} (report))"
        ))
        .kind
    };
    assert_eq!(k("Flow.was_timeout"), ErrorKind::BadCondition);
    assert_eq!(k("Report.f"), ErrorKind::BadCondition);
    assert_eq!(k("(:= Report.f true)"), ErrorKind::BadCondition);
    assert_eq!(k("(if true false)"), ErrorKind::BadCondition);
    assert_eq!(k("(report)"), ErrorKind::CommandAsValue("report"));
}

#[test]
fn limit_errors() {
    let many = |n: usize, f: &dyn Fn(usize) -> String| (0..n).map(f).collect::<Vec<_>>().join(" ");
    let src = format!(
        "(def (Report {}))\n(when true (report))",
        many(17, &|i| format!("(r{i} 0)"))
    );
    assert_eq!(
        err(&src).kind,
        ErrorKind::TooManyRegisters {
            kind: "report",
            limit: 16
        }
    );
    let src = format!(
        "(def {})\n(when true (report))",
        many(17, &|i| format!("(r{i} 0)"))
    );
    assert_eq!(
        err(&src).kind,
        ErrorKind::TooManyRegisters {
            kind: "control",
            limit: 16
        }
    );
    let src = prog(&many(7, &|i| format!("(:= l{i} 1)")));
    assert_eq!(
        err(&src).kind,
        ErrorKind::TooManyRegisters {
            kind: "local",
            limit: 6
        }
    );
    assert!(compile(&prog(&many(6, &|i| format!("(:= l{i} 1)"))), &[]).is_ok());
    let deep = "(:= c (+ (+ (+ (+ (+ 1 2) (+ 3 4)) (+ (+ 5 6) (+ 7 8))) 9) 10))";
    assert_eq!(
        err(&prog(deep)).kind,
        ErrorKind::TooManyRegisters {
            kind: "temporary",
            limit: 8
        }
    );
    let src = format!("(def (a 0))\n{}", "(when true (report))\n".repeat(257));
    assert_eq!(
        err(&src).kind,
        ErrorKind::ProgramTooLarge {
            what: "when clauses",
            limit: 256
        }
    );
    let src = format!("(def (a 0))\n(when true {})", "(report) ".repeat(256));
    assert_eq!(
        err(&src).kind,
        ErrorKind::ProgramTooLarge {
            what: "instructions",
            limit: 256
        }
    );
    assert_eq!(
        err(&prog("(:= c 2147483648)")).kind,
        ErrorKind::ImmediateTooLarge(1 << 31)
    );
    assert_eq!(
        err("(def (a 4294967295))\n(when true (report))").kind,
        ErrorKind::ImmediateTooLarge(4294967295)
    );
    assert!(compile(&prog("(:= c 2147483647)"), &[]).is_ok());
    let nested = format!("{}c{}", "(:= c ".repeat(70), ")".repeat(70));
    assert!(matches!(
        err(&prog(&nested)).kind,
        ErrorKind::Expected { .. }
    ));
}

#[test]
fn errors_display_position() {
    let e = err(&prog("(:= c nope)"));
    assert_eq!(e.to_string(), "line 2, column 18: undefined name `nope`");
    let e = compile("(def (a 0))\n(when true (report))", &[("b", 1)]).unwrap_err();
    assert_eq!(e.to_string(), "override of unknown field `b`");
}

#[test]
fn parse_gives_ast() {
    let ast =
        parse("(def (Report (volatile a 0)))\n(when true (:= Report.a (+ Report.a 1)))").unwrap();
    assert_eq!(ast.decls[0].name, "Report.a");
    assert!(ast.decls[0].volatile && ast.decls[0].is_report());
    assert!(matches!(
        ast.clauses[0].body[0].kind,
        ExprKind::Op(BinOp::Bind, ..)
    ));
    for s in [
        "+",
        "add",
        "&&",
        "and",
        ":=",
        "bind",
        "/",
        "div",
        "==",
        "eq",
        "ewma",
        ">",
        "gt",
        ">=",
        "if",
        "<",
        "lt",
        "<=",
        "max",
        "wrapped_max",
        "min",
        "*",
        "mul",
        "!if",
        "||",
        "or",
        "-",
        "sub",
    ] {
        let op = BinOp::from_spelling(s).unwrap();
        assert_eq!(BinOp::from_spelling(op.spelling()), Some(op));
    }
}

#[test]
fn large_inputs_are_rejected_quickly() {
    let start = std::time::Instant::now();
    let decls: String = (0..50_000).map(|i| format!("(f{i} 0)")).collect();
    let e = err(&format!("(def {decls})\n(when true (report))"));
    assert_eq!(
        e.kind,
        ErrorKind::TooManyRegisters {
            kind: "control",
            limit: 16
        }
    );
    let body = "(:= c (+ c 1)) ".repeat(50_000);
    assert!(matches!(
        err(&prog(&body)).kind,
        ErrorKind::ProgramTooLarge { .. }
    ));
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
