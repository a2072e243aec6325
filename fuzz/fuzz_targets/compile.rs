//! The datapath-language compiler on arbitrary bytes: it must return, never panic, and any
//! program it accepts must fit libccp's limits.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = ccp::lang::compile_bytes(data, &[]) {
        assert!(c.program.instrs.len() <= ccp::lang::MAX_INSTRS);
        assert!(c.program.expressions.len() <= ccp::lang::MAX_CLAUSES);
        let body = c.program.encode_body();
        assert_eq!(body.len(), c.program.encoded_body_len());
    }
});
