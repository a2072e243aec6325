//! The runtime's message plumbing: MEASURE encoding without allocation, UPDATE_FIELDS read in
//! place, update validation and staging, and loading the primitives into the register file.

use super::exec::{self, prim_slot};
use super::{MessageError, Primitives, Staged};
use crate::program::{implicit, primitive as prim, Reg, RegKind};
use crate::wire::{self, UpdateField};

/// Encodes a MEASURE without building a [`Measure`] (no allocation on the report path).
pub(super) fn write_measure(out: &mut Vec<u8>, sid: u32, uid: u32, fields: &[u64]) {
    let len = wire::HEADER_LEN + 8 + 8 * fields.len();
    out.reserve(len);
    out.extend_from_slice(&wire::msg_type::MEASURE.to_le_bytes());
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&sid.to_le_bytes());
    out.extend_from_slice(&uid.to_le_bytes());
    out.extend_from_slice(&(fields.len() as u32).to_le_bytes());
    for f in fields {
        out.extend_from_slice(&f.to_le_bytes());
    }
}

#[inline(always)]
pub(super) fn load_prims(file: &mut [u64; exec::FILE_LEN], p: &Primitives, since_start_us: u64) {
    file[prim_slot(prim::ACK_BYTES_ACKED)] = u64::from(p.bytes_acked);
    file[prim_slot(prim::ACK_BYTES_MISORDERED)] = u64::from(p.bytes_misordered);
    file[prim_slot(prim::ACK_ECN_BYTES)] = u64::from(p.ecn_bytes);
    file[prim_slot(prim::ACK_ECN_PACKETS)] = u64::from(p.ecn_packets);
    file[prim_slot(prim::ACK_LOST_PKTS_SAMPLE)] = u64::from(p.lost_pkts_sample);
    file[prim_slot(prim::ACK_NOW)] = since_start_us;
    file[prim_slot(prim::ACK_PACKETS_ACKED)] = u64::from(p.packets_acked);
    file[prim_slot(prim::ACK_PACKETS_MISORDERED)] = u64::from(p.packets_misordered);
    file[prim_slot(prim::FLOW_BYTES_IN_FLIGHT)] = u64::from(p.bytes_in_flight);
    file[prim_slot(prim::FLOW_BYTES_PENDING)] = u64::from(p.bytes_pending);
    file[prim_slot(prim::FLOW_PACKETS_IN_FLIGHT)] = u64::from(p.packets_in_flight);
    file[prim_slot(prim::FLOW_RATE_INCOMING)] = p.rate_incoming;
    file[prim_slot(prim::FLOW_RATE_OUTGOING)] = p.rate_outgoing;
    file[prim_slot(prim::FLOW_RTT_SAMPLE_US)] = if p.rtt_sample.is_zero() {
        u64::from(u32::MAX)
    } else {
        p.rtt_sample.as_micros()
    };
    file[prim_slot(prim::FLOW_WAS_TIMEOUT)] = u64::from(p.was_timeout);
}

/// If `buf` starts with a well-formed UPDATE_FIELDS (one [`Msg::decode`] accepts), its socket
/// id and number of updates.
pub(super) fn update_fields_in_place(buf: &[u8]) -> Option<(u32, usize)> {
    let h = buf.get(..wire::HEADER_LEN + 4)?;
    if u16::from_le_bytes([h[0], h[1]]) != wire::msg_type::UPDATE_FIELDS {
        return None;
    }
    let len = usize::from(u16::from_le_bytes([h[2], h[3]]));
    let sid = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    let n = u32::from_le_bytes([h[8], h[9], h[10], h[11]]) as usize;
    if n > wire::MAX_UPDATES || len != wire::HEADER_LEN + 4 + wire::UPDATE_LEN * n {
        return None;
    }
    let body = buf.get(wire::HEADER_LEN + 4..len)?;
    let kinds_ok = body
        .chunks_exact(wire::UPDATE_LEN)
        .all(|u| RegKind::from_u8(u[0]).is_some());
    kinds_ok.then_some((sid, n))
}

/// The `n` updates of an UPDATE_FIELDS [`update_fields_in_place`] accepted.
pub(super) fn read_updates(buf: &[u8], n: usize) -> impl Iterator<Item = UpdateField> + '_ {
    let start = wire::HEADER_LEN + 4;
    buf[start..start + wire::UPDATE_LEN * n]
        .chunks_exact(wire::UPDATE_LEN)
        .filter_map(|u| {
            let kind = RegKind::from_u8(u[0])?;
            let index = u32::from_le_bytes([u[1], u[2], u[3], u[4]]);
            let value = u64::from_le_bytes(u[5..13].try_into().ok()?);
            Some(UpdateField {
                reg: Reg::new(kind, index),
                value,
            })
        })
}

pub(super) fn validate_updates(
    updates: impl IntoIterator<Item = UpdateField>,
) -> Result<Staged, MessageError> {
    let mut s = Staged::default();
    for (index, u) in updates.into_iter().enumerate() {
        let reg = u.reg;
        match reg.kind {
            k if k.is_control() && (reg.index as usize) < wire::MAX_CONTROL_REGS => {
                s.control.push((reg.index as u16, u.value));
            }
            RegKind::Implicit if reg.index == implicit::CWND => s.cwnd = Some(u.value),
            RegKind::Implicit if reg.index == implicit::RATE => s.rate = Some(u.value),
            // libccp accepts and ignores other implicit registers.
            RegKind::Implicit if (reg.index as usize) < wire::MAX_IMPLICIT_REGS => {}
            _ => return Err(MessageError::BadUpdate { index, reg }),
        }
    }
    Ok(s)
}

pub(super) fn merge(into: &mut Staged, from: Staged) {
    into.control.extend(from.control);
    if from.cwnd.is_some() {
        into.cwnd = from.cwnd;
    }
    if from.rate.is_some() {
        into.rate = from.rate;
    }
}
