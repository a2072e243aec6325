use std::io::Cursor;

use bytes::Bytes;
use pcap_file::pcap::PcapReader;
use transport::{AckInfo, SackBlock, Segment, MAX_SACK_BLOCKS};

use super::*;
use crate::packet::{Datagram, Ecn, Packet, PacketData, Payload};

fn data_pkt() -> Packet {
    Packet::new(PacketData {
        id: 0x1_0203,
        flow: 7,
        src: 3,
        dst: 0x0105,
        size: 1500,
        ecn: Ecn::Ce,
        priority: 0,
        tag: 0,
        enqueued_at: SimTime::ZERO,
        payload: Payload::Data(Segment {
            seq: (1u64 << 32) + 123_456,
            len: 1460,
            ts: SimTime::ZERO,
            retransmit: false,
            fin: true,
            syn: false,
        }),
    })
}

fn ack_pkt() -> Packet {
    Packet::new(PacketData {
        id: 2,
        flow: 7,
        src: 0x0105,
        dst: 3,
        size: 40,
        ecn: Ecn::Ect,
        priority: 0,
        tag: 0,
        enqueued_at: SimTime::ZERO,
        payload: Payload::Ack(AckInfo {
            ack: 99_000,
            sack: [SackBlock::default(); MAX_SACK_BLOCKS],
            n_sack: 0,
            ece: true,
            ts_echo: SimTime::ZERO,
            segs: 1,
            syn: false,
        }),
    })
}

fn udp_pkt(payload: &'static [u8]) -> Packet {
    Packet::new(PacketData {
        id: 3,
        flow: 1,
        src: 1,
        dst: 2,
        size: 28 + payload.len() as u32,
        ecn: Ecn::NotEct,
        priority: 0,
        tag: 0,
        enqueued_at: SimTime::ZERO,
        payload: Payload::Datagram(Datagram {
            src_port: 4000,
            dst_port: 53,
            payload: Bytes::from_static(payload),
        }),
    })
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

#[test]
fn checksum_matches_rfc1071_example() {
    // The IPv4 header example from Wikipedia's "IPv4 header checksum" article.
    let h = [
        0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00,
        0x01, 0xc0, 0xa8, 0x00, 0xc7,
    ];
    assert_eq!(internet_checksum(&h), 0xb861);
}

#[test]
fn pcap_round_trip_tcp_data_ack_and_udp() {
    let mut tap = PcapTap::new(Vec::new()).unwrap();
    tap.record(SimTime::from_nanos(1_500_000_123), &data_pkt())
        .unwrap();
    tap.record(SimTime::from_nanos(2_000_000_000), &ack_pkt())
        .unwrap();
    let long: &'static [u8] = &[7u8; 200];
    tap.record(SimTime::from_nanos(3), &udp_pkt(b"hello"))
        .unwrap();
    tap.record(SimTime::from_nanos(4), &udp_pkt(long)).unwrap();
    assert_eq!(tap.packets(), 4);
    let bytes = tap.into_inner().unwrap();

    let mut r = PcapReader::new(Cursor::new(bytes)).unwrap();
    let h = r.header();
    assert_eq!(h.ts_resolution, TsResolution::NanoSecond);
    assert_eq!(h.datalink, DataLink::ETHERNET);

    // TCP data segment.
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.timestamp, Duration::new(1, 500_000_123));
    assert_eq!(p.orig_len, 14 + 1500);
    let d = &p.data;
    assert_eq!(d.len(), 14 + 20 + 20, "headers only");
    assert_eq!(&d[0..6], &[2, 0, 0, 0, 1, 5], "dst MAC");
    assert_eq!(&d[6..12], &[2, 0, 0, 0, 0, 3], "src MAC");
    assert_eq!(be16(d, 12), 0x0800);
    let ip = &d[14..34];
    assert_eq!(ip[0], 0x45);
    assert_eq!(ip[1] & 3, 0b11, "CE");
    assert_eq!(be16(ip, 2), 1500, "total length = packet size");
    assert_eq!(be16(ip, 4), 0x0203, "low 16 bits of the id");
    assert_eq!(ip[9], 6);
    assert_eq!(&ip[12..16], &[10, 0, 3, 1]);
    assert_eq!(&ip[16..20], &[10, 1, 5, 1]);
    assert_eq!(
        internet_checksum(ip),
        0,
        "a correct header checksum sums to zero"
    );
    let tcp = &d[34..54];
    assert_eq!(be16(tcp, 0), 10_007);
    assert_eq!(be16(tcp, 2), SERVER_PORT);
    assert_eq!(
        be32(tcp, 4),
        123_456,
        "seq is the low 32 bits of the offset"
    );
    assert_eq!(tcp[12] >> 4, 5);
    assert_eq!(tcp[13], 0x11, "ACK | FIN");

    // TCP ACK with ECE.
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.timestamp, Duration::from_secs(2));
    let d = &p.data;
    let ip = &d[14..34];
    assert_eq!(ip[1] & 3, 0b10, "ECT(0)");
    assert_eq!(be16(ip, 2), 40);
    assert_eq!(internet_checksum(ip), 0);
    let tcp = &d[34..54];
    assert_eq!(be16(tcp, 0), SERVER_PORT);
    assert_eq!(be16(tcp, 2), 10_007);
    assert_eq!(be32(tcp, 8), 99_000);
    assert_eq!(tcp[13], 0x50, "ACK | ECE");
    assert_eq!(p.orig_len, 54);

    // UDP with its (short) payload captured.
    let p = r.next_packet().unwrap().unwrap();
    let d = &p.data;
    assert_eq!(p.timestamp, Duration::from_nanos(3));
    assert_eq!(d[14 + 9], 17);
    assert_eq!(internet_checksum(&d[14..34]), 0);
    assert_eq!(be16(d, 34), 4000);
    assert_eq!(be16(d, 36), 53);
    assert_eq!(be16(d, 38), 8 + 5, "UDP length");
    assert_eq!(&d[42..], b"hello");
    assert_eq!(p.orig_len as usize, 14 + 28 + 5);

    // A long datagram is truncated in the capture but keeps its true length.
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.data.len(), 14 + 28 + MAX_PAYLOAD_CAPTURE);
    assert_eq!(p.orig_len as usize, 14 + 28 + 200);
    assert!(r.next_packet().is_none());
}

#[test]
fn undersized_packets_still_make_valid_records() {
    // Packet::test sizes are arbitrary: a 10-byte "datagram" still gets full headers.
    let mut tap = PcapTap::new(Vec::new()).unwrap();
    tap.record(SimTime::ZERO, &Packet::test(1, 1, 10)).unwrap();
    let bytes = tap.into_inner().unwrap();
    let mut r = PcapReader::new(Cursor::new(bytes)).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.data.len(), 42);
    assert_eq!(p.orig_len, 42);
    assert_eq!(be16(&p.data, 16), 28);
}

#[test]
fn pcap_file_is_created_and_flushed() {
    let path = std::env::temp_dir().join(format!("netmodels-pcap-{}.pcap", std::process::id()));
    {
        let mut tap = PcapTap::create(&path).unwrap();
        tap.record(SimTime::from_nanos(10), &data_pkt()).unwrap();
        tap.flush().unwrap();
    }
    let f = std::fs::File::open(&path).unwrap();
    let mut r = PcapReader::new(f).unwrap();
    assert_eq!(r.next_packet().unwrap().unwrap().orig_len, 1514);
    std::fs::remove_file(&path).unwrap();
    let e = PcapTap::create("/nonexistent-dir/x.pcap").unwrap_err();
    assert!(e
        .to_string()
        .starts_with("/nonexistent-dir/x.pcap: cannot create pcap file"));
}

#[test]
fn syn_and_syn_ack_show_their_flags_and_raw_packets_are_written_as_they_are() {
    let mut syn = data_pkt();
    if let Payload::Data(s) = &mut syn.payload {
        s.syn = true;
        s.fin = false;
        s.len = 0;
    }
    syn.size = 40;
    let mut syn_ack = ack_pkt();
    if let Payload::Ack(a) = &mut syn_ack.payload {
        a.syn = true;
        a.ece = false;
    }
    let raw_ip: Vec<u8> = (0..60u8).collect();
    let mut raw = udp_pkt(b"");
    raw.payload = Payload::Raw(bytes::Bytes::from(raw_ip.clone()));
    raw.size = 60;
    let mut tap = PcapTap::new(Vec::new()).unwrap();
    for p in [&syn, &syn_ack, &raw] {
        tap.record(SimTime::ZERO, p).unwrap();
    }
    let mut r = PcapReader::new(Cursor::new(tap.into_inner().unwrap())).unwrap();
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.data[34 + 13], 0x02, "SYN");
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(p.data[34 + 13], 0x12, "SYN | ACK");
    let p = r.next_packet().unwrap().unwrap();
    assert_eq!(
        &p.data[14..],
        &raw_ip[..],
        "a raw packet follows the Ethernet header unchanged"
    );
    assert_eq!(p.orig_len, 14 + 60);
}

#[cfg(unix)]
#[test]
fn create_refuses_to_write_through_a_symlink() {
    let dir = std::env::temp_dir().join(format!("pcap-symlink-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let target = dir.join("target");
    std::fs::write(&target, b"keep").unwrap();
    let link = dir.join("x.pcap");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let e = PcapTap::create(&link).unwrap_err();
    assert!(matches!(e, PcapError::Create { .. }), "{e}");
    assert!(e.to_string().contains("symbolic link"), "{e}");
    assert_eq!(std::fs::read(&target).unwrap(), b"keep");
    std::fs::remove_dir_all(&dir).unwrap();
}
