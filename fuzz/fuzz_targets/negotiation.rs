//! Chunnel negotiation bytes from the network: parsing a datagram's framing, reassembling
//! fragments and decoding a message never panic, and whatever decodes re-encodes to a message
//! that decodes to the same value.
#![no_main]

use chunnel::wire::{decode, encode, parse, Frame, Reassembler};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(Frame::Neg {
        msg_id,
        index,
        count,
        payload,
    }) = parse(data)
    {
        let mut r = Reassembler::new(2);
        let _ = r.push(msg_id, index, count, payload);
    }
    if let Ok(m) = decode(data) {
        let frags = encode(&m, 1);
        let mut r = Reassembler::default();
        let mut body = None;
        for f in &frags {
            if let Ok(Frame::Neg {
                msg_id,
                index,
                count,
                payload,
            }) = parse(f)
            {
                body = r.push(msg_id, index, count, payload).expect("own fragments reassemble");
            }
        }
        let body = body.expect("a whole message");
        assert_eq!(decode(&body).expect("re-decodes"), m);
    }
});
