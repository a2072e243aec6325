//! What the transport puts in packets: data segments and acknowledgements. The network model
//! carries these inside its packets; sizes on the wire are accounted by the network model.

use netrt::Instant;

/// The most SACK blocks an ACK carries (as with TCP timestamps enabled).
pub const MAX_SACK_BLOCKS: usize = 3;

/// A data segment: `len` payload bytes starting at byte `seq` of the stream, or (with `syn`) the
/// zero-length connection request.
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
    /// True for a connection request (SYN): `len` is 0 and `seq` the first byte of the stream
    /// (the SYN takes no sequence space here). Sent only with
    /// [`crate::TransportConfig::handshake`]; `retransmit` marks a retransmitted SYN.
    pub syn: bool,
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
    /// Number of data segments this ACK acknowledges at the receiver (1, or more when delayed;
    /// 0 for a SYN-ACK).
    pub segs: u16,
    /// True for the answer to a SYN (SYN-ACK). `ts_echo` echoes the SYN's timestamp; `ack`, the
    /// SACK blocks and `ece` are the receiver's current state (nothing before the first data).
    pub syn: bool,
}
