//! Sans-IO reliable byte-stream transport. (Module map filled in as modules land.)

pub mod wire;
pub use wire::{AckInfo, SackBlock, Segment, MAX_SACK_BLOCKS};
