//! One application, two worlds: a client and a server negotiate the full stack
//! `stack![select!(bincode, postcard), encrypt, ordered, reliable]` with `chunnel`'s 1-RTT
//! negotiation and exchange messages over it, on the simulator (virtual time, lossy link)
//! and on real UDP loopback on tokio, with every socket dropping every 7th datagram it
//! sends, and on real Unix datagram sockets. All pass the same checks: every message is
//! delivered exactly once and in order, both ways.

mod multicast;
mod opt;
mod stack;
mod unix;
