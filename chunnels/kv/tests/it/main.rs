//! Integration tests of the sharded key-value store.

mod app;
mod experiment;
mod negotiation;
mod portability;
