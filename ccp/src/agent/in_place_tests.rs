//! The in-place report path of the agent against the decoder.

use super::builtin::Reno;
use super::*;
use crate::wire::{Create, FlowInfo, Measure};

/// Reports read in place and through the decoder give the same answers and errors.
#[test]
fn in_place_reports_match_the_decoder() {
    let new_agent = || {
        let mut a = Agent::<Reno, ()>::new(Reno, AgentConfig::default()).unwrap();
        let c = Msg::Create(Create {
            sid: 1,
            flow: FlowInfo {
                init_cwnd: 14600,
                mss: 1460,
                ..FlowInfo::default()
            },
        });
        a.handle_bytes(Instant::ZERO, &(), &c.encode().unwrap())
            .unwrap();
        while a.poll_transmit().is_some() {}
        a
    };
    let uid = new_agent().program_uid("reno").unwrap();
    let report = |fields: Vec<u64>| {
        Msg::Measure(Measure {
            sid: 1,
            program_uid: uid,
            fields,
        })
        .encode()
        .unwrap()
    };
    let good = report(vec![2920, 0, 0, 20_000]);
    let mut cases = vec![good.clone(), report(vec![1460, 1, 0, 20_000])];
    cases.push(good[..good.len() - 3].to_vec());
    let mut bad_count = good.clone();
    bad_count[12] = 200;
    cases.push(bad_count);
    let mut other_uid = good.clone();
    other_uid[8] ^= 1;
    cases.push(other_uid);
    cases.push([good.clone(), report(vec![]), good.clone()].concat());
    for (i, bytes) in cases.iter().enumerate() {
        let mut a = new_agent();
        let mut b = new_agent();
        let ra = a.handle_bytes(Instant::ZERO, &(), bytes);
        let rb = (|| {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let (m, used) = Msg::decode(rest)?;
                b.handle_msg(Instant::ZERO, &(), m)?;
                rest = &rest[used..];
            }
            Ok::<_, AgentError>(())
        })();
        assert_eq!(ra, rb, "case {i}");
        assert_eq!(a.stats(), b.stats(), "case {i}");
        let mut out_a = Vec::new();
        while let Some(m) = a.poll_transmit_with(|_, m| m.to_vec()) {
            out_a.push(m);
        }
        let out_b: Vec<_> = std::iter::from_fn(|| b.poll_transmit().map(|(_, m)| m)).collect();
        assert_eq!(out_a, out_b, "case {i}");
    }
}
