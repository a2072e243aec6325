//! INSTALL_EXPR and field updates: the program-carrying parts of the protocol.
//!
//! The program itself is [`crate::program::Program`] (expressions and instructions exactly as
//! libccp 1.2 carries them); this module adds the message framing around it.

use super::codec::{limit as check_limit, put_u32, put_u64, Reader};
use super::*;
use crate::program::{implicit, Program, Reg, RegKind};

/// INSTALL_EXPR: a compiled program for all flows of a datapath.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InstallExpr {
    /// Socket id of the header (ignored by datapaths; portus sends 0).
    pub sid: u32,
    /// The program's uid, used by CHANGE_PROG and MEASURE.
    pub program_uid: u32,
    /// The program: at most [`MAX_EXPRESSIONS`] expressions and [`MAX_INSTRUCTIONS`]
    /// instructions.
    pub program: Program,
}

/// One field update (13 bytes: register kind, register index, new value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UpdateField {
    /// The register to update (a control register, or implicit `Cwnd` / `Rate`).
    pub reg: Reg,
    /// Its new value.
    pub value: u64,
}

impl UpdateField {
    /// An update of non-volatile control register `index`.
    pub fn control(index: u32, value: u64) -> Self {
        UpdateField {
            reg: Reg::control(index, false),
            value,
        }
    }
    /// An update of the congestion window.
    pub fn cwnd(value: u64) -> Self {
        UpdateField {
            reg: Reg::implicit(implicit::CWND),
            value,
        }
    }
    /// An update of the rate.
    pub fn rate(value: u64) -> Self {
        UpdateField {
            reg: Reg::implicit(implicit::RATE),
            value,
        }
    }
    /// The register kind's wire number.
    pub fn reg_type(&self) -> u8 {
        self.reg.kind.as_u8()
    }
    /// The register index.
    pub fn reg_index(&self) -> u32 {
        self.reg.index
    }
}

pub(super) fn validate_for_encoding(m: &InstallExpr) -> Result<(), EncodeError> {
    if m.program.expressions.len() > MAX_EXPRESSIONS {
        return Err(EncodeError::TooMany {
            what: "expressions",
            count: m.program.expressions.len(),
            max: MAX_EXPRESSIONS,
        });
    }
    if m.program.instrs.len() > MAX_INSTRUCTIONS {
        return Err(EncodeError::TooMany {
            what: "instructions",
            count: m.program.instrs.len(),
            max: MAX_INSTRUCTIONS,
        });
    }
    Ok(())
}

pub(super) fn encode_body(m: &InstallExpr, out: &mut Vec<u8>) {
    put_u32(out, m.program_uid);
    put_u32(out, m.program.expressions.len() as u32);
    put_u32(out, m.program.instrs.len() as u32);
    m.program.encode_body_into(out);
}

pub(super) fn encode_updates(updates: &[UpdateField], out: &mut Vec<u8>) {
    for u in updates {
        u.reg.encode_into(out);
        put_u64(out, u.value);
    }
}

pub(super) fn decode_body(
    sid: u32,
    r: &mut Reader<'_>,
    body: &[u8],
) -> Result<InstallExpr, DecodeError> {
    let have = r.remaining();
    let program_uid = r.u32()?;
    let ne = check_limit("expressions", r.u32()?, MAX_EXPRESSIONS)?;
    let ni = check_limit("instructions", r.u32()?, MAX_INSTRUCTIONS)?;
    let expected = 12 + EXPRESSION_LEN * ne + INSTRUCTION_LEN * ni;
    if have != expected {
        return Err(DecodeError::SizeMismatch {
            msg_type: msg_type::INSTALL_EXPR,
            have,
            expected,
        });
    }
    let rest = body.get(12..).unwrap_or(&[]);
    let program = Program::decode_body(rest, ne, ni).map_err(DecodeError::Program)?;
    Ok(InstallExpr {
        sid,
        program_uid,
        program,
    })
}

pub(super) fn decode_updates(
    r: &mut Reader<'_>,
    n: usize,
) -> Result<Vec<UpdateField>, DecodeError> {
    let mut v = Vec::with_capacity(n);
    for index in 0..n {
        let reg_type = r.u8()?;
        let reg_index = r.u32()?;
        let value = r.u64()?;
        let kind =
            RegKind::from_u8(reg_type).ok_or(DecodeError::BadRegisterType { index, reg_type })?;
        v.push(UpdateField {
            reg: Reg::new(kind, reg_index),
            value,
        });
    }
    Ok(v)
}
