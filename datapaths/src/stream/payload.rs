//! Application bytes for the stream workloads: a deterministic pattern (so a sender can
//! produce any range again for a retransmission without buffering it), an optional 16-byte
//! header in front (the request/response size exchange), a streaming digest (64-bit FNV-1a)
//! that both ends compute over the in-order bytes, and the receiver's reassembly of
//! out-of-order payloads.

use std::collections::BTreeMap;

/// Bytes of a request header: `response bytes u64 | request id u64`, big-endian.
pub const HEADER_LEN: usize = 16;

fn mix(mut z: u64) -> u64 {
    // splitmix64's finaliser.
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Where a stream's bytes come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// The pattern of `seed`: byte `i` is byte `i % 8` of `mix(seed ^ (i / 8))`.
    Pattern {
        /// Pattern seed.
        seed: u64,
    },
    /// A 16-byte header, then the pattern of `seed` (from offset 16 on).
    Header {
        /// The first 16 bytes.
        head: [u8; HEADER_LEN],
        /// Pattern seed.
        seed: u64,
    },
}

impl Source {
    /// A request header announcing `resp_bytes` for request `id`, followed by the pattern.
    pub fn request(resp_bytes: u64, id: u64) -> Source {
        let mut head = [0u8; HEADER_LEN];
        head[..8].copy_from_slice(&resp_bytes.to_be_bytes());
        head[8..].copy_from_slice(&id.to_be_bytes());
        Source::Header { head, seed: id }
    }

    /// Writes the bytes at stream offsets `offset .. offset + out.len()` into `out`.
    pub fn fill(&self, offset: u64, out: &mut [u8]) {
        let (seed, head) = match self {
            Source::Pattern { seed } => (*seed, None),
            Source::Header { head, seed } => (*seed, Some(head)),
        };
        let mut i = 0usize;
        while i < out.len() {
            let pos = offset + i as u64;
            if let Some(h) = head {
                if pos < HEADER_LEN as u64 {
                    out[i] = h[pos as usize];
                    i += 1;
                    continue;
                }
            }
            let word = mix(seed ^ (pos / 8)).to_le_bytes();
            let start = (pos % 8) as usize;
            let n = (8 - start).min(out.len() - i);
            out[i..i + n].copy_from_slice(&word[start..start + n]);
            i += n;
        }
    }
}

/// 64-bit FNV-1a over a byte stream, fed in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Digest(u64);

impl Default for Digest {
    fn default() -> Self {
        Digest(0xcbf2_9ce4_8422_2325)
    }
}

impl Digest {
    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.0 = h;
    }
    /// The digest so far.
    pub fn value(&self) -> u64 {
        self.0
    }
}

/// The digest of `len` bytes of `src` (what a receiver of the whole stream must compute).
pub fn digest_of(src: &Source, len: u64) -> u64 {
    let mut d = Digest::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut off = 0u64;
    while off < len {
        let n = (len - off).min(buf.len() as u64) as usize;
        src.fill(off, &mut buf[..n]);
        d.update(&buf[..n]);
        off += n as u64;
    }
    d.value()
}

/// The receiver's application side: reassembles payloads into the in-order stream, digests it
/// (when verifying) and keeps its first [`HEADER_LEN`] bytes.
#[derive(Debug, Default)]
pub struct Reassembly {
    /// Bytes delivered in order.
    delivered: u64,
    ooo: BTreeMap<u64, Vec<u8>>,
    digest: Option<Digest>,
    head: Vec<u8>,
}

impl Reassembly {
    /// A stream at offset 0; `verify` computes the digest.
    pub fn new(verify: bool) -> Self {
        Reassembly {
            digest: verify.then(Digest::default),
            ..Default::default()
        }
    }

    /// Takes in the payload of the segment at `seq`. Returns bytes newly delivered in order.
    pub fn on_payload(&mut self, seq: u64, payload: &[u8]) -> u64 {
        let end = seq.saturating_add(payload.len() as u64);
        if end <= self.delivered {
            return 0;
        }
        if seq > self.delivered {
            self.ooo.entry(seq).or_insert_with(|| payload.to_vec());
            return 0;
        }
        let before = self.delivered;
        let skip = (self.delivered - seq) as usize;
        self.deliver(&payload[skip..]);
        while let Some(entry) = self.ooo.first_entry() {
            let s = *entry.key();
            if s > self.delivered {
                break;
            }
            let p = entry.remove();
            let e = s + p.len() as u64;
            if e > self.delivered {
                let skip = (self.delivered - s) as usize;
                self.deliver(&p[skip..]);
            }
        }
        self.delivered - before
    }

    fn deliver(&mut self, bytes: &[u8]) {
        if self.head.len() < HEADER_LEN {
            let n = (HEADER_LEN - self.head.len()).min(bytes.len());
            self.head.extend_from_slice(&bytes[..n]);
        }
        if let Some(d) = &mut self.digest {
            d.update(bytes);
        }
        self.delivered += bytes.len() as u64;
    }

    /// Bytes delivered in order.
    pub fn delivered(&self) -> u64 {
        self.delivered
    }
    /// The digest of the delivered bytes (`None` when not verifying).
    pub fn digest(&self) -> Option<u64> {
        self.digest.map(|d| d.value())
    }
    /// The request header, once 16 bytes have arrived: (response bytes, request id).
    pub fn request_header(&self) -> Option<(u64, u64)> {
        let h: [u8; HEADER_LEN] = self.head.get(..HEADER_LEN)?.try_into().ok()?;
        let mut a = [0u8; 8];
        a.copy_from_slice(&h[..8]);
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[8..]);
        Some((u64::from_be_bytes(a), u64::from_be_bytes(b)))
    }
    /// Payload bytes buffered out of order.
    pub fn buffered(&self) -> usize {
        self.ooo.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_is_offset_independent() {
        let s = Source::request(1234, 9);
        let mut whole = vec![0u8; 100];
        s.fill(0, &mut whole);
        for start in 0..30 {
            let mut part = vec![0u8; 33];
            s.fill(start, &mut part);
            assert_eq!(&part[..], &whole[start as usize..start as usize + 33]);
        }
    }

    #[test]
    fn reassembly_out_of_order_gives_the_in_order_digest() {
        let s = Source::request(77, 5);
        let total = 10_000u64;
        let mut r = Reassembly::new(true);
        let mut segs: Vec<u64> = (0..total).step_by(1000).collect();
        segs.reverse();
        segs.push(3000); // a duplicate
        for seq in segs {
            let mut p = vec![0u8; 1000];
            s.fill(seq, &mut p);
            r.on_payload(seq, &p);
        }
        assert_eq!(r.delivered(), total);
        assert_eq!(r.digest(), Some(digest_of(&s, total)));
        assert_eq!(r.request_header(), Some((77, 5)));
        assert_eq!(r.buffered(), 0);
    }
}
