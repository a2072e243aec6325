//! The negotiation decoder on hostile input: truncated, mutated and random bytes and huge
//! length fields give errors, never panics, and never an allocation larger than the message
//! justifies (measured by a counting allocator).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

use chunnel::wire::{decode, encode, parse, Frame, NegMsg, Reassembler, ZeroRtt, ZeroRttOutcome};
use chunnel::{Alternative, Compat, Offer};
use proptest::prelude::*;

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);
thread_local! {
    static WATCH: Cell<bool> = const { Cell::new(false) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        if WATCH.try_with(|w| w.get()).unwrap_or(false) {
            LARGEST.fetch_max(l.size(), Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        if WATCH.try_with(|w| w.get()).unwrap_or(false) {
            LARGEST.fetch_max(new, Ordering::Relaxed);
        }
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Decodes `body` and returns the largest single allocation it made.
fn decode_watched(body: &[u8]) -> (Result<NegMsg, chunnel::wire::WireError>, usize) {
    // Allocations are per thread; tests run on several threads, so reset and read under the
    // same flag on this thread only. The global maximum may include another thread's watched
    // decode, which is bounded the same way, so the bound below stays valid.
    LARGEST.store(0, Ordering::Relaxed);
    WATCH.with(|w| w.set(true));
    let r = decode(body);
    WATCH.with(|w| w.set(false));
    (r, LARGEST.load(Ordering::Relaxed))
}

/// What any decode may allocate: proportional to its input, plus constant overhead (error
/// strings). 16× covers bincode's in-memory sizes of strings and vectors of offers.
fn bound(len: usize) -> usize {
    16 * len + 4096
}

fn sample_msg(n: usize) -> NegMsg {
    let layers: Vec<Offer> = (0..n)
        .map(|i| Offer::new(&format!("c{i}"), "host", Compat::Provides).label("lbl"))
        .collect();
    match n % 3 {
        0 => NegMsg::Hello {
            epoch: 9,
            alternatives: vec![Alternative {
                layers: layers.clone(),
                penalty: 1,
            }],
            zero_rtt: Some(ZeroRtt {
                client_alt: 0,
                server: layers,
            }),
        },
        1 => NegMsg::Picked {
            epoch: 9,
            client_alt: 0,
            server: layers,
            fallbacks: vec!["why".into()],
            zero_rtt: ZeroRttOutcome::Rejected,
        },
        _ => NegMsg::Refused {
            epoch: 9,
            reason: "no".into(),
        },
    }
}

fn body_of(m: &NegMsg) -> Vec<u8> {
    let mut r = Reassembler::default();
    let mut out = None;
    for f in encode(m, 1) {
        if let Ok(Frame::Neg {
            msg_id,
            index,
            count,
            payload,
        }) = parse(&f)
        {
            out = r.push(msg_id, index, count, payload).unwrap();
        }
    }
    out.unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_bytes_never_panic_and_allocate_in_proportion(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
        let (_, largest) = decode_watched(&bytes);
        prop_assert!(largest <= bound(bytes.len()), "{largest} bytes for a {}-byte message", bytes.len());
    }

    #[test]
    fn mutated_messages_never_panic(
        n in 0usize..12,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        huge in any::<bool>(),
    ) {
        let mut body = body_of(&sample_msg(n));
        for (i, b) in flips {
            let i = i.index(body.len());
            body[i] = b;
        }
        if huge && body.len() >= 16 {
            // Overwrite a likely length field with a huge value.
            let at = cut.index(body.len() - 8);
            body[at..at + 8].copy_from_slice(&(u64::MAX / 3).to_le_bytes());
        } else {
            body.truncate(cut.index(body.len() + 1));
        }
        let (_, largest) = decode_watched(&body);
        prop_assert!(largest <= bound(body.len()), "{largest} bytes for a {}-byte message", body.len());
    }

    #[test]
    fn valid_messages_round_trip(n in 0usize..40) {
        let m = sample_msg(n);
        prop_assert_eq!(decode(&body_of(&m)).unwrap(), m);
    }

    #[test]
    fn reassembly_of_hostile_fragments_never_panics(
        frags in prop::collection::vec((0u32..3, any::<u16>(), any::<u16>(), prop::collection::vec(any::<u8>(), 0..64)), 0..64)
    ) {
        let mut r = Reassembler::new(2);
        for (id, idx, count, payload) in frags {
            let _ = r.push(id, idx, count, &payload);
        }
    }
}

#[test]
fn a_length_field_of_2_to_the_60_fails_fast() {
    let mut body = vec![0u8, 0, 0, 0];
    body.extend_from_slice(&7u32.to_le_bytes());
    body.extend_from_slice(&(1u64 << 60).to_le_bytes());
    let (r, largest) = decode_watched(&body);
    assert!(r.is_err());
    assert!(largest <= bound(body.len()), "{largest}");
}
