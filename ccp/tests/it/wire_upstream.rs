//! Cross-decoding against upstream: bytes produced by portus 0.9's `serialize` module and by
//! libccp 1.2 decode with ours, and ours decode with theirs (or, for the agent→datapath
//! messages portus cannot decode, are byte-identical to portus's and accepted by libccp).

use ccp::program::{Program, Reg};
use ccp::wire::{
    ChangeProg, Create, FlowInfo, InstallExpr, Measure, Msg, Ready, UpdateField, UpdateFields,
};
use portus::lang::{Reg as PReg, Type as PType};
use portus::serialize as ps;
use proptest::prelude::*;

fn decode_one(b: &[u8]) -> Msg {
    let (m, used) = Msg::decode(b).unwrap();
    assert_eq!(used, b.len());
    m
}

fn to_portus_reg(r: Reg) -> PReg {
    use ccp::program::RegKind::*;
    let t = PType::Num(None);
    let i = r.index as u8;
    match r.kind {
        NonVolatileControl => PReg::Control(i, t, false),
        VolatileControl => PReg::Control(i, t, true),
        Implicit => PReg::Implicit(i, t),
        Local => PReg::Local(i, t),
        Primitive => PReg::Primitive(i, t),
        VolatileReport => PReg::Report(i, t, true),
        NonVolatileReport => PReg::Report(i, t, false),
        Tmp => PReg::Tmp(i, t),
        Immediate => PReg::ImmNum(u64::from(r.index)),
    }
}

/// Registers portus can serialize: control/report/tmp/primitive ≤ 15, implicit/local ≤ 5.
fn portus_field_reg() -> impl Strategy<Value = Reg> {
    prop_oneof![
        (0u32..=15, any::<bool>()).prop_map(|(i, v)| Reg::control(i, v)),
        (4u32..=5).prop_map(Reg::implicit),
    ]
}

proptest! {
    #[test]
    fn create_cross_decodes(v in any::<[u32; 7]>(), alg in "[a-z]{1,20}") {
        let pm = ps::create::Msg {
            sid: v[0], init_cwnd: v[1], mss: v[2], src_ip: v[3], src_port: v[4],
            dst_ip: v[5], dst_port: v[6], cong_alg: None,
        };
        // portus → ours (portus can only serialize an empty name; see the differences table).
        let bytes = ps::serialize(&pm).unwrap();
        let ours = Create { sid: v[0], flow: FlowInfo { init_cwnd: v[1], mss: v[2], src_ip: v[3],
            src_port: v[4], dst_ip: v[5], dst_port: v[6], alg: None } };
        prop_assert_eq!(decode_one(&bytes), Msg::Create(ours.clone()));
        prop_assert_eq!(Msg::Create(ours.clone()).encode().unwrap(), bytes);
        // ours (with a name) → portus.
        let named = Create { flow: FlowInfo { alg: Some(alg.clone()), ..ours.flow.clone() }, ..ours };
        let b = Msg::Create(named).encode().unwrap();
        match ps::Msg::from_buf(&b).unwrap().0 {
            ps::Msg::Cr(c) => {
                prop_assert_eq!(c.sid, v[0]);
                prop_assert_eq!(c.dst_port, v[6]);
                prop_assert_eq!(c.cong_alg, Some(alg));
            }
            _ => prop_assert!(false, "portus decoded another type"),
        }
    }

    #[test]
    fn measure_cross_decodes(sid in any::<u32>(), uid in any::<u32>(),
                             fields in prop::collection::vec(any::<u64>(), 0..=110)) {
        let pm = ps::measure::Msg { sid, program_uid: uid, num_fields: fields.len() as u8,
            fields: fields.clone() };
        let bytes = ps::serialize(&pm).unwrap();
        let ours = Msg::Measure(Measure { sid, program_uid: uid, fields });
        prop_assert_eq!(decode_one(&bytes), ours.clone());
        let b = ours.encode().unwrap();
        prop_assert_eq!(&b, &bytes);
        match ps::Msg::from_buf(&b).unwrap().0 {
            ps::Msg::Ms(m) => prop_assert_eq!(m, pm),
            _ => prop_assert!(false),
        }
    }

    #[test]
    fn ready_cross_decodes(id in any::<u32>()) {
        let bytes = ps::serialize(&ps::ready::Msg { id }).unwrap();
        prop_assert_eq!(decode_one(&bytes), Msg::Ready(Ready { id }));
        let b = Msg::Ready(Ready { id }).encode().unwrap();
        prop_assert_eq!(&b, &bytes);
        match ps::Msg::from_buf(&b).unwrap().0 {
            ps::Msg::Rdy(r) => prop_assert_eq!(r.id, id),
            _ => prop_assert!(false),
        }
    }

    #[test]
    fn update_and_change_cross_decode(sid in any::<u32>(), uid in any::<u32>(),
        regs in prop::collection::vec((portus_field_reg(), any::<u64>()), 0..40)) {
        let pfields: Vec<(PReg, u64)> = regs.iter().map(|(r, v)| (to_portus_reg(*r), *v)).collect();
        let ours: Vec<UpdateField> = regs.iter().map(|&(reg, value)| UpdateField { reg, value }).collect();
        let pu = ps::update_field::Msg { sid, num_fields: pfields.len() as u8, fields: pfields.clone() };
        let bytes = ps::serialize(&pu).unwrap();
        let m = Msg::UpdateFields(UpdateFields { sid, updates: ours.clone() });
        prop_assert_eq!(decode_one(&bytes), m.clone());
        prop_assert_eq!(m.encode().unwrap(), bytes);
        let pc = ps::changeprog::Msg { sid, program_uid: uid, num_fields: pfields.len() as u32, fields: pfields };
        let bytes = ps::serialize(&pc).unwrap();
        let m = Msg::ChangeProg(ChangeProg { sid, program_uid: uid, updates: ours });
        prop_assert_eq!(decode_one(&bytes), m.clone());
        prop_assert_eq!(m.encode().unwrap(), bytes);
    }
}

const PORTUS_PROGRAMS: &[&str] = &[
    "(def (Report (volatile acked 0) (volatile loss 0) (minrtt +infinity)))
     (when true
        (:= Report.acked (+ Report.acked Ack.bytes_acked))
        (:= Report.loss (+ Report.loss Ack.lost_pkts_sample))
        (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
        (fallthrough))
     (when (> Report.loss 0) (report))
     (when (> Micros Report.minrtt) (report) (:= Micros 0))",
    "(def (Report (volatile foo 0)) (bar 7))
     (when true (:= Report.foo (ewma 2 Flow.rate_outgoing)) (:= bar (* bar 2)) (report))",
    "(def (Report.acked 0) (Report.x 0))
     (when (&& (> Ack.bytes_acked 0) (< Flow.rtt_sample_us 100000))
        (:= Report.x (wrapped_max Report.x Ack.now)) (:= Cwnd (/ (* Cwnd 9) 10)))
     (when (|| Flow.was_timeout (== Ack.ecn_packets 1)) (:= Rate 1000) (report))",
];

#[test]
fn portus_install_bytes_decode_and_reencode_identically() {
    for (i, src) in PORTUS_PROGRAMS.iter().enumerate() {
        let (bin, sc) = portus::lang::compile(src.as_bytes(), &[]).unwrap();
        let pm = ps::install::Msg {
            sid: 0,
            program_uid: sc.program_uid,
            num_events: bin.events.len() as u32,
            num_instrs: bin.instrs.len() as u32,
            instrs: bin.clone(),
        };
        let bytes = ps::serialize(&pm).unwrap();
        let m = decode_one(&bytes);
        let Msg::InstallExpr(ref ie) = m else {
            panic!("program {i}: not an install")
        };
        assert_eq!(ie.program_uid, sc.program_uid);
        assert_eq!(ie.program.expressions.len(), bin.events.len());
        assert_eq!(ie.program.instrs.len(), bin.instrs.len());
        assert_eq!(m.encode().unwrap(), bytes, "program {i}");
        // And our runtime accepts every portus program.
        let mut dp = ccp::datapath::Datapath::new(Default::default(), netrt::Instant::ZERO);
        dp.handle_bytes(netrt::Instant::ZERO, &bytes).unwrap();
    }
}

use crate::runtime_ffi;

#[test]
fn libccp_bytes_decode_with_ours_and_ours_install_into_libccp() {
    // libccp's C API on a zeroed connection table (the `libccp` crate's wrapper does not zero
    // it; see `runtime_ffi`).
    let mut lib = runtime_ffi::Libccp::init(0xabcd);
    let sid = lib.start(runtime_ffi::CInfo::new(
        14600,
        1460,
        [10, 20, 30, 40],
        "reno",
    ));
    assert_eq!(sid, 1);
    // Our INSTALL, CHANGE_PROG and UPDATE_FIELDS, read by libccp.
    let mut b = ccp::agent::asm::ProgramBuilder::new();
    let acked = b.report("acked", 0, true);
    let step = b.control("step", 3, false);
    use ccp::agent::asm::*;
    b.always(vec![
        ins(
            ccp::program::Op::Add,
            tmp(0),
            acked,
            prim(prim::ACK_BYTES_ACKED),
        ),
        ins(ccp::program::Op::Add, acked, tmp(0), step),
        bind(should_report(), imm(1)),
    ]);
    let program: Program = b.program();
    let install = Msg::InstallExpr(InstallExpr {
        sid: 0,
        program_uid: 9,
        program,
    })
    .encode()
    .unwrap();
    assert_eq!(lib.recv(&install), 0);
    let change = Msg::ChangeProg(ChangeProg {
        sid: 1,
        program_uid: 9,
        updates: vec![],
    })
    .encode()
    .unwrap();
    assert_eq!(lib.recv(&change), 0);
    let upd = Msg::UpdateFields(UpdateFields {
        sid: 1,
        updates: vec![UpdateField::control(0, 40)],
    })
    .encode()
    .unwrap();
    assert_eq!(lib.recv(&upd), 0);
    let acked = ccp::datapath::Primitives {
        bytes_acked: 100,
        ..Default::default()
    };
    assert_eq!(lib.invoke(&acked), 0);
    lib.close();
    let msgs = lib.take_msgs();
    assert_eq!(msgs.len(), 4, "ready, create, report, close");
    assert_eq!(decode_one(&msgs[0]), Msg::Ready(Ready { id: 0xabcd }));
    assert_eq!(
        decode_one(&msgs[1]),
        Msg::Create(Create {
            sid: 1,
            flow: FlowInfo {
                init_cwnd: 14600,
                mss: 1460,
                src_ip: 10,
                src_port: 20,
                dst_ip: 30,
                dst_port: 40,
                alg: Some("reno".into()),
            },
        })
    );
    assert_eq!(
        decode_one(&msgs[2]),
        Msg::Measure(Measure {
            sid: 1,
            program_uid: 9,
            fields: vec![140],
        })
    );
    assert_eq!(decode_one(&msgs[3]), Msg::Measure(Measure::close(1)));
}
