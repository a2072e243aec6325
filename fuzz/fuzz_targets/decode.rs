//! Decoding arbitrary bytes never panics, never claims more bytes than given, and whatever
//! decodes re-encodes to a message that decodes to the same value.
#![no_main]

use ccp::wire::Msg;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok((m, used)) = Msg::decode(rest) {
        assert!(used <= rest.len() && used >= ccp::wire::HEADER_LEN);
        let again = m.encode().expect("decoded messages re-encode");
        assert_eq!(Msg::decode(&again).expect("re-decodes").0, m);
        rest = &rest[used..];
    }
});
