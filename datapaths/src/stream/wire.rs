//! The datagram encoding of the transport's [`Segment`]s (with their payload bytes) and
//! [`AckInfo`]s on real sockets: one segment or one ACK per UDP datagram, big-endian, with
//! a stream id so that one socket carries several flows.
//!
//! ```text
//! data: kind=1 | flags (1 retransmit, 2 fin, 4 syn) | stream u32 | seq u64 | len u32
//!       | ts u64 (sender clock, ns) | len payload bytes                      (26 + len bytes)
//! ack:  kind=2 | flags (1 ece, 2 syn) | stream u32 | n_sack u8 | segs u16 | ack u64
//!       | ts_echo u64 | n_sack × (start u64, end u64)                     (25 + 16·n bytes)
//! fin:  kind=3 | 0 | stream u32 | size u64                                      (14 bytes)
//! fin-ack: kind=4 | 0 | stream u32                                               (6 bytes)
//! ```
//!
//! FIN and FIN-ACK close a stream whose size was not known when its last segment left (a
//! duration-limited bulk flow, ended with [`transport::Sender::end_stream`]): the transport
//! marks only a segment sent after the size is known with its FIN flag, so the sender's
//! driver announces the size in a FIN datagram, repeated until the receiver's FIN-ACK.
//!
//! [`decode`] checks everything a peer (or anyone on the network) could get wrong: the kind,
//! unknown flag bits, the exact length, a SYN with data, more than [`MAX_SACK_BLOCKS`] SACK
//! blocks, a SACK block that ends before it starts, and sequence numbers that overflow. It
//! returns a [`DecodeError`] and never panics.

use netrt::Instant;
use thiserror::Error;
use transport::{AckInfo, SackBlock, Segment, MAX_SACK_BLOCKS};

/// Kind byte of a data datagram.
pub const KIND_DATA: u8 = 1;
/// Kind byte of an ACK datagram.
pub const KIND_ACK: u8 = 2;
/// Kind byte of a FIN datagram (the size of a stream ended late).
pub const KIND_FIN: u8 = 3;
/// Kind byte of a FIN-ACK datagram.
pub const KIND_FIN_ACK: u8 = 4;
/// Bytes of a FIN datagram.
pub const FIN_LEN: usize = 14;
/// Bytes of a FIN-ACK datagram.
pub const FIN_ACK_LEN: usize = 6;
/// Header bytes of a data datagram.
pub const DATA_HEADER: usize = 26;
/// Header bytes of an ACK datagram (without SACK blocks).
pub const ACK_HEADER: usize = 25;
/// The largest payload of one data datagram (the largest IPv4 UDP payload less the header).
pub const MAX_PAYLOAD: usize = crate::tokio_rt::MAX_UDP_PAYLOAD_V4 - DATA_HEADER;

const F_RTX: u8 = 1;
const F_FIN: u8 = 2;
const F_SYN: u8 = 4;
const F_ECE: u8 = 1;
const F_ACK_SYN: u8 = 2;

/// Why a datagram is not a valid segment or ACK.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Shorter than its header.
    #[error("datagram of {got} bytes is shorter than the {need}-byte header")]
    Short {
        /// Bytes the header needs.
        need: usize,
        /// Bytes received.
        got: usize,
    },
    /// The first byte is neither data nor ACK.
    #[error("unknown datagram kind {0}")]
    UnknownKind(u8),
    /// Flag bits this version does not define.
    #[error("unknown flag bits {0:#04x}")]
    BadFlags(u8),
    /// The length field disagrees with the datagram's size.
    #[error("datagram declares {declared} bytes but carries {actual}")]
    LengthMismatch {
        /// Bytes the header announces.
        declared: usize,
        /// Bytes present.
        actual: usize,
    },
    /// A SYN carries no data.
    #[error("a SYN carries {0} payload bytes")]
    SynWithData(u32),
    /// `seq + len` does not fit in 64 bits.
    #[error("sequence range overflows")]
    SeqOverflow,
    /// More SACK blocks than an ACK may carry.
    #[error("{0} SACK blocks (at most {MAX_SACK_BLOCKS})")]
    TooManySack(u8),
    /// A SACK block that ends before it starts.
    #[error("SACK block [{start}, {end}) is reversed")]
    BadSackBlock {
        /// Its start.
        start: u64,
        /// Its end.
        end: u64,
    },
}

/// One decoded datagram. Data borrows its payload from the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// A data segment (or SYN) of stream `stream`.
    Data {
        /// Stream id.
        stream: u32,
        /// The segment.
        seg: Segment,
        /// Its `seg.len` payload bytes.
        payload: &'a [u8],
    },
    /// An ACK for stream `stream`.
    Ack {
        /// Stream id.
        stream: u32,
        /// The acknowledgement.
        ack: AckInfo,
    },
    /// Stream `stream` ends after `size` bytes.
    Fin {
        /// Stream id.
        stream: u32,
        /// Its size.
        size: u64,
    },
    /// The receiver of stream `stream` got its FIN.
    FinAck {
        /// Stream id.
        stream: u32,
    },
}

/// Appends a FIN datagram to `out`.
pub fn encode_fin(out: &mut Vec<u8>, stream: u32, size: u64) {
    out.extend_from_slice(&[KIND_FIN, 0]);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(&size.to_be_bytes());
}

/// Appends a FIN-ACK datagram to `out`.
pub fn encode_fin_ack(out: &mut Vec<u8>, stream: u32) {
    out.extend_from_slice(&[KIND_FIN_ACK, 0]);
    out.extend_from_slice(&stream.to_be_bytes());
}

/// Appends the data datagram of `seg` with `payload` (which must be `seg.len` bytes; the
/// caller's invariant, checked in debug builds) to `out`.
pub fn encode_data(out: &mut Vec<u8>, stream: u32, seg: &Segment, payload: &[u8]) {
    debug_assert_eq!(payload.len(), seg.len as usize);
    let mut flags = 0;
    if seg.retransmit {
        flags |= F_RTX;
    }
    if seg.fin {
        flags |= F_FIN;
    }
    if seg.syn {
        flags |= F_SYN;
    }
    out.push(KIND_DATA);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(&seg.seq.to_be_bytes());
    out.extend_from_slice(&seg.len.to_be_bytes());
    out.extend_from_slice(&seg.ts.as_nanos().to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends the ACK datagram of `ack` to `out` (at most [`MAX_SACK_BLOCKS`] blocks).
pub fn encode_ack(out: &mut Vec<u8>, stream: u32, ack: &AckInfo) {
    let mut flags = 0;
    if ack.ece {
        flags |= F_ECE;
    }
    if ack.syn {
        flags |= F_ACK_SYN;
    }
    let n = usize::from(ack.n_sack).min(MAX_SACK_BLOCKS);
    out.push(KIND_ACK);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.push(n as u8);
    out.extend_from_slice(&ack.segs.to_be_bytes());
    out.extend_from_slice(&ack.ack.to_be_bytes());
    out.extend_from_slice(&ack.ts_echo.as_nanos().to_be_bytes());
    for b in &ack.sack[..n] {
        out.extend_from_slice(&b.start.to_be_bytes());
        out.extend_from_slice(&b.end.to_be_bytes());
    }
}

/// Reads big-endian integers from a slice whose length was checked before.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        let n = N.min(self.b.len());
        a[..n].copy_from_slice(&self.b[..n]);
        self.b = &self.b[n..];
        a
    }
    fn u8(&mut self) -> u8 {
        self.take::<1>()[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.take())
    }
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.take())
    }
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.take())
    }
}

/// Decodes one datagram. Never panics; see the module docs for what is checked.
pub fn decode(buf: &[u8]) -> Result<Datagram<'_>, DecodeError> {
    let kind = *buf.first().ok_or(DecodeError::Short { need: 1, got: 0 })?;
    match kind {
        KIND_DATA => decode_data(buf),
        KIND_ACK => decode_ack(buf),
        KIND_FIN | KIND_FIN_ACK => {
            let want = if kind == KIND_FIN {
                FIN_LEN
            } else {
                FIN_ACK_LEN
            };
            if buf.len() != want {
                return Err(DecodeError::LengthMismatch {
                    declared: want,
                    actual: buf.len(),
                });
            }
            let mut r = Reader { b: buf };
            r.u8();
            let flags = r.u8();
            if flags != 0 {
                return Err(DecodeError::BadFlags(flags));
            }
            let stream = r.u32();
            Ok(if kind == KIND_FIN {
                Datagram::Fin {
                    stream,
                    size: r.u64(),
                }
            } else {
                Datagram::FinAck { stream }
            })
        }
        k => Err(DecodeError::UnknownKind(k)),
    }
}

fn decode_data(buf: &[u8]) -> Result<Datagram<'_>, DecodeError> {
    if buf.len() < DATA_HEADER {
        return Err(DecodeError::Short {
            need: DATA_HEADER,
            got: buf.len(),
        });
    }
    let (head, payload) = buf.split_at(DATA_HEADER);
    let mut r = Reader { b: head };
    r.u8();
    let flags = r.u8();
    if flags & !(F_RTX | F_FIN | F_SYN) != 0 {
        return Err(DecodeError::BadFlags(flags));
    }
    let stream = r.u32();
    let seq = r.u64();
    let len = r.u32();
    let ts = r.u64();
    if len as usize != payload.len() {
        return Err(DecodeError::LengthMismatch {
            declared: DATA_HEADER.saturating_add(len as usize),
            actual: buf.len(),
        });
    }
    let syn = flags & F_SYN != 0;
    if syn && len != 0 {
        return Err(DecodeError::SynWithData(len));
    }
    seq.checked_add(u64::from(len))
        .ok_or(DecodeError::SeqOverflow)?;
    Ok(Datagram::Data {
        stream,
        seg: Segment {
            seq,
            len,
            ts: Instant::from_nanos(ts),
            retransmit: flags & F_RTX != 0,
            fin: flags & F_FIN != 0,
            syn,
        },
        payload,
    })
}

fn decode_ack(buf: &[u8]) -> Result<Datagram<'_>, DecodeError> {
    if buf.len() < ACK_HEADER {
        return Err(DecodeError::Short {
            need: ACK_HEADER,
            got: buf.len(),
        });
    }
    let mut r = Reader { b: buf };
    r.u8();
    let flags = r.u8();
    if flags & !(F_ECE | F_ACK_SYN) != 0 {
        return Err(DecodeError::BadFlags(flags));
    }
    let stream = r.u32();
    let n_sack = r.u8();
    if usize::from(n_sack) > MAX_SACK_BLOCKS {
        return Err(DecodeError::TooManySack(n_sack));
    }
    let declared = ACK_HEADER + 16 * usize::from(n_sack);
    if buf.len() != declared {
        return Err(DecodeError::LengthMismatch {
            declared,
            actual: buf.len(),
        });
    }
    let segs = r.u16();
    let ack = r.u64();
    let ts_echo = r.u64();
    let mut sack = [SackBlock::default(); MAX_SACK_BLOCKS];
    for b in sack.iter_mut().take(usize::from(n_sack)) {
        let start = r.u64();
        let end = r.u64();
        if end < start {
            return Err(DecodeError::BadSackBlock { start, end });
        }
        *b = SackBlock { start, end };
    }
    Ok(Datagram::Ack {
        stream,
        ack: AckInfo {
            ack,
            sack,
            n_sack,
            ece: flags & F_ECE != 0,
            ts_echo: Instant::from_nanos(ts_echo),
            segs,
            syn: flags & F_ACK_SYN != 0,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_and_ack_round_trip() {
        let seg = Segment {
            seq: 1 << 40,
            len: 3,
            ts: Instant::from_nanos(123_456_789),
            retransmit: true,
            fin: true,
            syn: false,
        };
        let mut out = Vec::new();
        encode_data(&mut out, 7, &seg, b"abc");
        assert_eq!(out.len(), DATA_HEADER + 3);
        assert_eq!(
            decode(&out),
            Ok(Datagram::Data {
                stream: 7,
                seg,
                payload: b"abc"
            })
        );
        let mut sack = [SackBlock::default(); MAX_SACK_BLOCKS];
        sack[0] = SackBlock { start: 10, end: 20 };
        sack[1] = SackBlock { start: 30, end: 30 };
        let ack = AckInfo {
            ack: 5,
            sack,
            n_sack: 2,
            ece: true,
            ts_echo: Instant::from_nanos(99),
            segs: 2,
            syn: false,
        };
        out.clear();
        encode_ack(&mut out, u32::MAX, &ack);
        assert_eq!(out.len(), ACK_HEADER + 32);
        assert_eq!(
            decode(&out),
            Ok(Datagram::Ack {
                stream: u32::MAX,
                ack
            })
        );
        out.clear();
        encode_fin(&mut out, 4, 1 << 33);
        assert_eq!(
            decode(&out),
            Ok(Datagram::Fin {
                stream: 4,
                size: 1 << 33
            })
        );
        out.clear();
        encode_fin_ack(&mut out, 4);
        assert_eq!(decode(&out), Ok(Datagram::FinAck { stream: 4 }));
        out.push(0);
        assert!(matches!(
            decode(&out),
            Err(DecodeError::LengthMismatch { .. })
        ));
    }

    #[test]
    fn malformed_datagrams_are_errors() {
        assert_eq!(decode(&[]), Err(DecodeError::Short { need: 1, got: 0 }));
        assert_eq!(decode(&[9]), Err(DecodeError::UnknownKind(9)));
        assert!(matches!(decode(&[1, 0]), Err(DecodeError::Short { .. })));
        let mut d = Vec::new();
        let seg = Segment {
            seq: 0,
            len: 2,
            ts: Instant::ZERO,
            retransmit: false,
            fin: false,
            syn: false,
        };
        encode_data(&mut d, 1, &seg, b"xy");
        let mut short = d.clone();
        short.pop();
        assert!(matches!(
            decode(&short),
            Err(DecodeError::LengthMismatch { .. })
        ));
        let mut flags = d.clone();
        flags[1] = 0x80;
        assert_eq!(decode(&flags), Err(DecodeError::BadFlags(0x80)));
        let mut syn = d.clone();
        syn[1] = F_SYN;
        assert_eq!(decode(&syn), Err(DecodeError::SynWithData(2)));
        let mut over = d;
        over[6..14].copy_from_slice(&u64::MAX.to_be_bytes());
        assert_eq!(decode(&over), Err(DecodeError::SeqOverflow));
        let mut a = vec![KIND_ACK, 0, 0, 0, 0, 1, 4];
        a.resize(ACK_HEADER + 64, 0);
        assert_eq!(decode(&a), Err(DecodeError::TooManySack(4)));
        let mut a = vec![KIND_ACK, 0, 0, 0, 0, 1, 1];
        a.resize(ACK_HEADER, 0);
        a.extend_from_slice(&5u64.to_be_bytes());
        a.extend_from_slice(&4u64.to_be_bytes());
        assert_eq!(
            decode(&a),
            Err(DecodeError::BadSackBlock { start: 5, end: 4 })
        );
    }
}
