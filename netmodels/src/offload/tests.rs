use sim_core::SimDuration;

use super::*;

fn nic() -> SmartNic {
    SmartNic::new(
        "nic0",
        1_000_000,      // 1 Mpps: 1 us per packet
        10_000_000_000, // 10 Gbit/s: 1500 B = 1.2 us
        Pcie {
            latency: SimDuration::from_nanos(500),
            bandwidth_bps: 64_000_000_000,
        },
        Some(1 << 20),
    )
}

#[test]
fn nic_processing_time_is_the_larger_of_packet_and_bit_costs() {
    let n = nic();
    // Small packets are bound by the packet rate, large ones by the bit rate.
    assert_eq!(n.processing_time(64), SimDuration::from_nanos(1000));
    assert_eq!(n.processing_time(1500), SimDuration::from_nanos(1200));
    // 1/3 Mpps rounds up to 334 ns.
    let n3 = SmartNic::new("n", 3_000_000, 1_000_000_000_000, n.pcie().to_owned(), None);
    assert_eq!(n3.processing_time(1), SimDuration::from_nanos(334));
}

#[test]
fn pcie_crossing_costs_latency_plus_size_over_bandwidth() {
    let n = nic();
    // 1500 B at 64 Gbit/s = 187.5 ns -> 188 ns, plus 500 ns.
    assert_eq!(n.pcie().crossing_time(1500), SimDuration::from_nanos(688));
    assert_eq!(n.pcie().crossing_time(0), SimDuration::from_nanos(500));
}

#[test]
fn nic_reserve_until_exhausted_then_release() {
    let mut n = nic();
    let a = n
        .reserve(
            Demand::new()
                .packets_per_sec(600_000)
                .bits_per_sec(1_000_000_000),
        )
        .unwrap();
    assert_eq!(n.available(Resource::PacketsPerSec), Some(400_000));
    assert_eq!(n.utilization(Resource::PacketsPerSec), Some(0.6));
    assert_eq!(n.utilization(Resource::BitsPerSec), Some(0.1));
    let e = n
        .reserve(Demand::new().packets_per_sec(500_000))
        .unwrap_err();
    assert_eq!(
        e,
        OffloadError::Exhausted {
            device: "nic0".into(),
            resource: Resource::PacketsPerSec,
            requested: 500_000,
            available: 400_000,
            capacity: 1_000_000,
        }
    );
    assert_eq!(
        e.to_string(),
        "nic0: processing rate (packets/s) exhausted: asked for 500000, 400000 of 1000000 left"
    );
    // A failed reservation takes nothing.
    assert_eq!(n.available(Resource::PacketsPerSec), Some(400_000));
    assert_eq!(n.reservations(), 1);
    // Exactly what is left fits.
    let b = n.reserve(Demand::new().packets_per_sec(400_000)).unwrap();
    assert_eq!(n.available(Resource::PacketsPerSec), Some(0));
    n.release(a).unwrap();
    assert_eq!(n.available(Resource::PacketsPerSec), Some(600_000));
    assert_eq!(n.available(Resource::BitsPerSec), Some(10_000_000_000));
    n.release(b).unwrap();
    assert_eq!(n.utilization(Resource::PacketsPerSec), Some(0.0));
    assert_eq!(n.reservations(), 0);
}

#[test]
fn a_demand_is_all_or_nothing_across_resources() {
    let mut n = nic();
    let e = n
        .reserve(Demand::new().packets_per_sec(1).sram_bytes(2 << 20))
        .unwrap_err();
    assert!(matches!(
        e,
        OffloadError::Exhausted {
            resource: Resource::SramBytes,
            requested: 2_097_152,
            available: 1_048_576,
            ..
        }
    ));
    assert_eq!(n.available(Resource::PacketsPerSec), Some(1_000_000));
}

#[test]
fn unsupported_resources_are_named() {
    let mut n = nic();
    let e = n.reserve(Demand::new().stages(1)).unwrap_err();
    assert_eq!(e.to_string(), "nic0: has no pipeline stages (asked for 1)");
    assert_eq!(n.available(Resource::Stages), None);
    let mut sw = ProgrammableSwitch::new("tofino", 1000, 12, None);
    let e = sw.reserve(Demand::new().packets_per_sec(5)).unwrap_err();
    assert!(matches!(
        e,
        OffloadError::Unsupported {
            resource: Resource::PacketsPerSec,
            ..
        }
    ));
}

#[test]
fn switch_budget_of_table_entries_and_stages() {
    let mut sw = ProgrammableSwitch::new("tofino", 1000, 12, Some(4096));
    let a = sw
        .reserve(Demand::new().table_entries(800).stages(4))
        .unwrap();
    let e = sw
        .reserve(Demand::new().table_entries(300).stages(1))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "tofino: table entries exhausted: asked for 300, 200 of 1000 left"
    );
    let e = sw
        .reserve(Demand::new().table_entries(10).stages(9))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "tofino: pipeline stages exhausted: asked for 9, 8 of 12 left"
    );
    let b = sw
        .reserve(Demand::new().table_entries(200).stages(8).sram_bytes(4096))
        .unwrap();
    assert_eq!(sw.utilization(Resource::TableEntries), Some(1.0));
    assert_eq!(sw.available(Resource::SramBytes), Some(0));
    sw.release(b).unwrap();
    sw.release(a).unwrap();
    assert_eq!(sw.available(Resource::TableEntries), Some(1000));
    assert_eq!(sw.available(Resource::Stages), Some(12));
}

#[test]
fn reservations_cannot_be_released_twice_or_elsewhere() {
    let mut sw = ProgrammableSwitch::new("sw0", 100, 4, None);
    let mut other = ProgrammableSwitch::new("sw1", 100, 4, None);
    let r = sw.reserve(Demand::new().table_entries(10)).unwrap();
    assert_eq!(r.device_name(), "sw0");
    assert_eq!(r.demand().table_entries, 10);
    let e = other.release(r.clone()).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "sw1: reservation #{} belongs to sw0, not to this device",
            r.id()
        )
    );
    assert_eq!(other.available(Resource::TableEntries), Some(100));
    sw.release(r.clone()).unwrap();
    let e = sw.release(r.clone()).unwrap_err();
    assert_eq!(
        e,
        OffloadError::AlreadyReleased {
            device: "sw0".into(),
            id: r.id()
        }
    );
    assert_eq!(sw.available(Resource::TableEntries), Some(100));
    // Same name, different device: still rejected.
    let mut twin = ProgrammableSwitch::new("sw0", 100, 4, None);
    let r2 = sw.reserve(Demand::new().table_entries(1)).unwrap();
    assert!(matches!(
        twin.release(r2),
        Err(OffloadError::WrongDevice { .. })
    ));
}

#[test]
fn configs_validate_and_build() {
    let c = SmartNicConfig {
        name: "bf2".into(),
        capacity_pps: 20_000_000,
        capacity_gbps: 100.0,
        pcie_latency_ns: 900,
        pcie_gbps: 128.0,
        sram_bytes: None,
    };
    let n = c.build().unwrap();
    assert_eq!(n.name(), "bf2");
    assert_eq!(n.available(Resource::BitsPerSec), Some(100_000_000_000));
    assert_eq!(n.pcie().crossing_time(1600), SimDuration::from_nanos(1000));
    let bad = SmartNicConfig {
        capacity_gbps: -1.0,
        ..c.clone()
    };
    assert_eq!(
        bad.build().unwrap_err().to_string(),
        "smart_nic.capacity_gbps: expected a rate in (0, 1e6] Gbit/s, got -1"
    );
    let bad = SmartNicConfig {
        capacity_pps: 0,
        ..c
    };
    assert!(matches!(
        bad.build().unwrap_err(),
        OffloadError::InvalidConfig {
            field: "smart_nic.capacity_pps",
            ..
        }
    ));
    let s = ProgrammableSwitchConfig {
        name: "tor".into(),
        table_entries: 10,
        stages: 0,
        sram_bytes: None,
    };
    assert_eq!(
        s.build().unwrap_err().to_string(),
        "programmable_switch.stages: expected at least 1 stage, got 0"
    );
}

#[test]
fn device_configs_from_scenario_form() {
    use crate::queue::tests::de::{from_pairs, V};
    let c: OffloadDeviceConfig = from_pairs(&[
        ("kind", V::S("programmable_switch")),
        ("name", V::S("tor")),
        ("table_entries", V::I(4096)),
        ("stages", V::I(12)),
    ])
    .unwrap();
    assert_eq!(
        c,
        OffloadDeviceConfig::ProgrammableSwitch(ProgrammableSwitchConfig {
            name: "tor".into(),
            table_entries: 4096,
            stages: 12,
            sram_bytes: None
        })
    );
    let e = from_pairs::<OffloadDeviceConfig>(&[
        ("kind", V::S("programmable_switch")),
        ("name", V::S("tor")),
        ("table_entries", V::I(4096)),
        ("stages", V::I(12)),
        ("stage", V::I(12)),
    ])
    .unwrap_err()
    .to_string();
    assert!(e.contains("unknown field `stage`"), "{e}");
}

#[test]
fn nic_processor_serves_packets_fifo() {
    let mut n = nic();
    let t0 = sim_core::SimTime::from_nanos(0);
    // Two 1500-byte packets arriving together: 1.2 us each, back to back.
    assert_eq!(n.process(t0, 1500), sim_core::SimTime::from_nanos(1200));
    assert_eq!(n.process(t0, 1500), sim_core::SimTime::from_nanos(2400));
    // One arriving after the processor went idle starts at once.
    assert_eq!(
        n.process(sim_core::SimTime::from_nanos(10_000), 64),
        sim_core::SimTime::from_nanos(11_000)
    );
}

#[test]
fn devices_are_usable_through_the_trait() {
    fn fill(d: &mut dyn OffloadDevice, r: Resource) -> Vec<Reservation> {
        let mut out = Vec::new();
        while let Ok(x) = d.reserve(match r {
            Resource::TableEntries => Demand::new().table_entries(300),
            _ => Demand::new().packets_per_sec(300_000),
        }) {
            out.push(x);
        }
        out
    }
    let mut sw = ProgrammableSwitch::new("sw", 1000, 12, None);
    let mut n = nic();
    assert_eq!(fill(&mut sw, Resource::TableEntries).len(), 3);
    assert_eq!(fill(&mut n, Resource::PacketsPerSec).len(), 3);
    let devices: [&dyn OffloadDevice; 2] = [&sw, &n];
    assert_eq!(devices[0].available(Resource::TableEntries), Some(100));
    assert_eq!(devices[0].reservations(), 3);
    assert_eq!(devices[1].name(), "nic0");
    assert_eq!(devices[1].utilization(Resource::PacketsPerSec), Some(0.9));
}
