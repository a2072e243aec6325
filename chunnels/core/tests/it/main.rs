//! Integration tests of the `chunnel` core: negotiation end to end on the simulator and on
//! real UDP loopback (the same application functions), and property tests of negotiation
//! and of the wire decoder.

mod common;
mod negotiate;
mod props;
mod rendezvous;
mod wire;
