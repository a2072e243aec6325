//! The runtime fed arbitrary agent messages (INSTALL_EXPR, UPDATE_FIELDS, CHANGE_PROG or raw
//! bytes) interleaved with invocations never panics, never loops, and only emits valid
//! messages and non-zero windows.
#![no_main]

use ccp::datapath::{Config, Datapath, FlowInfo, Primitives};
use ccp::wire::Msg;
use libfuzzer_sys::fuzz_target;
use netrt::{Duration, Instant};

fn u32_at(d: &[u8], i: usize) -> u32 {
    let mut b = [0u8; 4];
    for (k, x) in b.iter_mut().enumerate() {
        *x = d.get(i + k).copied().unwrap_or(0);
    }
    u32::from_le_bytes(b)
}

fuzz_target!(|data: &[u8]| {
    let mut dp = Datapath::new(
        Config::default()
            .max_flows(4)
            .max_programs(4)
            .fallback_timeout(Duration::from_micros(100)),
        Instant::ZERO,
    );
    let _ = dp.open_flow(Instant::ZERO, FlowInfo::default());
    let mut now = Instant::ZERO;
    let mut i = 0;
    while i < data.len() {
        let op = data[i];
        i += 1;
        now += Duration::from_micros(7);
        match op % 6 {
            // A message: 2-byte length, then that many bytes, given to the runtime as is.
            0..=2 => {
                let n = usize::from(u16::from_le_bytes([
                    data.get(i).copied().unwrap_or(0),
                    data.get(i + 1).copied().unwrap_or(0),
                ]))
                .min(data.len().saturating_sub(i + 2));
                let body = &data[(i + 2).min(data.len())..(i + 2 + n).min(data.len())];
                let _ = dp.handle_bytes(now, body);
                i += 2 + n;
            }
            3 => {
                let p = Primitives {
                    bytes_acked: u32_at(data, i),
                    rtt_sample: Duration::from_micros(u64::from(u32_at(data, i + 4))),
                    snd_cwnd: u32_at(data, i + 8),
                    lost_pkts_sample: u32_at(data, i + 12) % 4,
                    ..Default::default()
                };
                let sid = u32::from(data.get(i + 16).copied().unwrap_or(1) % 5);
                i += 17;
                let inv = dp.invoke(now, sid, &p);
                assert_ne!(inv.cwnd, Some(0));
                assert_ne!(inv.rate, Some(0));
            }
            4 => dp.notify_send_failed(now),
            _ => {
                let _ = dp.open_flow(now, FlowInfo::default());
            }
        }
        while let Some(b) = dp.poll_transmit() {
            let (m, used) = Msg::decode(b).expect("runtime emits valid messages");
            assert_eq!(used, b.len());
            if let Msg::Measure(m) = m {
                assert!(m.fields.len() <= ccp::wire::MAX_REPORT_REGS);
            }
        }
    }
});
