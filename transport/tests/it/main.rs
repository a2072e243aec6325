//! Integration tests of the transport, one binary: loss recovery with scripted drops, receiver
//! ACK behaviour, congestion-controller window evolution, pacing, signals, and property tests.

mod util;

mod cwr;
mod handshake;
mod hystart;
mod pacing;
mod props;
mod prr;
mod receiver;
mod recovery;
mod signals;
