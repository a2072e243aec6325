//! HTTP/2-style and TCP-style framing: stand-ins for the `encrypt |> http2 |> tcp` stack of
//! the HotNets paper (§6), where a SmartNIC offers encryption and TCP and reordering the
//! stack to `http2 |> encrypt |> tcp` saves two PCIe crossings per message (the
//! [`NicReorder`](crate::opt::NicReorder) pass; [`chunnel::opt::price_pcie`] prices it).
//!
//! They are *models*: framing only, no streams, flow control or reliability. Each carries
//! `(A, Vec<u8>)` over `(A, Vec<u8>)` and has a host and a SmartNIC implementation with the
//! same wire format ([`Compat::Exact`] on the label, so either end may run either; the
//! SmartNIC one has priority 10, so negotiation prefers it where deployed). Both run the same
//! code here; what differs is where a deployment places them, which is what the PCIe pricing
//! looks at.
//!
//! Wire formats (a malformed frame is an [`Error::Decode`] from `recv`, never a panic):
//! - `http2` (label `http2-frame/1`): a 9-byte HTTP/2 frame header — payload length (24 bits,
//!   big-endian), type `0x0` (DATA), flags `0x1` (END_STREAM), stream id 1 (32 bits,
//!   big-endian) — then the payload (at most 2^24 − 1 bytes).
//! - `tcp` (label `tcp-frame/1`): a 4-byte big-endian sequence number (per connection, from
//!   0, wrapping), a 4-byte big-endian payload length, then the payload.

use std::cell::Cell;

use chunnel::{Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};

/// The HTTP/2 framing Chunnel type name.
pub const HTTP2: &str = "http2";
/// The TCP framing Chunnel type name.
pub const TCP: &str = "tcp";

const H2_HEADER: usize = 9;
const H2_MAX: usize = (1 << 24) - 1;
const TCP_HEADER: usize = 8;

/// Where an implementation runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// On the host CPU.
    Host,
    /// On a SmartNIC.
    SmartNic,
}

impl Placement {
    fn implementation(self) -> &'static str {
        match self {
            Placement::Host => "host",
            Placement::SmartNic => "smartnic",
        }
    }

    fn priority(self) -> i32 {
        match self {
            Placement::Host => 0,
            Placement::SmartNic => 10,
        }
    }
}

/// HTTP/2-style framing (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Http2Chunnel {
    placement: Placement,
}

/// TCP-style framing (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpChunnel {
    placement: Placement,
}

macro_rules! placed {
    ($t:ident) => {
        impl $t {
            /// The host implementation.
            pub fn host() -> Self {
                $t {
                    placement: Placement::Host,
                }
            }

            /// The SmartNIC implementation.
            pub fn smartnic() -> Self {
                $t {
                    placement: Placement::SmartNic,
                }
            }

            /// Where it runs.
            pub fn placement(&self) -> Placement {
                self.placement
            }
        }
    };
}
placed!(Http2Chunnel);
placed!(TcpChunnel);

impl Negotiate for Http2Chunnel {
    fn capability(&self) -> Offer {
        Offer::new(HTTP2, self.placement.implementation(), Compat::Exact)
            .label("http2-frame/1")
            .priority(self.placement.priority())
    }
}

impl Negotiate for TcpChunnel {
    fn capability(&self) -> Offer {
        Offer::new(TCP, self.placement.implementation(), Compat::Exact)
            .label("tcp-frame/1")
            .priority(self.placement.priority())
    }
}

impl<A, InC> Chunnel<InC> for Http2Chunnel
where
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
{
    type Connection = Http2Conn<InC>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        Ok(Http2Conn { inner })
    }
}

impl<A, InC> Chunnel<InC> for TcpChunnel
where
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
{
    type Connection = TcpConn<InC>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        Ok(TcpConn {
            inner,
            seq: Cell::new(0),
        })
    }
}

/// An HTTP/2-framed connection.
pub struct Http2Conn<C> {
    inner: C,
}

/// A TCP-framed connection.
pub struct TcpConn<C> {
    inner: C,
    seq: Cell<u32>,
}

fn h2_frame(payload: &[u8]) -> Result<Vec<u8>, Error> {
    if payload.len() > H2_MAX {
        return Err(Error::layer(HTTP2, "payload exceeds a frame"));
    }
    let mut f = Vec::with_capacity(H2_HEADER + payload.len());
    f.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
    f.extend_from_slice(&[0x0, 0x1]);
    f.extend_from_slice(&1u32.to_be_bytes());
    f.extend_from_slice(payload);
    Ok(f)
}

fn h2_unframe(mut f: Vec<u8>) -> Result<Vec<u8>, Error> {
    let Some(h) = f.get(..H2_HEADER) else {
        return Err(Error::decode(HTTP2, "short frame"));
    };
    let len = u32::from_be_bytes([0, h[0], h[1], h[2]]) as usize;
    if h[3] != 0 || h[4] != 1 || h[5..9] != 1u32.to_be_bytes() {
        return Err(Error::decode(HTTP2, "not a DATA frame of stream 1"));
    }
    if len != f.len() - H2_HEADER {
        return Err(Error::decode(HTTP2, "length mismatch"));
    }
    f.drain(..H2_HEADER);
    Ok(f)
}

impl<C> TcpConn<C> {
    fn frame(&self, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let len = u32::try_from(payload.len())
            .map_err(|_| Error::layer(TCP, "payload exceeds a segment"))?;
        let s = self.seq.get();
        self.seq.set(s.wrapping_add(1));
        let mut f = Vec::with_capacity(TCP_HEADER + payload.len());
        f.extend_from_slice(&s.to_be_bytes());
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(payload);
        Ok(f)
    }
}

fn tcp_unframe(mut f: Vec<u8>) -> Result<Vec<u8>, Error> {
    let Some(h) = f.get(..TCP_HEADER) else {
        return Err(Error::decode(TCP, "short segment"));
    };
    let len = u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize;
    if len != f.len() - TCP_HEADER {
        return Err(Error::decode(TCP, "length mismatch"));
    }
    f.drain(..TCP_HEADER);
    Ok(f)
}

impl<C, A> ChunnelConnection for Http2Conn<C>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
{
    type Data = (A, Vec<u8>);

    async fn send(&self, (a, p): (A, Vec<u8>)) -> Result<(), Error> {
        self.inner.send((a, h2_frame(&p)?)).await
    }

    async fn recv(&self) -> Result<(A, Vec<u8>), Error> {
        let (a, f) = self.inner.recv().await?;
        Ok((a, h2_unframe(f)?))
    }
}

impl<C, A> ChunnelConnection for TcpConn<C>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
{
    type Data = (A, Vec<u8>);

    async fn send(&self, (a, p): (A, Vec<u8>)) -> Result<(), Error> {
        let f = self.frame(&p)?;
        self.inner.send((a, f)).await
    }

    async fn recv(&self) -> Result<(A, Vec<u8>), Error> {
        let (a, f) = self.inner.recv().await?;
        Ok((a, tcp_unframe(f)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_garbage_is_a_decode_error() {
        let p = b"hello".to_vec();
        assert_eq!(h2_unframe(h2_frame(&p).unwrap()).unwrap(), p);
        assert_eq!(h2_frame(&p).unwrap()[..3], [0, 0, 5]);
        for bad in [vec![], vec![0; 8], vec![0, 0, 9, 0, 1, 0, 0, 0, 1]] {
            assert!(matches!(h2_unframe(bad), Err(Error::Decode { .. })));
        }
        let c = TcpConn {
            inner: (),
            seq: Cell::new(u32::MAX),
        };
        let f = c.frame(&p).unwrap();
        assert_eq!(&f[..4], &u32::MAX.to_be_bytes());
        assert_eq!(c.seq.get(), 0);
        assert_eq!(tcp_unframe(f).unwrap(), p);
        for bad in [vec![], vec![0; 7], vec![0, 0, 0, 0, 0, 0, 0, 2, 1]] {
            assert!(matches!(tcp_unframe(bad), Err(Error::Decode { .. })));
        }
    }
}
