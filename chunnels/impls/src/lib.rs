//! Bertha Chunnel implementations: the host fallbacks of the Chunnel types of issue 12, over
//! the traits of the [`chunnel`] crate.
#![warn(missing_docs)]

pub mod at_most_once;
pub mod batch;
pub mod chan;
pub mod encrypt;
pub mod ordered;
pub mod reliable;
pub mod serialize;
pub mod shard;
mod util;
