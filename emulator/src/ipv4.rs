//! The little IPv4 the emulator reads from packets: version, lengths, addresses, ECN, and a
//! flow key from the 5-tuple (for ECMP). Everything is bounds-checked: a malformed packet is
//! an `Err`, never a panic. Also rewriting the ECN field to CE when a queue marked a packet.

use std::net::Ipv4Addr;

use netmodels::Ecn;

/// What the emulator needs from an IPv4 header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv4Info {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// The ECN codepoint.
    pub ecn: Ecn,
    /// A hash of protocol, addresses and (for TCP/UDP) ports.
    pub flow: u32,
}

/// Why a packet is not a usable IPv4 packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Not IP version 4 (IPv6, or garbage).
    NotIpv4,
    /// Too short, or its lengths are inconsistent.
    BadLength,
}

/// Parses the header of the IPv4 packet `p`.
pub fn parse(p: &[u8]) -> Result<Ipv4Info, Malformed> {
    let first = *p.first().ok_or(Malformed::BadLength)?;
    if first >> 4 != 4 {
        return Err(Malformed::NotIpv4);
    }
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl {
        return Err(Malformed::BadLength);
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    if total < ihl || total > p.len() {
        return Err(Malformed::BadLength);
    }
    let ecn = match p[1] & 0b11 {
        0 => Ecn::NotEct,
        3 => Ecn::Ce,
        _ => Ecn::Ect,
    };
    let proto = p[9];
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    let frag_offset = u16::from_be_bytes([p[6], p[7]]) & 0x1fff;
    let ports = if (proto == 6 || proto == 17) && frag_offset == 0 && total >= ihl + 4 {
        u32::from_be_bytes([p[ihl], p[ihl + 1], p[ihl + 2], p[ihl + 3]])
    } else {
        0
    };
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for x in [u32::from(proto), u32::from(src), u32::from(dst), ports] {
        h = (h ^ u64::from(x)).wrapping_mul(0x0100_0000_01b3);
    }
    Ok(Ipv4Info {
        src,
        dst,
        ecn,
        flow: (h ^ (h >> 32)) as u32,
    })
}

/// Sets the ECN field of the IPv4 packet `p` to CE and fixes the header checksum; does
/// nothing to a packet too short to hold a header.
pub fn set_ce(p: &mut [u8]) {
    let Some(&first) = p.first() else { return };
    let ihl = usize::from(first & 0x0f) * 4;
    if ihl < 20 || p.len() < ihl {
        return;
    }
    p[1] |= 0b11;
    p[10] = 0;
    p[11] = 0;
    let c = netmodels::pcap::internet_checksum(&p[..ihl]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn udp(src: [u8; 4], dst: [u8; 4], len: usize) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[1] = 0b10;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&src);
        p[16..20].copy_from_slice(&dst);
        p[20..22].copy_from_slice(&1234u16.to_be_bytes());
        p[22..24].copy_from_slice(&80u16.to_be_bytes());
        let c = netmodels::pcap::internet_checksum(&p[..20]);
        p[10..12].copy_from_slice(&c.to_be_bytes());
        p
    }

    #[test]
    fn parses_a_udp_packet() {
        let p = udp([10, 0, 0, 1], [10, 0, 1, 1], 60);
        let i = parse(&p).unwrap();
        assert_eq!(i.dst, Ipv4Addr::new(10, 0, 1, 1));
        assert_eq!(i.src, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(i.ecn, Ecn::Ect);
        let mut q = p.clone();
        q[20] = 9; // another source port: another flow
        assert_ne!(parse(&q).unwrap().flow, i.flow);
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        assert_eq!(parse(&[]), Err(Malformed::BadLength));
        assert_eq!(parse(&[0x60, 0, 0, 0]), Err(Malformed::NotIpv4));
        assert_eq!(parse(&[0x45, 0, 0]), Err(Malformed::BadLength));
        let mut p = udp([10, 0, 0, 1], [10, 0, 1, 1], 60);
        p[2..4].copy_from_slice(&100u16.to_be_bytes()); // claims more than it has
        assert_eq!(parse(&p), Err(Malformed::BadLength));
        p[0] = 0x4f; // IHL 60 > total
        assert!(parse(&p).is_err());
        for n in 0..=60 {
            let _ = parse(&udp([1; 4], [2; 4], 60)[..n]);
            set_ce(&mut udp([1; 4], [2; 4], 60)[..n]);
        }
    }

    #[test]
    fn ce_rewrite_keeps_the_checksum_valid() {
        let mut p = udp([10, 0, 0, 1], [10, 0, 1, 1], 60);
        set_ce(&mut p);
        assert_eq!(parse(&p).unwrap().ecn, Ecn::Ce);
        assert_eq!(netmodels::pcap::internet_checksum(&p[..20]), 0);
    }
}
