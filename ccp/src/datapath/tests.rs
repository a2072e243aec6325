//! Unit tests of the datapath runtime (the parts the integration tests cannot reach).

use super::*;

fn dp_with_flow() -> Datapath {
    let mut dp = Datapath::new(Config::default(), Instant::ZERO);
    dp.open_flow(Instant::ZERO, FlowInfo::default()).unwrap();
    dp
}

/// `take_staged_window` hands over the non-zero window and rate and leaves the rest staged:
/// the next invocation no longer outputs them, a zero window stays for the program.
#[test]
fn taking_the_staged_window_keeps_it_from_the_next_invocation() {
    let mut dp = dp_with_flow();
    let upd = |dp: &mut Datapath, updates| {
        dp.handle_msg(
            Instant::ZERO,
            Msg::UpdateFields(UpdateFields { sid: 1, updates }),
        )
        .unwrap()
    };
    upd(
        &mut dp,
        vec![
            UpdateField::cwnd(5000),
            UpdateField::rate(9000),
            UpdateField::control(3, 7),
        ],
    );
    assert_eq!(dp.take_staged_window(1), (Some(5000), Some(9000)));
    assert_eq!(dp.take_staged_window(1), (None, None), "taken once");
    assert_eq!(dp.take_staged_window(2), (None, None), "no such flow");
    assert_eq!(dp.flow(1).unwrap().staged.control, vec![(3, 7)]);
    let prims = Primitives {
        snd_cwnd: 1460,
        ..Primitives::default()
    };
    let inv = dp.invoke(Instant::ZERO, 1, &prims);
    assert_eq!((inv.cwnd, inv.rate), (None, None), "{inv:?}");
    // Not taken: the next invocation outputs it (the pre-existing behaviour).
    upd(&mut dp, vec![UpdateField::cwnd(7000)]);
    let inv = dp.invoke(Instant::ZERO, 1, &prims);
    assert_eq!(inv.cwnd, Some(7000));
    upd(&mut dp, vec![UpdateField::cwnd(0)]);
    assert_eq!(dp.take_staged_window(1), (None, None));
    assert_eq!(
        dp.flow(1).unwrap().staged.cwnd,
        Some(0),
        "a zero window stays"
    );
}

/// The in-place UPDATE_FIELDS path agrees with decode + `handle_msg` on every outcome.
#[test]
fn in_place_update_fields_matches_the_decoder() {
    let good = Msg::UpdateFields(UpdateFields {
        sid: 1,
        updates: vec![UpdateField::cwnd(5000), UpdateField::control(3, 7)],
    })
    .encode()
    .unwrap();
    let mut cases = vec![good.clone()];
    let mut unknown_flow = good.clone();
    unknown_flow[4] = 9;
    cases.push(unknown_flow);
    let mut bad_kind = good.clone();
    bad_kind[12] = 0xee;
    cases.push(bad_kind);
    let mut bad_reg = good.clone();
    bad_reg[13] = 200; // control register index 200
    cases.push(bad_reg);
    cases.push(good[..good.len() - 1].to_vec());
    let mut bad_count = good.clone();
    bad_count[8] = 3;
    cases.push(bad_count);
    cases.push([good.clone(), good.clone()].concat());
    for (i, bytes) in cases.iter().enumerate() {
        let mut a = dp_with_flow();
        let mut b = dp_with_flow();
        a.notify_send_failed(Instant::ZERO);
        b.notify_send_failed(Instant::ZERO);
        let mut seen = Vec::new();
        let ra = a.handle_bytes_with(Instant::ZERO, bytes, |sid, u| seen.push((sid, u.to_vec())));
        let rb = (|| {
            let mut rest = &bytes[..];
            while !rest.is_empty() {
                let (m, used) = Msg::decode(rest)?;
                b.handle_msg(Instant::ZERO, m)?;
                rest = &rest[used..];
            }
            Ok::<_, MessageError>(())
        })();
        assert_eq!(ra, rb, "case {i}");
        assert_eq!(a.first_failed_send, b.first_failed_send, "case {i}");
        let (fa, fb) = (a.flow(1).unwrap(), b.flow(1).unwrap());
        assert_eq!(fa.staged.cwnd, fb.staged.cwnd, "case {i}");
        assert_eq!(fa.staged.control, fb.staged.control, "case {i}");
        if ra.is_ok() {
            assert!(!seen.is_empty());
            assert!(seen.iter().all(|(sid, u)| *sid == 1 && u.len() == 2));
        }
    }
}
