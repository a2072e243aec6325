//! Offload resources as first-class models: a [`SmartNic`] with processing capacity and a
//! [`Pcie`] crossing, and a [`ProgrammableSwitch`] with a finite offload budget.
//!
//! Each device has a per-packet cost model (used by the datapath to delay packets) and a
//! capacity budget that placements draw from. The budget is reached only through the
//! [`OffloadDevice`] trait, which both devices implement (so placement code can be generic over
//! them): [`OffloadDevice::reserve`] takes a [`Demand`] and returns a [`Reservation`] or an
//! [`OffloadError`] naming the exhausted resource, what was asked and what is left. A
//! reservation is released on the device that granted it, once. A [`SmartNic`]'s PCIe cost is
//! its [`Pcie`]'s: `nic.pcie().crossing_time(bytes)`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};
use sim_core::{SimDuration, SimTime};

/// A kind of offload capacity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Resource {
    /// Packet-processing rate, packets/s.
    PacketsPerSec,
    /// Processing throughput, bit/s.
    BitsPerSec,
    /// Match-action table entries.
    TableEntries,
    /// Pipeline stages.
    Stages,
    /// On-chip memory, bytes.
    SramBytes,
}

impl Resource {
    const ALL: [Resource; 5] = [
        Resource::PacketsPerSec,
        Resource::BitsPerSec,
        Resource::TableEntries,
        Resource::Stages,
        Resource::SramBytes,
    ];

    fn index(self) -> usize {
        match self {
            Resource::PacketsPerSec => 0,
            Resource::BitsPerSec => 1,
            Resource::TableEntries => 2,
            Resource::Stages => 3,
            Resource::SramBytes => 4,
        }
    }

    /// Its name and unit, as errors print it.
    pub fn name(self) -> &'static str {
        match self {
            Resource::PacketsPerSec => "processing rate (packets/s)",
            Resource::BitsPerSec => "processing throughput (bit/s)",
            Resource::TableEntries => "table entries",
            Resource::Stages => "pipeline stages",
            Resource::SramBytes => "SRAM (bytes)",
        }
    }
}

impl fmt::Display for Resource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How much of each resource a placement needs (zero = none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Demand {
    /// Packets/s of processing.
    pub packets_per_sec: u64,
    /// Bit/s of processing.
    pub bits_per_sec: u64,
    /// Table entries.
    pub table_entries: u64,
    /// Pipeline stages.
    pub stages: u64,
    /// SRAM bytes.
    pub sram_bytes: u64,
}

impl Demand {
    /// Nothing.
    pub fn new() -> Self {
        Demand::default()
    }
    /// With `n` packets/s.
    pub fn packets_per_sec(mut self, n: u64) -> Self {
        self.packets_per_sec = n;
        self
    }
    /// With `n` bit/s.
    pub fn bits_per_sec(mut self, n: u64) -> Self {
        self.bits_per_sec = n;
        self
    }
    /// With `n` table entries.
    pub fn table_entries(mut self, n: u64) -> Self {
        self.table_entries = n;
        self
    }
    /// With `n` pipeline stages.
    pub fn stages(mut self, n: u64) -> Self {
        self.stages = n;
        self
    }
    /// With `n` SRAM bytes.
    pub fn sram_bytes(mut self, n: u64) -> Self {
        self.sram_bytes = n;
        self
    }

    /// The amount of `r` demanded.
    pub fn get(&self, r: Resource) -> u64 {
        self.as_array()[r.index()]
    }

    fn as_array(&self) -> [u64; 5] {
        [
            self.packets_per_sec,
            self.bits_per_sec,
            self.table_entries,
            self.stages,
            self.sram_bytes,
        ]
    }
}

/// Errors reserving or releasing offload capacity, or configuring a device.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OffloadError {
    /// Not enough of a resource is left.
    #[error(
        "{device}: {resource} exhausted: asked for {requested}, {available} of {capacity} left"
    )]
    Exhausted {
        /// The device's name.
        device: String,
        /// The resource.
        resource: Resource,
        /// Amount asked for.
        requested: u64,
        /// Amount still free.
        available: u64,
        /// Total capacity.
        capacity: u64,
    },
    /// The device has none of this resource at all.
    #[error("{device}: has no {resource} (asked for {requested})")]
    Unsupported {
        /// The device's name.
        device: String,
        /// The resource.
        resource: Resource,
        /// Amount asked for.
        requested: u64,
    },
    /// The reservation was granted by another device.
    #[error("{device}: reservation #{id} belongs to {owner}, not to this device")]
    WrongDevice {
        /// The device asked to release.
        device: String,
        /// The reservation's id.
        id: u64,
        /// The device that granted it.
        owner: String,
    },
    /// The reservation was already released.
    #[error("{device}: reservation #{id} was already released")]
    AlreadyReleased {
        /// The device's name.
        device: String,
        /// The reservation's id.
        id: u64,
    },
    /// A configuration field is out of range.
    #[error("{field}: expected {expected}, got {got}")]
    InvalidConfig {
        /// `device.field`.
        field: &'static str,
        /// What a valid value looks like.
        expected: &'static str,
        /// What was given.
        got: String,
    },
}

/// Capacity granted by a device; give it back with the device's `release`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reservation {
    device: u64,
    device_name: String,
    id: u64,
    demand: Demand,
}

impl Reservation {
    /// What was reserved.
    pub fn demand(&self) -> &Demand {
        &self.demand
    }
    /// Its id, unique on its device.
    pub fn id(&self) -> u64 {
        self.id
    }
    /// The name of the device that granted it.
    pub fn device_name(&self) -> &str {
        &self.device_name
    }
}

static NEXT_DEVICE: AtomicU64 = AtomicU64::new(1);

/// Capacity accounting shared by all devices. A capacity of `None` means the device has none
/// of that resource; a demand for it fails with [`OffloadError::Unsupported`].
#[derive(Debug)]
struct Budget {
    device: u64,
    name: String,
    capacity: [Option<u64>; 5],
    used: [u64; 5],
    live: BTreeMap<u64, Demand>,
    next_id: u64,
}

impl Budget {
    fn new(name: &str, capacity: [Option<u64>; 5]) -> Self {
        Budget {
            device: NEXT_DEVICE.fetch_add(1, Ordering::Relaxed),
            name: name.to_string(),
            capacity,
            used: [0; 5],
            live: BTreeMap::new(),
            next_id: 1,
        }
    }

    fn reserve(&mut self, d: Demand) -> Result<Reservation, OffloadError> {
        let want = d.as_array();
        for r in Resource::ALL {
            let i = r.index();
            if want[i] == 0 {
                continue;
            }
            let Some(cap) = self.capacity[i] else {
                return Err(OffloadError::Unsupported {
                    device: self.name.clone(),
                    resource: r,
                    requested: want[i],
                });
            };
            let avail = cap - self.used[i];
            if want[i] > avail {
                return Err(OffloadError::Exhausted {
                    device: self.name.clone(),
                    resource: r,
                    requested: want[i],
                    available: avail,
                    capacity: cap,
                });
            }
        }
        for (u, w) in self.used.iter_mut().zip(want) {
            *u += w;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.live.insert(id, d);
        Ok(Reservation {
            device: self.device,
            device_name: self.name.clone(),
            id,
            demand: d,
        })
    }

    fn release(&mut self, r: Reservation) -> Result<(), OffloadError> {
        if r.device != self.device {
            return Err(OffloadError::WrongDevice {
                device: self.name.clone(),
                id: r.id,
                owner: r.device_name,
            });
        }
        let Some(d) = self.live.remove(&r.id) else {
            return Err(OffloadError::AlreadyReleased {
                device: self.name.clone(),
                id: r.id,
            });
        };
        let want = d.as_array();
        for (u, w) in self.used.iter_mut().zip(want) {
            *u -= w;
        }
        Ok(())
    }

    fn available(&self, r: Resource) -> Option<u64> {
        let i = r.index();
        self.capacity[i].map(|c| c - self.used[i])
    }

    fn utilization(&self, r: Resource) -> Option<f64> {
        let i = r.index();
        self.capacity[i].map(|c| {
            if c == 0 {
                1.0
            } else {
                self.used[i] as f64 / c as f64
            }
        })
    }
}

/// What every offload device offers to placement code: a name and a capacity budget.
pub trait OffloadDevice {
    /// The device's name.
    fn name(&self) -> &str;
    /// Reserves `d` entirely, or nothing (the error names the first exhausted resource).
    fn reserve(&mut self, d: Demand) -> Result<Reservation, OffloadError>;
    /// Gives back a reservation this device granted.
    fn release(&mut self, r: Reservation) -> Result<(), OffloadError>;
    /// Free amount of `r` (`None` if the device has none of it).
    fn available(&self, r: Resource) -> Option<u64>;
    /// Fraction of `r` reserved (`None` if the device has none of it).
    fn utilization(&self, r: Resource) -> Option<f64>;
    /// Number of live (granted, not yet released) reservations.
    fn reservations(&self) -> usize;
}

macro_rules! impl_offload_device {
    ($t:ty) => {
        impl OffloadDevice for $t {
            fn name(&self) -> &str {
                &self.budget.name
            }
            fn reserve(&mut self, d: Demand) -> Result<Reservation, OffloadError> {
                self.budget.reserve(d)
            }
            fn release(&mut self, r: Reservation) -> Result<(), OffloadError> {
                self.budget.release(r)
            }
            fn available(&self, r: Resource) -> Option<u64> {
                self.budget.available(r)
            }
            fn utilization(&self, r: Resource) -> Option<f64> {
                self.budget.utilization(r)
            }
            fn reservations(&self) -> usize {
                self.budget.live.len()
            }
        }
    };
}

impl_offload_device!(SmartNic);
impl_offload_device!(ProgrammableSwitch);

/// A PCIe crossing between host and NIC: a fixed latency plus serialization at a bandwidth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pcie {
    /// One-way latency.
    pub latency: SimDuration,
    /// Bandwidth in bit/s.
    pub bandwidth_bps: u64,
}

impl Pcie {
    /// The time for `bytes` to cross: latency + bytes / bandwidth (rounded up to a ns).
    pub fn crossing_time(&self, bytes: u32) -> SimDuration {
        self.latency + SimDuration::transmission(u64::from(bytes), self.bandwidth_bps)
    }
}

/// A SmartNIC: processing capacity in packets/s and bit/s, and a PCIe link to its host. Its
/// capacity budget is reached through [`OffloadDevice`].
#[derive(Debug)]
pub struct SmartNic {
    pps: u64,
    bps: u64,
    pcie: Pcie,
    busy_until: SimTime,
    budget: Budget,
}

/// A SmartNIC as scenario files describe it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmartNicConfig {
    /// Name used in errors and results.
    pub name: String,
    /// Processing capacity, packets/s.
    pub capacity_pps: u64,
    /// Processing capacity, Gbit/s.
    pub capacity_gbps: f64,
    /// PCIe one-way latency, ns.
    pub pcie_latency_ns: u64,
    /// PCIe bandwidth, Gbit/s.
    pub pcie_gbps: f64,
    /// On-NIC memory available to offloads, bytes (none if absent).
    #[serde(default)]
    pub sram_bytes: Option<u64>,
}

fn gbps(field: &'static str, v: f64) -> Result<u64, OffloadError> {
    if !v.is_finite() || v <= 0.0 || v > 1e6 {
        return Err(OffloadError::InvalidConfig {
            field,
            expected: "a rate in (0, 1e6] Gbit/s",
            got: v.to_string(),
        });
    }
    Ok((v * 1e9).round() as u64)
}

impl SmartNicConfig {
    /// Validates and builds the device.
    pub fn build(&self) -> Result<SmartNic, OffloadError> {
        if self.capacity_pps == 0 {
            return Err(OffloadError::InvalidConfig {
                field: "smart_nic.capacity_pps",
                expected: "at least 1 packet/s",
                got: "0".into(),
            });
        }
        let bps = gbps("smart_nic.capacity_gbps", self.capacity_gbps)?;
        let pcie = Pcie {
            latency: SimDuration::from_nanos(self.pcie_latency_ns),
            bandwidth_bps: gbps("smart_nic.pcie_gbps", self.pcie_gbps)?,
        };
        Ok(SmartNic::new(
            &self.name,
            self.capacity_pps,
            bps,
            pcie,
            self.sram_bytes,
        ))
    }
}

impl SmartNic {
    /// A NIC called `name` processing `pps` packets/s and `bps` bit/s (both at least 1), behind
    /// `pcie`, with optional offload memory.
    pub fn new(name: &str, pps: u64, bps: u64, pcie: Pcie, sram_bytes: Option<u64>) -> Self {
        let (pps, bps) = (pps.max(1), bps.max(1));
        SmartNic {
            pps,
            bps,
            pcie,
            busy_until: SimTime::ZERO,
            budget: Budget::new(name, [Some(pps), Some(bps), None, None, sram_bytes]),
        }
    }

    /// Time to process one packet of `bytes`: max(1 / pps, bits / bps), rounded up to a ns.
    pub fn processing_time(&self, bytes: u32) -> SimDuration {
        let per_pkt = SimDuration::from_nanos(1_000_000_000u64.div_ceil(self.pps));
        per_pkt.max(SimDuration::transmission(u64::from(bytes), self.bps))
    }

    /// The NIC's processor as a FIFO server: a packet of `bytes` arriving at `now` starts once
    /// the previous one is done and finishes [`SmartNic::processing_time`] later; returns that
    /// finish time.
    pub fn process(&mut self, now: SimTime, bytes: u32) -> SimTime {
        let start = now.max(self.busy_until);
        self.busy_until = start + self.processing_time(bytes);
        self.busy_until
    }

    /// Its PCIe link (time for a packet to cross: [`Pcie::crossing_time`]).
    pub fn pcie(&self) -> &Pcie {
        &self.pcie
    }
}

/// A programmable switch's offload budget: table entries, pipeline stages and optionally SRAM,
/// reached through [`OffloadDevice`].
#[derive(Debug)]
pub struct ProgrammableSwitch {
    budget: Budget,
}

/// A programmable switch as scenario files describe it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProgrammableSwitchConfig {
    /// Name used in errors and results.
    pub name: String,
    /// Match-action table entries available to offloads.
    pub table_entries: u64,
    /// Pipeline stages available to offloads.
    pub stages: u64,
    /// SRAM bytes available to offloads (not modelled if absent).
    #[serde(default)]
    pub sram_bytes: Option<u64>,
}

impl ProgrammableSwitchConfig {
    /// Validates and builds the device.
    pub fn build(&self) -> Result<ProgrammableSwitch, OffloadError> {
        if self.stages == 0 {
            return Err(OffloadError::InvalidConfig {
                field: "programmable_switch.stages",
                expected: "at least 1 stage",
                got: "0".into(),
            });
        }
        Ok(ProgrammableSwitch::new(
            &self.name,
            self.table_entries,
            self.stages,
            self.sram_bytes,
        ))
    }
}

impl ProgrammableSwitch {
    /// A switch called `name` with the given offload budget.
    pub fn new(name: &str, table_entries: u64, stages: u64, sram_bytes: Option<u64>) -> Self {
        ProgrammableSwitch {
            budget: Budget::new(
                name,
                [None, None, Some(table_entries), Some(stages), sram_bytes],
            ),
        }
    }
}

/// An offload device in a scenario file: `{ kind = "smart_nic", ... }` or
/// `{ kind = "programmable_switch", ... }`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OffloadDeviceConfig {
    /// A SmartNIC.
    SmartNic(SmartNicConfig),
    /// A programmable switch.
    ProgrammableSwitch(ProgrammableSwitchConfig),
}

#[cfg(test)]
mod tests;
