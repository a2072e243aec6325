//! Integration tests of the scenarios crate, one binary (`cargo test -p scenarios --test it`):
//! the `testbed` CLI as a user runs it, fuzzed scenario input, and the shipped scenarios end to
//! end, and the generated scenario-file reference.

mod ccp;
mod cli;
mod emulate;
mod fuzz_input;
mod kv_portability;
mod paths;
mod reference;
mod reproduce;
mod reproduce_bertha;
mod scenarios;
mod sweep;
mod sweep_slurm;
