//! Differential tests of the datapath-language compiler against portus 0.9 (the oracle).
//!
//! portus's `lang::compile` plus `Bin::serialize` is called in the test; a portus panic
//! (it panics on some inputs, e.g. a comment inside a clause) is caught and counted as a
//! reject. Our INSTALL_EXPR body bytes must equal portus's whenever both accept.
//!
//! Corpus files in `tests/corpus/` are named by expectation:
//! `ok_*` both accept with identical bytes; `err_*` both reject; `diffok_*` ours accepts and
//! portus rejects, `differr_*` ours rejects and portus accepts — each such file is a case of
//! the documented-differences table in the crate docs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use ccp::lang::{self, ErrorKind};
use proptest::prelude::*;

/// portus's verdict: the serialized body (events then instructions), or its error text.
fn portus(src: &str, overrides: &[(&str, u64)]) -> Result<Vec<u8>, String> {
    let ovr: Vec<(&str, u32)> = overrides.iter().map(|&(n, v)| (n, v as u32)).collect();
    let r = catch_unwind(AssertUnwindSafe(|| {
        portus::lang::compile(src.as_bytes(), &ovr).and_then(|(bin, _)| bin.serialize())
    }));
    match r {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("portus panicked".into()),
    }
}

fn ours(src: &str, overrides: &[(&str, u64)]) -> Result<Vec<u8>, lang::CompileError> {
    lang::compile(src, overrides).map(|c| c.program.encode_body())
}

/// Asserts that both accept with identical bytes, or both reject, or that the disagreement
/// is the documented temporary-register limit (libccp has 8; portus serializes up to 16).
fn assert_agree(src: &str) {
    match (ours(src, &[]), portus(src, &[])) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "bytes differ for:\n{src}"),
        (Err(_), Err(_)) => {}
        (Err(e), Ok(_))
            if matches!(
                e.kind,
                ErrorKind::TooManyRegisters {
                    kind: "temporary",
                    ..
                }
            ) => {}
        (a, b) => panic!("verdicts differ for:\n{src}\nours: {a:?}\nportus: {b:?}"),
    }
}

fn quiet_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            // portus's own panics are expected (and counted as rejects); keep ours visible.
            let from_portus = info.location().is_some_and(|l| l.file().contains("portus"));
            if !from_portus {
                default(info);
            }
        }));
    });
}

/// What our compiler says about each rejected corpus file (`err_*`, `differr_*`): the
/// `Debug` form of its [`ErrorKind`], so a file that starts failing for another reason is
/// noticed.
const CORPUS_ERRORS: &[(&str, &str)] = &[
     ("differr_bind_to_expr", "NotAssignable"),
     ("differr_bind_type", "Type { context: \"assignment to `Report.acked`\", expected: Num, found: Bool }"),
     ("differr_digit_name", "GluedNumber(\"0abc\")"),
     ("differr_duplicate", "Duplicate(\"Report.a\")"),
     ("differr_glued_word_op", "UnknownOperator(\"addc\")"),
     ("differr_huge_number", "NumberTooLarge(\"99999999999999999999\")"),
     ("differr_if_num_cond", "Type { context: \"`if`\", expected: Bool, found: Num }"),
     ("differr_name_init", "Expected { expected: \"an initial value (a number, +infinity, true or false)\", found: \"`foo`\" }"),
     ("differr_nine_tmps", "TooManyRegisters { kind: \"temporary\", limit: 8 }"),
     ("differr_report_as_value", "CommandAsValue(\"report\")"),
     ("differr_shadow_builtin", "ShadowsBuiltin(\"Cwnd\")"),
     ("differr_typo_local", "UndefinedName(\"Ack.bytes_ackd\")"),
     ("differr_undeclared_report", "UndeclaredReportField(\"Report.ackd\")"),
     ("err_arity1", "Arity { op: \"+\", found: 1 }"),
     ("err_arity3", "Arity { op: \"+\", found: 3 }"),
     ("err_big_init", "ImmediateTooLarge(4294967295)"),
     ("err_big_literal", "ImmediateTooLarge(2147483648)"),
     ("err_decl_negative", "Expected { expected: \"an initial value (a number, +infinity, true or false)\", found: \"`-`\" }"),
     ("err_decl_no_value", "Expected { expected: \"an initial value (a number, +infinity, true or false)\", found: \"`)`\" }"),
     ("err_decl_three", "Expected { expected: \"`)` after the initial value\", found: \"`2`\" }"),
     ("err_def_only", "Expected { expected: \"`(when` or end of input\", found: \"end of input\" }"),
     ("err_empty", "Expected { expected: \"`(def` at the start of the program\", found: \"end of input\" }"),
     ("err_empty_body", "Expected { expected: \"an expression\", found: \"`)`\" }"),
     ("err_empty_group", "Expected { expected: \"an initial value (a number, +infinity, true or false)\", found: \"`)`\" }"),
     ("err_ewma_in_arith", "ConditionalNotBound(\"ewma\")"),
     ("err_ewma_statement", "ConditionalNotBound(\"ewma\")"),
     ("err_extra_paren", "Expected { expected: \"`(when` or end of input\", found: \"`)`\" }"),
     ("err_flag_bind_report", "BadCondition"),
     ("err_flag_bool_field", "BadCondition"),
     ("err_flag_if", "BadCondition"),
     ("err_flag_imm_num", "Type { context: \"a `when` condition\", expected: Bool, found: Num }"),
     ("err_flag_num", "Type { context: \"a `when` condition\", expected: Bool, found: Num }"),
     ("err_flag_primitive", "BadCondition"),
     ("err_flag_report", "CommandAsValue(\"report\")"),
     ("err_garbage_after", "Expected { expected: \"`(when` or end of input\", found: \"`junk`\" }"),
     ("err_ge_space", "UnexpectedChar('=')"),
     ("err_if_in_arith_left", "ConditionalNotBound(\"if\")"),
     ("err_if_in_arith_right", "ConditionalNotBound(\"if\")"),
     ("err_if_statement", "ConditionalNotBound(\"if\")"),
     ("err_if_to_tmp", "NotAssignable"),
     ("err_nested_if", "ConditionalNotBound(\"if\")"),
     ("err_no_def", "Expected { expected: \"`def`\", found: \"`when`\" }"),
     ("err_old_reset", "UnknownOperator(\"reset\")"),
     ("err_portus_illegal_name", "ReservedName(\"__illegalname\")"),
     ("err_portus_timeout_call", "UnknownOperator(\"timeout\")"),
     ("err_portus_unclosed_report", "Expected { expected: \"a statement or `)`\", found: \"end of input\" }"),
     ("err_report_arg", "Expected { expected: \"`)`\", found: \"`1`\" }"),
     ("err_reserved_decl", "ReservedName(\"__a\")"),
     ("err_reserved_name", "ReservedName(\"__shouldReport\")"),
     ("err_self_ref_local", "UndefinedName(\"x\")"),
     ("err_too_many_locals", "TooManyRegisters { kind: \"local\", limit: 6 }"),
     ("err_too_many_reports", "TooManyRegisters { kind: \"report\", limit: 16 }"),
     ("err_two_defs", "Expected { expected: \"`when`\", found: \"`def`\" }"),
     ("err_two_groups", "SecondReportGroup"),
     ("err_type_add_bool", "Type { context: \"`+`\", expected: Num, found: Bool }"),
     ("err_type_and_num", "Type { context: \"`&&`\", expected: Bool, found: Num }"),
     ("err_type_eq_bool", "Type { context: \"`==`\", expected: Num, found: Bool }"),
     ("err_unclosed", "Expected { expected: \"`)`\", found: \"end of input\" }"),
     ("err_unknown_op", "UnknownOperator(\"blah\")"),
     ("err_uppercase_when", "Expected { expected: \"`when`\", found: \"`WHEN`\" }"),
     ("err_volatile_no_name", "Expected { expected: \"a field name\", found: \"`0`\" }"),
     ("err_when_before_def", "Expected { expected: \"`def`\", found: \"`when`\" }"),
     ("err_when_no_cond", "Expected { expected: \"an expression\", found: \"`)`\" }"),
     ("err_write_constant", "WriteToConstant(\"5\")"),
     ("err_write_primitive", "WriteToPrimitive(\"Ack.bytes_acked\")"),
     ("err_write_true", "WriteToConstant(\"true\")"),
];

#[test]
fn corpus_matches_portus() {
    quiet_panics();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut counts = [0usize; 4];
    for f in &files {
        let name = f.file_name().unwrap().to_str().unwrap().to_string();
        let src = std::fs::read_to_string(f).unwrap();
        let (o, p) = (ours(&src, &[]), portus(&src, &[]));
        if name.starts_with("ok_") {
            let a = o.unwrap_or_else(|e| panic!("{name}: ours rejects: {e}"));
            let b = p.unwrap_or_else(|e| panic!("{name}: portus rejects: {e}"));
            assert_eq!(a, b, "{name}: bytes differ");
            counts[0] += 1;
        } else if name.starts_with("err_") {
            assert_eq!(our_error(&name, o), expected_error(&name), "{name}");
            assert!(p.is_err(), "{name}: portus accepts");
            counts[1] += 1;
        } else if name.starts_with("diffok_") {
            assert!(o.is_ok(), "{name}: ours rejects: {:?}", o.err());
            assert!(p.is_err(), "{name}: portus accepts (not a difference)");
            counts[2] += 1;
        } else if name.starts_with("differr_") {
            assert_eq!(our_error(&name, o), expected_error(&name), "{name}");
            assert!(
                p.is_ok(),
                "{name}: portus rejects (not a difference): {:?}",
                p.err()
            );
            counts[3] += 1;
        } else {
            panic!("corpus file {name} has no expectation prefix");
        }
    }
    assert!(
        counts[0] >= 30 && counts[1] >= 40,
        "corpus too small: {counts:?}"
    );
    assert_eq!(
        counts[1] + counts[3],
        CORPUS_ERRORS.len(),
        "CORPUS_ERRORS lists a file that is not in the corpus"
    );
}

/// The `Debug` form of the error kind our compiler gives for corpus file `name`.
fn our_error(name: &str, verdict: Result<Vec<u8>, lang::CompileError>) -> String {
    match verdict {
        Ok(_) => panic!("{name}: ours accepts"),
        Err(e) => format!("{:?}", e.kind),
    }
}

fn expected_error(name: &str) -> &'static str {
    let stem = name.trim_end_matches(".ccp");
    CORPUS_ERRORS
        .iter()
        .find(|(f, _)| *f == stem)
        .map(|(_, k)| *k)
        .unwrap_or_else(|| panic!("{name}: add its expected error to CORPUS_ERRORS"))
}

#[test]
fn overrides_match_portus() {
    quiet_panics();
    let src = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/ok_portus_preset.ccp"),
    )
    .unwrap();
    let a = ours(&src, &[("foo", 52)]).unwrap();
    let b = portus(&src, &[("foo", 52)]).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, ours(&src, &[]).unwrap());
    let a = ours(&src, &[("Report.testFoo", 7), ("foo", 1)]).unwrap();
    assert_eq!(
        a,
        portus(&src, &[("Report.testFoo", 7), ("foo", 1)]).unwrap()
    );
}

/// Documented difference: portus prints and ignores an override of an unknown name.
#[test]
fn diff_unknown_override_is_error() {
    quiet_panics();
    let src = "(def (foo 0))\n(when true (report))";
    assert!(portus(src, &[("nope", 3)]).is_ok());
    let e = lang::compile(src, &[("nope", 3)]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::UnknownOverride("nope".into()));
    assert_eq!(e.pos, None);
}

/// Documented difference: portus turns a boolean field into a number when overridden.
#[test]
fn diff_override_keeps_bool_type() {
    quiet_panics();
    let src = "(def (f false) (Report.a false))\n(when true (:= Report.a (&& f true)))";
    assert!(portus(src, &[("f", 1)]).is_err());
    let c = lang::compile(src, &[("f", 1)]).unwrap();
    assert_eq!(
        c.program.encode_body(),
        portus(src, &[])
            .map(|mut b| {
                // same program with f's DEF immediate 1 instead of 0
                let def_f = 16 + 16; // one event, then DEF Report.a, then DEF f (name order)
                b[def_f + 12] = 1;
                b
            })
            .unwrap()
    );
    assert!(matches!(
        lang::compile(src, &[("f", 2)]).unwrap_err().kind,
        ErrorKind::OverrideNotBool { .. }
    ));
}

/// Documented difference: portus (nom `tag`) splits glued tokens.
#[test]
fn diff_glued_tokens() {
    quiet_panics();
    let cases = [
        (
            "(def (Report.a 0) (c 2))\n(when true (:= Report.a (addc 1)))",
            ErrorKind::UnknownOperator("addc".into()),
        ),
        (
            "(def (Report.a 0) (x 0))\n(when true (:= Report.a (+ 1x)))",
            ErrorKind::GluedNumber("1x".into()),
        ),
        (
            "(def (Report.a 0))\n(when truex (report))",
            ErrorKind::UndefinedName("truex".into()),
        ),
    ];
    for (src, kind) in cases {
        assert!(portus(src, &[]).is_ok(), "portus rejects {src}");
        assert_eq!(
            lang::compile(src, &[]).map(|_| ()).unwrap_err().kind,
            kind,
            "{src}"
        );
    }
    // Both accept, with different meanings: portus reads `volatile foo`, ours a field
    // named `volatilefoo`.
    let src = "(def (volatilefoo 0))\n(when true (report))";
    let p = portus(src, &[]).unwrap();
    let c = lang::compile(src, &[]).unwrap();
    assert_eq!(p[16 + 1], 8, "portus: volatile control");
    assert_eq!(c.program.encode_body()[16 + 1], 0);
    assert_eq!(c.scope.named[0].name, "volatilefoo");
}

/// Documented difference: portus accepts some non-ASCII names (it casts `char` to `u8`).
#[test]
fn diff_non_ascii_name() {
    quiet_panics();
    // U+0141 truncates to b'A'.
    let src = "(def (Report.\u{141} 0))\n(when true (report))";
    assert!(portus(src, &[]).is_ok());
    assert!(matches!(
        lang::compile(src, &[]).unwrap_err().kind,
        ErrorKind::UnexpectedChar('\u{141}')
    ));
}

/// Documented difference: comments are whitespace everywhere; portus panics on a comment
/// inside a clause and rejects one at the start, two in a row, one in `def` or at the end.
#[test]
fn diff_comments_anywhere() {
    quiet_panics();
    let body = "(def (Report.a 0))\n(when true (report))\n";
    let cases = [
        format!("# first\n{body}"),
        "(def (Report.a 0))\n(when true # c\n (report))".to_string(),
        "(def (Report.a 0))\n(when true\n # c\n (report))".to_string(),
        "(def # c\n (Report.a 0))\n(when true (report))".to_string(),
        format!("{body}# last\n"),
        format!("{body}# last, no newline"),
        "(def (Report.a 0))\n# one\n# two\n(when true (report))".to_string(),
    ];
    for src in &cases {
        assert!(portus(src, &[]).is_err(), "portus accepts {src}");
        let c = lang::compile(src, &[]).unwrap();
        assert_eq!(c.program, lang::compile(body, &[]).unwrap().program);
    }
    // panics inside portus (caught): a comment in a clause body
    let r = catch_unwind(|| portus::lang::compile(cases[2].as_bytes(), &[]));
    assert!(
        r.is_err(),
        "portus no longer panics on a comment in a clause"
    );
}

/// Documented extension: `>=` and `<=` compile to `<`/`>` then `== 0`, which libccp runs.
#[test]
fn diff_ge_le_extension() {
    quiet_panics();
    let ge = "(def (Report.a 0))\n(when (>= Micros 5) (report))";
    let manual = "(def (Report.a 0))\n(when (== (< Micros 5) 0) (report))";
    assert!(portus(ge, &[]).is_err());
    assert!(portus(manual, &[]).is_err()); // portus will not compare a boolean with ==
    let c = lang::compile(ge, &[]).unwrap();
    use ccp::program::{implicit, Instr, Op, Reg};
    assert_eq!(
        &c.program.instrs[1..3],
        &[
            Instr {
                op: Op::Lt,
                res: Reg::tmp(0),
                left: Reg::implicit(implicit::US_ELAPSED),
                right: Reg::imm(5)
            },
            Instr {
                op: Op::Equiv,
                res: Reg::implicit(implicit::EXPR_FLAG),
                left: Reg::tmp(0),
                right: Reg::imm(0)
            },
        ]
    );
}

// ---------------------------------------------------------------------------------------
// Generated programs.
// ---------------------------------------------------------------------------------------

/// The fields a generated program may use, by type.
#[derive(Clone, Debug)]
struct Fields {
    num: Vec<String>,
    boolean: Vec<String>,
}

const PRIMS: [&str; 8] = [
    "Ack.bytes_acked",
    "Ack.now",
    "Ack.lost_pkts_sample",
    "Flow.rtt_sample_us",
    "Flow.rate_outgoing",
    "Micros",
    "Cwnd",
    "Rate",
];

fn fixed_fields() -> Fields {
    Fields {
        num: ["Report.a", "Report.b", "c", "Report.e"]
            .map(String::from)
            .to_vec(),
        boolean: ["Report.f", "g"].map(String::from).to_vec(),
    }
}

const DEFS: &str =
    "(def (Report (volatile a 0) (b +infinity) (volatile f false)) (c 7) (Report.e 1) (volatile g true))";

fn num_leaf(f: &Fields) -> BoxedStrategy<String> {
    let mut names: Vec<String> = PRIMS.map(String::from).to_vec();
    names.extend(f.num.iter().cloned());
    prop_oneof![
        1 => (0u64..40).prop_map(|n| n.to_string()),
        1 => Just("+infinity".to_string()),
        1 => Just("2147483647".to_string()),
        2 => prop::sample::select(names),
    ]
    .boxed()
}

fn bool_leaf(f: &Fields) -> BoxedStrategy<String> {
    let mut v = vec!["true".to_string(), "false".to_string()];
    v.extend(f.boolean.iter().cloned());
    prop::sample::select(v).boxed()
}

fn num_expr(f: &Fields) -> BoxedStrategy<String> {
    num_leaf(f)
        .prop_recursive(3, 8, 2, |inner| {
            (
                prop::sample::select(vec![
                    "+",
                    "add",
                    "-",
                    "sub",
                    "*",
                    "mul",
                    "/",
                    "div",
                    "max",
                    "min",
                    "wrapped_max",
                ]),
                inner.clone(),
                inner,
            )
                .prop_map(|(op, l, r)| format!("({op} {l} {r})"))
        })
        .boxed()
}

fn bool_expr(f: &Fields) -> BoxedStrategy<String> {
    let cmp = (
        prop::sample::select(vec![">", "gt", "<", "lt", "==", "eq"]),
        num_leaf(f),
        num_expr(f),
    )
        .prop_map(|(op, l, r)| format!("({op} {l} {r})"));
    let leaf = bool_leaf(f);
    prop_oneof![bool_leaf(f), cmp]
        .prop_recursive(2, 4, 2, move |inner| {
            (
                prop::sample::select(vec!["&&", "and", "||", "or"]),
                inner,
                leaf.clone(),
            )
                .prop_map(|(op, l, r)| format!("({op} {l} {r})"))
        })
        .boxed()
}

/// A condition portus accepts: a comparison, a logical operation or a literal.
fn condition(f: &Fields) -> BoxedStrategy<String> {
    prop_oneof![
        Just("true".to_string()),
        Just("false".to_string()),
        (
            prop::sample::select(vec![">", "<", "=="]),
            num_expr(f),
            num_expr(f)
        )
            .prop_map(|(op, l, r)| format!("({op} {l} {r})")),
        (
            prop::sample::select(vec!["&&", "||"]),
            bool_expr(f),
            bool_expr(f)
        )
            .prop_map(|(op, l, r)| format!("({op} {l} {r})")),
    ]
    .boxed()
}

fn statement(f: &Fields) -> BoxedStrategy<String> {
    let mut num_targets: Vec<String> = ["Cwnd", "Rate", "Micros"].map(String::from).to_vec();
    num_targets.extend(f.num.iter().cloned());
    // `if`/`!if`/`ewma` may target only declared fields in portus.
    let fields: Vec<String> = f.num.iter().chain(&f.boolean).cloned().collect();
    let mut s = vec![
        (
            3,
            (prop::sample::select(num_targets), num_expr(f))
                .prop_map(|(t, e)| format!("(:= {t} {e})"))
                .boxed(),
        ),
        (1, Just("(report)".to_string()).boxed()),
        (1, Just("(fallthrough)".to_string()).boxed()),
        (
            1,
            (prop::sample::select(vec!["l1", "l2"]), num_expr(f))
                .prop_map(|(l, e)| format!("(:= {l} (+ {e} 1))"))
                .boxed(),
        ),
        (
            1,
            (prop::sample::select(vec!["lb"]), bool_expr(f))
                .prop_map(|(l, e)| format!("(bind {l} (&& {e} true))"))
                .boxed(),
        ),
    ];
    if !f.boolean.is_empty() {
        s.push((
            2,
            (prop::sample::select(f.boolean.clone()), bool_expr(f))
                .prop_map(|(t, e)| format!("(bind {t} {e})"))
                .boxed(),
        ));
    }
    if !fields.is_empty() {
        let num = f.num.clone();
        let bexp = prop_oneof![
            bool_leaf(f),
            (
                prop::sample::select(vec![">", "<", "=="]),
                num_leaf(f),
                num_leaf(f)
            )
                .prop_map(|(op, l, r)| format!("({op} {l} {r})")),
        ]
        .boxed();
        let nexp = num_expr(f);
        let pick = (
            prop::sample::select(fields),
            any::<bool>(),
            1u64..10,
            any::<prop::sample::Index>(),
        );
        s.push((
            2,
            (pick, bexp.clone(), nexp.clone(), bexp)
                .prop_map(move |((t, not, k, _), c, nv, bv)| {
                    let kw = if not { "!if" } else { "if" };
                    if num.contains(&t) {
                        if k % 3 == 0 {
                            format!("(:= {t} (ewma {k} {nv}))")
                        } else {
                            format!("(:= {t} ({kw} {c} {nv}))")
                        }
                    } else {
                        format!("(:= {t} ({kw} {c} {bv}))")
                    }
                })
                .boxed(),
        ));
    }
    proptest::strategy::Union::new_weighted(s).boxed()
}

/// Separators portus accepts between clauses (at most one comment, as portus allows).
fn clause_sep() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["\n", " ", "", "\r\n", "\n\t", "\n# note (when\n"])
}

fn clauses(f: &Fields) -> BoxedStrategy<String> {
    prop::collection::vec(
        (
            clause_sep(),
            condition(f),
            prop::collection::vec(statement(f), 1..4),
            prop::sample::select(vec!["\n    ", " ", "\t", "\r\n"]),
        ),
        1..4,
    )
    .prop_map(|cl| {
        let mut s = String::new();
        for (sep, c, body, ws) in cl {
            s.push_str(&format!("{sep}(when {c}{ws}{}{ws})", body.join(ws)));
        }
        s
    })
    .boxed()
}

/// Programs over a fixed set of fields (used with overrides).
fn valid_program() -> impl Strategy<Value = String> {
    clauses(&fixed_fields()).prop_map(|c| format!("{DEFS}{c}"))
}

/// A random `def`: distinct fields, random types, initial values, `volatile`, and a random
/// split between flat declarations before and after an optional `(Report ...)` group.
fn random_defs() -> impl Strategy<Value = (String, Fields)> {
    let pool = vec![
        "a",
        "b",
        "zeta",
        "Alpha",
        "m_1",
        "q.r",
        "x9",
        "Report.n",
        "Report.k",
        "Control.s",
        "cwnd_gain",
        "_u",
    ];
    (
        prop::sample::subsequence(pool, 1..10),
        prop::collection::vec(
            (
                any::<bool>(),
                any::<bool>(),
                any::<bool>(),
                prop::sample::select(vec![0u64, 1, 7, 1460, 2147483647, u64::MAX]),
            ),
            10,
        ),
        0usize..10,
    )
        .prop_map(|(names, attrs, split)| {
            let (mut before, mut group, mut after) = (vec![], vec![], vec![]);
            let mut f = Fields {
                num: vec![],
                boolean: vec![],
            };
            for (i, n) in names.iter().enumerate() {
                let (volatile, boolean, grouped, init) = attrs[i];
                let init = match (boolean, init) {
                    (true, v) => (if v % 2 == 1 { "true" } else { "false" }).to_string(),
                    (false, u64::MAX) => "+infinity".to_string(),
                    (false, v) => v.to_string(),
                };
                let decl = format!("({}{n} {init})", if volatile { "volatile " } else { "" });
                let full = if grouped && !n.starts_with("Report.") {
                    group.push(decl);
                    format!("Report.{n}")
                } else {
                    if i < split {
                        before.push(decl)
                    } else {
                        after.push(decl)
                    }
                    n.to_string()
                };
                if boolean {
                    f.boolean.push(full)
                } else {
                    f.num.push(full)
                }
            }
            let g = if group.is_empty() {
                String::new()
            } else {
                format!("(Report {})", group.join(" "))
            };
            (
                format!("(def {} {} {})", before.join(" "), g, after.join(" ")),
                f,
            )
        })
}

/// Programs over random fields.
fn random_program() -> impl Strategy<Value = String> {
    random_defs().prop_flat_map(|(defs, f)| clauses(&f).prop_map(move |c| format!("{defs}\n{c}")))
}

/// Mutations that both compilers must reject (none is a documented difference).
fn mutate(src: &str, kind: u8, at: usize) -> String {
    let idx = |pat: &str| -> Option<usize> {
        let v: Vec<usize> = src.match_indices(pat).map(|(i, _)| i).collect();
        if v.is_empty() {
            None
        } else {
            Some(v[at % v.len()])
        }
    };
    let mut s = src.to_string();
    match kind % 8 {
        0 => {
            // drop a closing paren
            if let Some(i) = idx(")") {
                s.remove(i);
            }
        }
        1 => {
            // an unknown operator
            if let Some(i) = idx("(:= ") {
                s.replace_range(i..i + 4, "(set ");
            }
        }
        2 => {
            // a write to a primitive
            if let Some(i) = idx("(when ") {
                s.insert_str(i + 6, "true (:= Ack.now 1)) (when ");
            }
        }
        3 => {
            // a type error: a number where a boolean is needed
            if let Some(i) = idx("(when ") {
                s.insert_str(i + 6, "true (:= Report.f (&& 1 true))) (when ");
            }
        }
        4 => {
            // three operands
            if let Some(i) = idx("(+ ") {
                s.insert_str(i + 3, "1 ");
            } else {
                s.push_str("\n(when true (:= c (+ 1 2 3)))");
            }
        }
        5 => {
            // empty clause body
            s.push_str("\n(when true)");
        }
        6 => {
            // a number as a condition
            s.push_str("\n(when (+ 1 2) (report))");
        }
        _ => {
            // garbage after the program
            s.push_str("\n)");
        }
    }
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn generated_valid_programs_match_portus(src in valid_program()) {
        quiet_panics();
        assert_agree(&src);
    }

    /// Random declarations exercise register numbering and the order of `DEF`s.
    #[test]
    fn generated_random_field_programs_match_portus(src in random_program()) {
        quiet_panics();
        assert_agree(&src);
        // Every name maps to the same register as in portus's scope (the agent relies on it).
        if let (Ok(c), Ok(Ok((_, sc)))) = (
            lang::compile(&src, &[]),
            catch_unwind(AssertUnwindSafe(|| portus::lang::compile(src.as_bytes(), &[]))),
        ) {
            use portus::lang::Reg as P;
            for n in &c.scope.named {
                let theirs = match sc.get(&n.name) {
                    Some(P::Report(i, _, v)) => ccp::program::Reg::report(u32::from(*i), *v),
                    Some(P::Control(i, _, v)) => ccp::program::Reg::control(u32::from(*i), *v),
                    Some(P::Local(i, _)) => ccp::program::Reg::local(u32::from(*i)),
                    other => panic!("{}: portus has {other:?}", n.name),
                };
                prop_assert_eq!(n.reg, theirs, "{}", n.name);
            }
        }
    }

    /// Install-time overrides of number fields give the same bytes as portus.
    #[test]
    fn generated_overrides_match_portus(
        src in valid_program(),
        ovr in prop::collection::vec(
            (prop::sample::select(vec!["Report.a", "Report.b", "c", "Report.e"]), 0u64..(1 << 31)),
            0..4,
        ),
    ) {
        quiet_panics();
        match (ours(&src, &ovr), portus(&src, &ovr)) {
            (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
            (Err(_), Err(_)) => {}
            (Err(e), Ok(_)) => prop_assert!(
                matches!(e.kind, ErrorKind::TooManyRegisters { kind: "temporary", .. }),
                "{}", e
            ),
            (Ok(_), Err(e)) => prop_assert!(false, "portus rejects: {}", e),
        }
    }

    #[test]
    fn generated_invalid_programs_match_portus(src in valid_program(), kind in 0u8..8, at in 0usize..50) {
        quiet_panics();
        let bad = mutate(&src, kind, at);
        assert_agree(&bad);
        prop_assert!(lang::compile(&bad, &[]).is_err() || portus(&bad, &[]).is_ok());
    }

    /// Fuzzing stand-in: the compiler never panics on arbitrary text.
    #[test]
    fn never_panics_on_arbitrary_text(src in "\\PC{0,300}") {
        let _ = lang::compile(&src, &[]);
    }

    /// Fuzzing stand-in on text made of the language's own tokens (reaches deeper).
    #[test]
    fn never_panics_on_token_soup(toks in prop::collection::vec(prop::sample::select(vec![
        "(", ")", "(", ")", "def", "when", "Report", "volatile", ":=", "+", "if", "!if", "ewma",
        ">=", "<", "&&", "true", "false", "+infinity", "0", "2147483648", "Report.a", "x", "Cwnd",
        "Ack.now", "Flow.was_timeout", "(report)", "(fallthrough)", "#c\n", " ", "\n", "__x",
    ]), 0..80)) {
        let src: String = toks.concat();
        let _ = lang::compile(&src, &[("x", 1)]);
    }

    /// Fuzzing stand-in on mutated valid programs.
    #[test]
    fn never_panics_on_mutated_programs(src in valid_program(), cut in 0usize..2000, ins in "[()a-z:=+# \n0-9]{0,4}") {
        let mut s = src;
        let at = cut.min(s.len());
        if s.is_char_boundary(at) {
            s.insert_str(at, &ins);
        }
        let _ = lang::compile(&s, &[]);
        let _ = lang::compile_bytes(s.as_bytes(), &[("c", 3)]);
    }
}

/// Guards the generators: most generated "valid" programs must really compile, so that the
/// byte comparisons above are not vacuous.
#[test]
fn generated_programs_are_mostly_valid() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    for (name, strategy) in [
        ("fixed", valid_program().boxed()),
        ("random", random_program().boxed()),
    ] {
        let n = 300;
        let ok = (0..n)
            .filter(|_| {
                let src = strategy.new_tree(&mut runner).unwrap().current();
                let r = lang::compile(&src, &[]);
                if let Err(e) = &r {
                    eprintln!("{name}: {e}");
                }
                r.is_ok()
            })
            .count();
        assert!(ok * 10 >= n * 7, "{name}: only {ok} of {n} compile");
    }
}
