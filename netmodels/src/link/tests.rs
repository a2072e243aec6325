use std::path::Path;

use sim_core::{RngStreams, SimDuration, SimTime};

use super::*;
use crate::queue::tests::de::{from_pairs, V};

fn ms(n: u64) -> SimTime {
    SimTime::from_nanos(n * 1_000_000)
}

fn trace(text: &str) -> TraceLink {
    TraceLink::new(parse_mahimahi(text, "test").unwrap())
}

const VERIZON: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../scenarios/data/Verizon-LTE-short.down"
);

#[test]
fn fixed_rate_serialization_rounds_up_to_whole_nanoseconds() {
    let mut l = LinkServer::fixed(96_000_000);
    // 1500 bytes at 96 Mbit/s = 125 us.
    assert_eq!(
        l.departure(SimTime::from_nanos(10_000), 1500),
        SimTime::from_nanos(135_000),
        "start + 125 us"
    );
    // Back to back: the next packet starts when the previous left.
    assert_eq!(
        l.departure(SimTime::from_nanos(135_000), 1500),
        SimTime::from_nanos(260_000)
    );
    assert_eq!(l.nominal_bps(), 96_000_000);
    // 1 byte at 3 bit/s = 2.666...67 s, rounded up.
    let mut slow = FixedRate::new(3);
    assert_eq!(
        slow.departure(SimTime::ZERO, 1),
        SimTime::from_nanos(2_666_666_667)
    );
    // 1 byte at 10 Gbit/s = 0.8 ns -> 1 ns.
    let mut fast = FixedRate::new(10_000_000_000);
    assert_eq!(
        fast.departure(SimTime::from_nanos(5), 1),
        SimTime::from_nanos(6)
    );
    // A call before the previous departure still waits for it (FIFO).
    let mut f = FixedRate::new(8_000_000); // 1 byte/us
    assert_eq!(
        f.departure(SimTime::ZERO, 1000),
        SimTime::from_nanos(1_000_000)
    );
    assert_eq!(
        f.departure(SimTime::from_nanos(500_000), 1000),
        SimTime::from_nanos(2_000_000)
    );
}

#[test]
fn trace_link_hand_computed_deliveries() {
    // Opportunities at 2, 2, 5 ms, repeating every 5 ms: 7, 7, 10, 12, 12, 15, ...
    let mut l = trace("2\n2\n5\n");
    // A full packet uses the first opportunity at 2 ms.
    assert_eq!(l.departure(SimTime::ZERO, 1500), ms(2));
    // The next, starting at 2 ms, takes 1000 bytes of the second 2 ms opportunity ...
    assert_eq!(l.departure(ms(2), 1000), ms(2));
    // ... and the leftover 500 carries to a packet served at that same instant.
    assert_eq!(l.departure(ms(2), 400), ms(2));
    // 100 bytes left at 2 ms; a 1500-byte packet takes them and continues at 5 ms.
    assert_eq!(l.departure(ms(2), 1500), ms(5));
    // 100 bytes are left at 5 ms, but a packet starting at 6 ms cannot use them (lost).
    assert_eq!(l.departure(ms(6), 100), ms(7));
    // 1400 left at 7 ms: a 3000-byte packet takes them, all of the second 7 ms opportunity,
    // and 100 bytes at 10 ms.
    assert_eq!(l.departure(ms(7), 3000), ms(10));
    // An idle link loses its opportunities: at 11 ms the next is 12 ms.
    assert_eq!(l.departure(ms(11), 1), ms(12));
    // A packet starting between opportunities waits for the next.
    assert_eq!(l.departure(SimTime::from_nanos(12_000_001), 1500), ms(15));
}

#[test]
fn trace_link_partial_packets_span_many_opportunities() {
    // One opportunity per ms (the README's 12 Mbit/s example).
    let mut l = trace("1");
    assert_eq!(l.departure(SimTime::ZERO, 4500), ms(3));
    assert_eq!(l.departure(ms(3), 1501), ms(5));
    // 1499 bytes are left at 5 ms.
    assert_eq!(l.departure(ms(5), 1499), ms(5));
    assert_eq!(l.departure(ms(5), 1), ms(6));
    // An empty packet takes no time and no opportunity.
    assert_eq!(l.departure(ms(6), 0), ms(6));
    assert_eq!(l.departure(ms(6), 1499), ms(6));
    assert_eq!(LinkServer::Trace(Box::new(l)).nominal_bps(), 12_000_000);
}

#[test]
fn trace_link_wraps_around_with_period_equal_to_last_timestamp() {
    // Opportunities at 0, 0, 4 ms; period 4: then 4, 4, 8, 8, 8, 12, ...
    let mut l = trace("0\n0\n4\n");
    assert_eq!(l.departure(SimTime::ZERO, 3000), SimTime::ZERO);
    // At 4 ms there are three opportunities: the end of the first period and two from the
    // start of the second.
    assert_eq!(l.departure(ms(1), 4500), ms(4));
    assert_eq!(l.departure(ms(4), 1), ms(8));
    // Far in the future (repetition 250 000): 1 000 000 ms is a multiple of the period.
    assert_eq!(l.departure(ms(1_000_000), 4500), ms(1_000_000));
    assert_eq!(
        l.departure(ms(1_000_000) + SimDuration::from_nanos(1), 1500),
        ms(1_000_004)
    );
    // Trace of 2, 2, 5: 20 ms is the last opportunity of the fourth period.
    let mut l = trace("2\n2\n5\n");
    assert_eq!(l.departure(ms(20), 1500), ms(20));
    assert_eq!(l.departure(ms(20), 1500), ms(22));
}

#[test]
fn parse_errors_name_origin_line_and_expectation() {
    let e = parse_mahimahi("1\n2\nx3\n", "cell.down").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cell.down:3: expected a non-negative integer timestamp in milliseconds, got \"x3\""
    );
    let e = parse_mahimahi("5\n4\n", "cell.down").unwrap_err();
    assert_eq!(
        e.to_string(),
        "cell.down:2: expected a timestamp not earlier than the previous one (5 ms), got \"4\""
    );
    let e = parse_mahimahi("-1\n", "t").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("t:1: expected a non-negative integer"));
    let e = parse_mahimahi("\n\n", "t").unwrap_err();
    assert_eq!(e.to_string(), "t: expected at least one timestamp");
    let e = parse_mahimahi("0\n0\n", "t").unwrap_err();
    assert_eq!(
        e.to_string(),
        "t: expected a last timestamp greater than 0 (the trace's period)"
    );
    let e = MahimahiTrace::from_file("/nonexistent/x.down").unwrap_err();
    assert!(
        matches!(&e, TraceError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound),
        "{e:?}"
    );
    assert!(
        e.to_string()
            .starts_with("/nonexistent/x.down: cannot read trace"),
        "{e}"
    );
    // Blank lines and surrounding spaces are tolerated.
    let t = parse_mahimahi(" 1 \n\n3\n", "t").unwrap();
    assert_eq!(t.opportunities(), 2);
    assert_eq!(t.period(), SimDuration::from_millis(3));
}

#[test]
fn verizon_trace_mean_rate_is_about_5_mbps() {
    let t = MahimahiTrace::from_file(VERIZON).unwrap();
    assert_eq!(t.opportunities(), 58_655);
    assert_eq!(t.period(), SimDuration::from_secs(140));
    // 58 655 × 1500 B × 8 / 140 s.
    let r = t.mean_rate_bps();
    assert!((r - 5_027_571.43).abs() < 1.0, "{r}");
}

#[test]
fn saturated_trace_link_delivers_exactly_the_trace_bytes() {
    // Back-to-back 1000-byte packets for one period: per-byte accounting wastes nothing while
    // the link is busy, so the bytes delivered before 140 s equal the bytes of the
    // opportunities before 140 s (up to one partial packet).
    let t = MahimahiTrace::from_file(VERIZON).unwrap();
    let before_end = t.times_ms.iter().filter(|&&x| x < 140_000).count() as u64;
    assert!(
        before_end < 58_655,
        "the trace ends with opportunities at 140 s"
    );
    let total = before_end * 1500;
    let mut l = TraceLink::new(t);
    let mut now = SimTime::ZERO;
    let mut bytes = 0u64;
    loop {
        let done = l.departure(now, 1000);
        if done >= SimTime::from_secs_f64(140.0) {
            break;
        }
        bytes += 1000;
        now = done;
    }
    assert!(total - bytes < 1000, "{bytes} of {total}");
}

#[test]
fn link_config_builds_fixed_and_trace_servers() {
    let c = LinkConfig::fixed_bps(96_000_000);
    assert_eq!(c, LinkConfig::Fixed { rate_mbps: 96.0 });
    assert_eq!(c.build().unwrap().nominal_bps(), 96_000_000);
    assert_eq!(
        LinkConfig::fixed_bps(10_000_000_000)
            .build()
            .unwrap()
            .nominal_bps(),
        10_000_000_000
    );
    let e = LinkConfig::Fixed { rate_mbps: 0.0 }.build().unwrap_err();
    assert_eq!(
        e.to_string(),
        "fixed.rate_mbps: expected a rate between 0.000001 and 1e9 Mbit/s, got 0"
    );
    let e = LinkConfig::Fixed {
        rate_mbps: f64::NAN,
    }
    .build()
    .unwrap_err();
    assert!(
        matches!(
            e,
            LinkError::Invalid {
                field: "fixed.rate_mbps",
                ref got,
                ..
            } if got == "NaN"
        ),
        "{e:?}"
    );
    let c = LinkConfig::Trace {
        path: "Verizon-LTE-short.down".into(),
    };
    let dir = Path::new(VERIZON).parent().unwrap();
    let s = c.with_base_dir(dir).build().unwrap();
    assert_eq!(s.nominal_bps(), 5_027_571);
    // Unresolved, the relative path is looked up in the working directory (the crate's, under
    // `cargo test`), where there is no such file.
    if !Path::new("Verizon-LTE-short.down").exists() {
        match c.build() {
            Err(LinkError::Trace(TraceError::Io { path, source })) => {
                assert_eq!(path, "Verizon-LTE-short.down");
                assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
            }
            other => panic!("expected a not-found trace error, got {other:?}"),
        }
    }
    // Absolute paths are kept.
    let abs = LinkConfig::Trace {
        path: VERIZON.into(),
    };
    assert_eq!(abs.with_base_dir(Path::new("/elsewhere")), abs);
}

#[test]
fn link_config_serde_form() {
    let c: LinkConfig = from_pairs(&[("kind", V::S("fixed")), ("rate_mbps", V::I(96))]).unwrap();
    assert_eq!(c, LinkConfig::Fixed { rate_mbps: 96.0 });
    let c: LinkConfig = from_pairs(&[("kind", V::S("trace")), ("path", V::S("a.down"))]).unwrap();
    assert_eq!(
        c,
        LinkConfig::Trace {
            path: "a.down".into()
        }
    );
    let e = from_pairs::<LinkConfig>(&[("kind", V::S("fixed")), ("rate_bps", V::I(96))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("unknown field `rate_bps`"), "{e}");
}

#[test]
fn loss_model_is_seeded_and_validated() {
    let s = RngStreams::new(5);
    for bad in [-0.1, 1.5, f64::NAN] {
        let e = LossModel::new(bad, s.stream("l")).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("loss: expected a probability in [0, 1], got"));
    }
    let mut never = LossModel::new(0.0, s.stream("l")).unwrap();
    let mut always = LossModel::new(1.0, s.stream("l")).unwrap();
    assert!((0..1000).all(|_| !never.drops() && always.drops()));
    let draws = |name: &str| {
        let mut l = LossModel::new(0.1, s.stream(name)).unwrap();
        (0..100_000).map(|_| l.drops()).collect::<Vec<bool>>()
    };
    let a = draws("a");
    let n = a.iter().filter(|&&x| x).count();
    assert!((9_500..10_500).contains(&n), "{n} losses");
    assert_eq!(a, draws("a"));
    assert_ne!(a, draws("b"));
}

/// An independent, brute-force model of the trace semantics: every opportunity is listed
/// explicitly with its byte budget, and a packet walks them byte by byte.
struct Reference {
    opps: Vec<(u64, u32)>, // (time ns, bytes left)
    next: usize,
}

impl Reference {
    fn new(times_ms: &[u64], horizon_ms: u64) -> Self {
        let period = *times_ms.last().unwrap();
        let mut opps = Vec::new();
        let mut rep = 0;
        while rep * period <= horizon_ms {
            for &t in times_ms {
                opps.push(((rep * period + t) * 1_000_000, OPPORTUNITY_BYTES));
            }
            rep += 1;
        }
        Reference { opps, next: 0 }
    }

    fn departure(&mut self, now: u64, bytes: u32) -> u64 {
        let mut left = bytes;
        // Unused opportunities in the past are lost; partly used ones are usable only at
        // their own instant.
        while self.opps[self.next].0 < now || self.opps[self.next].1 == 0 {
            self.next += 1;
        }
        loop {
            let o = &mut self.opps[self.next];
            let used = left.min(o.1);
            o.1 -= used;
            left -= used;
            if left == 0 {
                return o.0;
            }
            self.next += 1;
        }
    }
}

mod reference_prop {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        #[test]
        fn trace_link_matches_a_brute_force_reference(
            gaps in prop::collection::vec(0u64..4, 1..12),
            reqs in prop::collection::vec((0u64..3_000_000, 1u32..5000, any::<bool>()), 1..80),
        ) {
            let mut times = Vec::new();
            let mut t = 0;
            for g in gaps {
                t += g;
                times.push(t);
            }
            if *times.last().unwrap() == 0 {
                times.push(1);
            }
            let text: String = times.iter().map(|t| format!("{t}\n")).collect();
            let mut link = TraceLink::new(parse_mahimahi(&text, "p").unwrap());
            let mut reference = Reference::new(&times, 20_000);
            let mut now = 0u64;
            for (gap, size, back_to_back) in reqs {
                if !back_to_back {
                    now += gap;
                }
                let a = link.departure(SimTime::from_nanos(now), size);
                let b = reference.departure(now, size);
                prop_assert_eq!(a.as_nanos(), b, "request of {} bytes at {} ns", size, now);
                now = b;
            }
        }
    }
}
