//! Proptest round-trips for every message type, limits, and decoding of arbitrary bytes
//! (the proptest stand-in for the `decode` fuzz target).

use ccp::program::{Expression, Instr, Op, Program, Reg, RegKind};
use ccp::wire::{
    self, ChangeProg, Create, DecodeError, EncodeError, FlowInfo, InstallExpr, Measure, Msg, Ready,
    UpdateField, UpdateFields,
};
use proptest::prelude::*;

fn reg() -> impl Strategy<Value = Reg> {
    (0u8..=8, any::<u32>()).prop_map(|(k, i)| Reg::new(RegKind::from_u8(k).unwrap(), i))
}

fn instr() -> impl Strategy<Value = Instr> {
    (0u8..15, reg(), reg(), reg()).prop_map(|(o, res, left, right)| Instr {
        op: Op::from_u8(o).unwrap(),
        res,
        left,
        right,
    })
}

fn expression() -> impl Strategy<Value = Expression> {
    (any::<u32>(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(a, b, c, d)| Expression {
        cond_start: a,
        num_cond: b,
        body_start: c,
        num_body: d,
    })
}

fn update() -> impl Strategy<Value = UpdateField> {
    (reg(), any::<u64>()).prop_map(|(reg, value)| UpdateField { reg, value })
}

fn alg() -> impl Strategy<Value = Option<String>> {
    prop_oneof![Just(None), "[a-zA-Z0-9_ é-]{1,20}".prop_map(Some)]
        .prop_filter("fits", |a| a.as_ref().is_none_or(|s| s.len() < 64))
}

fn msg() -> impl Strategy<Value = Msg> {
    prop_oneof![
        (any::<[u32; 7]>(), alg()).prop_map(|(v, alg)| Msg::Create(Create {
            sid: v[0],
            flow: FlowInfo {
                init_cwnd: v[1],
                mss: v[2],
                src_ip: v[3],
                src_port: v[4],
                dst_ip: v[5],
                dst_port: v[6],
                alg,
            },
        })),
        (
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(any::<u64>(), 0..=110)
        )
            .prop_map(|(sid, program_uid, fields)| Msg::Measure(Measure {
                sid,
                program_uid,
                fields
            })),
        (
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(expression(), 0..12),
            prop::collection::vec(instr(), 0..40)
        )
            .prop_map(|(sid, program_uid, expressions, instrs)| Msg::InstallExpr(
                InstallExpr {
                    sid,
                    program_uid,
                    program: Program {
                        expressions,
                        instrs
                    },
                }
            )),
        (any::<u32>(), prop::collection::vec(update(), 0..=222))
            .prop_map(|(sid, updates)| Msg::UpdateFields(UpdateFields { sid, updates })),
        (
            any::<u32>(),
            any::<u32>(),
            prop::collection::vec(update(), 0..=222)
        )
            .prop_map(|(sid, program_uid, updates)| Msg::ChangeProg(ChangeProg {
                sid,
                program_uid,
                updates
            })),
        any::<u32>().prop_map(|id| Msg::Ready(Ready { id })),
    ]
}

proptest! {
    #[test]
    fn every_message_roundtrips(m in msg()) {
        let bytes = m.encode().unwrap();
        prop_assert_eq!(bytes.len(), m.encoded_len());
        prop_assert_eq!(usize::from(u16::from_le_bytes([bytes[2], bytes[3]])), bytes.len());
        let (back, used) = Msg::decode(&bytes).unwrap();
        prop_assert_eq!(used, bytes.len());
        prop_assert_eq!(back, m);
    }

    #[test]
    fn concatenated_messages_decode_in_sequence(a in msg(), b in msg()) {
        let mut bytes = a.encode().unwrap();
        b.encode_into(&mut bytes).unwrap();
        let (x, n) = Msg::decode(&bytes).unwrap();
        let (y, k) = Msg::decode(&bytes[n..]).unwrap();
        prop_assert_eq!((x, y), (a, b));
        prop_assert_eq!(n + k, bytes.len());
    }

    /// Stand-in for the `decode` fuzz target: arbitrary bytes never panic, a success never
    /// claims more bytes than given, and what decodes re-encodes to a valid message.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        if let Ok((m, used)) = Msg::decode(&bytes) {
            prop_assert!(used <= bytes.len());
            let again = m.encode().unwrap();
            prop_assert_eq!(Msg::decode(&again).unwrap().0, m);
        }
    }

    /// Headers with plausible types and lengths, random bodies: exercises the count checks.
    #[test]
    fn plausible_headers_never_panic(
        typ in 0u16..7,
        counts in any::<[u32; 3]>(),
        small in 0u32..300,
        body in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut b = Vec::new();
        b.extend_from_slice(&typ.to_le_bytes());
        let len = (8 + 12 + body.len()) as u16;
        b.extend_from_slice(&len.to_le_bytes());
        b.extend_from_slice(&1u32.to_le_bytes());
        b.extend_from_slice(&counts[0].to_le_bytes());
        b.extend_from_slice(&(counts[1] % 2 * small).to_le_bytes());
        b.extend_from_slice(&(counts[2] % 3 * small).to_le_bytes());
        b.extend_from_slice(&body);
        let _ = Msg::decode(&b);
    }
}

#[test]
fn limits_are_enforced_both_ways() {
    let big = |ne: usize, ni: usize| {
        Msg::InstallExpr(InstallExpr {
            sid: 0,
            program_uid: 3,
            program: Program {
                expressions: vec![Expression::default(); ne],
                instrs: vec![
                    Instr {
                        op: Op::Bind,
                        res: Reg::tmp(0),
                        left: Reg::tmp(0),
                        right: Reg::imm(1),
                    };
                    ni
                ],
            },
        })
    };
    let max = big(256, 256).encode().unwrap();
    assert_eq!(max.len(), 8 + 12 + 16 * 512);
    assert!(Msg::decode(&max).is_ok());
    assert!(matches!(
        big(257, 0).encode(),
        Err(EncodeError::TooMany { .. })
    ));
    assert!(matches!(
        big(0, 257).encode(),
        Err(EncodeError::TooMany { .. })
    ));
    // A header claiming 257 instructions is refused before anything is allocated.
    let mut b = big(0, 1).encode().unwrap();
    b[16..20].copy_from_slice(&257u32.to_le_bytes());
    assert!(matches!(Msg::decode(&b), Err(DecodeError::TooMany { .. })));
    // Counts disagreeing with the length (libccp reads past the buffer).
    b[16..20].copy_from_slice(&2u32.to_le_bytes());
    assert!(matches!(
        Msg::decode(&b),
        Err(DecodeError::SizeMismatch { .. })
    ));
    // 111 report fields.
    let m = Msg::Measure(Measure {
        sid: 1,
        program_uid: 1,
        fields: vec![0; 111],
    });
    assert_eq!(
        m.encode(),
        Err(EncodeError::TooMany {
            what: "report fields",
            count: 111,
            max: 110
        })
    );
    // 223 updates.
    let m = Msg::UpdateFields(UpdateFields {
        sid: 1,
        updates: vec![UpdateField::cwnd(1); 223],
    });
    assert_eq!(
        m.encode(),
        Err(EncodeError::TooMany {
            what: "updates",
            count: 223,
            max: 222
        })
    );
    // A 65-byte algorithm name, or one with a NUL, does not fit the 64-byte field.
    let named = |alg: String| {
        Msg::Create(Create {
            sid: 0,
            flow: FlowInfo {
                alg: Some(alg),
                ..Default::default()
            },
        })
    };
    let m = named("x".repeat(65));
    assert!(matches!(m.encode(), Err(EncodeError::BadAlgName { .. })));
    let m = named("x\0y".into());
    assert!(matches!(m.encode(), Err(EncodeError::BadAlgName { .. })));
    // A 64-byte name fills the field without NUL, as libccp's `char congAlg[64]` may (the
    // datapath runtime's `open_flow` still refuses it: portus panics on it).
    let m = named("x".repeat(64));
    let b = m.encode().unwrap();
    assert!(b[32..96].iter().all(|&c| c == b'x'));
    assert_eq!(Msg::decode(&b).unwrap().0, m);
    // ... but the datapath runtime never sends one: its flows' names are at most 63 bytes.
    let mut dp = ccp::datapath::Datapath::new(Default::default(), netrt::Instant::ZERO);
    let info = |n: usize| ccp::datapath::FlowInfo {
        alg: Some("x".repeat(n)),
        ..Default::default()
    };
    assert_eq!(
        dp.open_flow(netrt::Instant::ZERO, info(64)),
        Err(ccp::datapath::FlowError::BadAlgName)
    );
    assert!(dp.open_flow(netrt::Instant::ZERO, info(63)).is_ok());
    // A 64-byte name without NUL on the wire decodes (portus panics on it).
    let mut c = Msg::Create(Create::default()).encode().unwrap();
    for b in &mut c[32..96] {
        *b = b'a';
    }
    match Msg::decode(&c).unwrap().0 {
        Msg::Create(c) => assert_eq!(c.flow.alg.unwrap().len(), 64),
        _ => unreachable!(),
    }
    // Lengths outside [8, 32678] and truncation.
    let mut r = Msg::Ready(Ready { id: 1 }).encode().unwrap();
    assert!(matches!(
        Msg::decode(&r[..11]),
        Err(DecodeError::Truncated { .. })
    ));
    r[2] = 7;
    assert!(matches!(
        Msg::decode(&r),
        Err(DecodeError::BadLength { .. })
    ));
    const { assert!(wire::MAX_MSG_LEN == 32_678) };
    let mut huge = vec![0u8; 40_000];
    huge[0] = 1;
    huge[2..4].copy_from_slice(&40_000u16.to_le_bytes());
    assert!(matches!(
        Msg::decode(&huge),
        Err(DecodeError::BadLength { .. })
    ));
    assert!(matches!(
        Msg::decode(&[9, 0, 8, 0, 0, 0, 0, 0]),
        Err(DecodeError::UnknownType(9))
    ));
    // portus reads the type as u16 and truncates it to u8: 0x0105 would be READY there.
    let mut r = Msg::Ready(Ready { id: 1 }).encode().unwrap();
    r[1] = 1;
    assert!(matches!(
        Msg::decode(&r),
        Err(DecodeError::UnknownType(0x0105))
    ));
}

/// Found by `cargo fuzz run decode`: a CREATE whose 64-byte algorithm field has no NUL
/// decoded to a 64-byte name that the encoder then refused (it allowed 63), so a decoded
/// message did not re-encode. The decode fuzz target's loop, on the crashing input.
#[test]
fn fuzz_regression_create_with_64_byte_name_reencodes() {
    const INPUT: &[u8] = b"\
    \x03\x00\x0c\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x03\x00\x0c\x00\x00\x0c\x00\x00\x00\x00\x00\x00\
    \x01\x00\x10\x00\x03\x00\x0c\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x03\x00\x0c\x00\x00\x0c\x00\x00\
    \x00\x00\x00\x00\x01\x00\x10\x00\x00\x00\xe7\x02\x00\x14\x00\x01\x00\x00\x00\x00\x00\x00\x60\x00\
    \x00\x00\x00\x00\x00\x00\x00\x02\x00\x14\x00\x00\xa2\xa2\xa2\x68\x68\x68\x68\x68\x68\x68\x68\x68\
    \x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\
    \x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\
    \x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\
    \x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\x68\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\
    \xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\xa2\x00\x00\x00\x00\x80\x00\x00\
    \x00\x00\x0d\x00\x02\x00\x00\x00\x00\x00\x0c\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x00\x01\x00\x10\
    \x00\x00\x00\xe7\x00\x00\x0d\x00\x02\x00\x00\x00\x00\x03\x00\x0c\x00\x00\xc7\xc7\xc7\x00\x00\x00\
    \x00\x00\x00\x03\x00\x0c\x00\x00\x0c\x00\x00\x00\x00\x00\x00\x01\x00\x10\x00\x03\x00\x0c\x00\x00\
    \x0c\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00";
    let mut rest = INPUT;
    let mut creates = 0;
    while let Ok((m, used)) = Msg::decode(rest) {
        assert!(used <= rest.len() && used >= ccp::wire::HEADER_LEN);
        if let Msg::Create(c) = &m {
            creates += 1;
            assert_eq!(c.flow.alg.as_ref().map(String::len), Some(64));
        }
        let again = m.encode().expect("decoded messages re-encode");
        assert_eq!(Msg::decode(&again).expect("re-decodes").0, m);
        rest = &rest[used..];
    }
    assert_eq!(creates, 1);
}
