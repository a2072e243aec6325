//! What the transport puts in packets: data segments and acknowledgements. The network model
//! carries these inside its packets; sizes on the wire are accounted by the network model.

use netrt::Instant;

/// The most SACK blocks an ACK carries (as with TCP timestamps enabled).
pub const MAX_SACK_BLOCKS: usize = 3;

/// A data segment: `len` payload bytes starting at byte `seq` of the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Stream offset of the first payload byte.
    pub seq: u64,
    /// Payload bytes.
    pub len: u32,
    /// The sender's clock when this copy was sent (echoed by the receiver, like TCP timestamps).
    pub ts: Instant,
    /// True for a retransmitted copy.
    pub retransmit: bool,
    /// True when this segment carries the last byte of the stream.
    pub fin: bool,
}

/// A received range `[start, end)` above the cumulative ACK point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct SackBlock {
    /// First byte of the range.
    pub start: u64,
    /// One past the last byte of the range.
    pub end: u64,
}

/// An acknowledgement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckInfo {
    /// Cumulative ACK: the next byte the receiver expects.
    pub ack: u64,
    /// Up to [`MAX_SACK_BLOCKS`] SACK blocks, most recent first; unused entries are empty.
    pub sack: [SackBlock; MAX_SACK_BLOCKS],
    /// Number of valid entries in `sack`.
    pub n_sack: u8,
    /// ECN echo: the segment(s) this ACK covers arrived CE-marked.
    pub ece: bool,
    /// Timestamp echo of the segment that triggered this ACK.
    pub ts_echo: Instant,
    /// Number of data segments this ACK acknowledges at the receiver (1, or more when delayed).
    pub segs: u16,
}
