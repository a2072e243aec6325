//! Integration tests of the network models, one binary (`cargo test -p netmodels --test it`).

mod cc_seam;
mod middlebox;
mod network;
mod queues;
mod runtime;
