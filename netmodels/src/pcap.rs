//! Capture of simulated traffic into pcap files that Wireshark opens.
//!
//! Each packet is written as Ethernet + IPv4 + TCP (transport segments and ACKs) or UDP
//! (datagrams), with nanosecond timestamps from virtual time. Only headers (and at most
//! [`MAX_PAYLOAD_CAPTURE`] bytes of datagram payload) are captured; the original length is
//! the packet's full size, so files stay small and Wireshark shows true sizes.
//!
//! Addresses: node `n` is `10.((n >> 8) & 255).(n & 255).1` with MAC `02:00:00:00:hi:lo`.
//! Transport flows use port `10000 + flow % 50000` at the data sender and [`SERVER_PORT`] at
//! the receiver. TCP sequence numbers are the low 32 bits of stream offsets.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::PcapHeader;
use pcap_file::{DataLink, Endianness, TsResolution};
use sim_core::SimTime;

use crate::packet::{Ecn, NodeId, Packet, Payload};
use crate::topology::flow_port;

/// Most datagram payload bytes captured per packet.
pub const MAX_PAYLOAD_CAPTURE: usize = 64;
pub use crate::topology::SERVER_PORT;

const ETH_LEN: usize = 14;
const IP_LEN: usize = 20;
const TCP_LEN: usize = 20;
const UDP_LEN: usize = 8;

/// Errors writing a capture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PcapError {
    /// The file could not be created.
    #[error("{path}: cannot create pcap file: {source}")]
    Create {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// Writing the file header failed.
    #[error("writing pcap header: {0}")]
    Header(#[from] pcap_file::PcapError),
    /// Writing or flushing failed.
    #[error("writing pcap: {0}")]
    Write(#[from] std::io::Error),
}

/// A pcap writer for one simulated link direction.
pub struct PcapTap<W: Write = BufWriter<File>> {
    w: W,
    buf: Vec<u8>,
    packets: u64,
}

impl std::fmt::Debug for PcapTap<BufWriter<File>> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcapTap")
            .field("packets", &self.packets)
            .finish()
    }
}

impl PcapTap<BufWriter<File>> {
    /// Creates (truncating) the file at `path` and writes the pcap header.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, PcapError> {
        let path = path.as_ref();
        let err = |source| PcapError::Create {
            path: path.display().to_string(),
            source,
        };
        // Never write through a symlink planted where a capture file goes.
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "is a symbolic link; refusing to write through it",
            )));
        }
        let f = File::create(path).map_err(err)?;
        PcapTap::new(BufWriter::new(f))
    }
}

/// The IPv4 address of node `n`, as octets (see [`crate::topology::node_ip`]).
pub fn node_ip(n: NodeId) -> [u8; 4] {
    crate::topology::node_ip(n).octets()
}

fn node_mac(n: NodeId) -> [u8; 6] {
    let b = n.to_be_bytes();
    [0x02, 0, b[0], b[1], b[2], b[3]]
}

/// The RFC 1071 Internet checksum of `data`.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let word = u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

impl<W: Write> PcapTap<W> {
    /// Writes the pcap header (Ethernet, nanosecond timestamps) to `w`.
    pub fn new(mut w: W) -> Result<Self, PcapError> {
        let header = PcapHeader {
            version_major: 2,
            version_minor: 4,
            ts_correction: 0,
            ts_accuracy: 0,
            snaplen: 65_535,
            datalink: DataLink::ETHERNET,
            ts_resolution: TsResolution::NanoSecond,
            endianness: Endianness::Little,
        };
        header.write_to(&mut w)?;
        Ok(PcapTap {
            w,
            buf: Vec::with_capacity(ETH_LEN + IP_LEN + TCP_LEN + MAX_PAYLOAD_CAPTURE),
            packets: 0,
        })
    }

    /// Packets recorded so far.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// Records `pkt` as seen on the wire at `now`.
    pub fn record(&mut self, now: SimTime, pkt: &Packet) -> Result<(), PcapError> {
        let b = &mut self.buf;
        b.clear();
        // Ethernet.
        b.extend_from_slice(&node_mac(pkt.dst));
        b.extend_from_slice(&node_mac(pkt.src));
        b.extend_from_slice(&0x0800u16.to_be_bytes());
        if let Payload::Raw(raw) = &pkt.payload {
            // A real IP packet (from the emulator): captured as it is.
            b.extend_from_slice(&raw[..raw.len().min(65_535)]);
            let orig_len = (ETH_LEN + pkt.size as usize).max(b.len()) as u32;
            return self.write_record(now, orig_len);
        }
        // Transport header and captured payload, built after the IP header.
        let (proto, l4_len, snippet): (u8, usize, &[u8]) = match &pkt.payload {
            Payload::Datagram(d) => {
                let n = d.payload.len().min(MAX_PAYLOAD_CAPTURE);
                (17, UDP_LEN, &d.payload[..n])
            }
            _ => (6, TCP_LEN, &[]),
        };
        let ip_total = (pkt.size as usize).max(IP_LEN + l4_len).min(65_535);
        let ip_start = b.len();
        let ecn_bits = match pkt.ecn {
            Ecn::NotEct => 0u8,
            Ecn::Ect => 0b10,
            Ecn::Ce => 0b11,
        };
        b.push(0x45);
        b.push(ecn_bits);
        b.extend_from_slice(&(ip_total as u16).to_be_bytes());
        b.extend_from_slice(&(pkt.id as u16).to_be_bytes());
        b.extend_from_slice(&0x4000u16.to_be_bytes()); // DF, offset 0
        b.push(64);
        b.push(proto);
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&node_ip(pkt.src));
        b.extend_from_slice(&node_ip(pkt.dst));
        let csum = internet_checksum(&b[ip_start..ip_start + IP_LEN]);
        b[ip_start + 10..ip_start + 12].copy_from_slice(&csum.to_be_bytes());
        match &pkt.payload {
            Payload::Datagram(d) => {
                let udp_len = (ip_total - IP_LEN) as u16;
                b.extend_from_slice(&d.src_port.to_be_bytes());
                b.extend_from_slice(&d.dst_port.to_be_bytes());
                b.extend_from_slice(&udp_len.to_be_bytes());
                b.extend_from_slice(&[0, 0]); // checksum not computed (allowed in IPv4)
            }
            Payload::Data(s) => {
                // A SYN carries no ACK; every later segment does.
                let mut flags = if s.syn { 0x02u8 } else { 0x10u8 };
                if s.fin {
                    flags |= 0x01;
                }
                push_tcp(b, flow_port(pkt.flow), SERVER_PORT, s.seq as u32, 0, flags);
            }
            Payload::Ack(a) => {
                let mut flags = if a.syn { 0x12u8 } else { 0x10u8 }; // SYN-ACK or ACK
                if a.ece {
                    flags |= 0x40;
                }
                push_tcp(b, SERVER_PORT, flow_port(pkt.flow), 0, a.ack as u32, flags);
            }
            Payload::Raw(_) => {}
        }
        b.extend_from_slice(snippet);
        let orig_len = (ETH_LEN + ip_total).max(b.len()) as u32;
        self.write_record(now, orig_len)
    }

    fn write_record(&mut self, now: SimTime, orig_len: u32) -> Result<(), PcapError> {
        let b = &self.buf;
        let ts = Duration::from_nanos(now.as_nanos());
        let secs = u32::try_from(ts.as_secs()).unwrap_or(u32::MAX);
        let mut rec = [0u8; 16];
        rec[0..4].copy_from_slice(&secs.to_le_bytes());
        rec[4..8].copy_from_slice(&ts.subsec_nanos().to_le_bytes());
        rec[8..12].copy_from_slice(&(b.len() as u32).to_le_bytes());
        rec[12..16].copy_from_slice(&orig_len.to_le_bytes());
        self.w.write_all(&rec)?;
        self.w.write_all(b)?;
        self.packets += 1;
        Ok(())
    }

    /// Flushes buffered output.
    pub fn flush(&mut self) -> Result<(), PcapError> {
        self.w.flush()?;
        Ok(())
    }

    /// Flushes and returns the writer.
    pub fn into_inner(mut self) -> Result<W, PcapError> {
        self.w.flush()?;
        Ok(self.w)
    }
}

fn push_tcp(b: &mut Vec<u8>, sport: u16, dport: u16, seq: u32, ack: u32, flags: u8) {
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&seq.to_be_bytes());
    b.extend_from_slice(&ack.to_be_bytes());
    b.push(0x50); // data offset 5 words
    b.push(flags);
    b.extend_from_slice(&65_535u16.to_be_bytes());
    b.extend_from_slice(&[0, 0, 0, 0]); // checksum (payload not captured), urgent pointer
}

#[cfg(test)]
mod tests;
