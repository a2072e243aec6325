//! INSTALL_EXPR and field updates: the program-carrying parts of the protocol.

use super::codec::{limit as check_limit, put_u32, put_u64, Reader};
use super::*;

/// One register operand as serialized: a libccp register type and a 32-bit value (an index,
/// or the value itself for an immediate).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct RegMsg {
    /// libccp register type (0 = non-volatile control, 1 = immediate, 2 = implicit, 3 = local,
    /// 4 = primitive, 5 = volatile report, 6 = non-volatile report, 7 = tmp, 8 = volatile control).
    pub reg_type: u8,
    /// Register index, or the immediate value.
    pub value: u32,
}

/// Highest register type code libccp knows.
pub const MAX_REG_TYPE: u8 = 8;
/// Number of opcodes libccp knows (opcodes are `0..NUM_OPCODES`).
pub const NUM_OPCODES: u8 = 15;

/// One instruction as serialized (16 bytes: opcode, then result, left and right operands).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct InstrMsg {
    /// libccp opcode (0 = add, 1 = bind, 2 = def, 3 = div, 4 = equiv, 5 = ewma, 6 = gt, 7 = if,
    /// 8 = lt, 9 = max, 10 = max_wrap, 11 = min, 12 = mul, 13 = not-if, 14 = sub).
    pub opcode: u8,
    /// Result register.
    pub result: RegMsg,
    /// Left operand.
    pub left: RegMsg,
    /// Right operand.
    pub right: RegMsg,
}

/// One expression (`when` clause) as serialized: condition and body instruction ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct ExprMsg {
    /// Index of the first condition instruction.
    pub cond_start_idx: u32,
    /// Number of condition instructions.
    pub num_cond_instrs: u32,
    /// Index of the first body instruction.
    pub event_start_idx: u32,
    /// Number of body instructions.
    pub num_event_instrs: u32,
}

/// INSTALL_EXPR: a compiled program for all flows of a datapath.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct InstallExpr {
    /// Socket id of the header (ignored by datapaths; portus sends 0).
    pub sid: u32,
    /// The program's uid, used by CHANGE_PROG and MEASURE.
    pub program_uid: u32,
    /// The clauses, in evaluation order (at most [`MAX_EXPRESSIONS`]).
    pub expressions: Vec<ExprMsg>,
    /// The instructions, DEF preamble first (at most [`MAX_INSTRUCTIONS`]).
    pub instructions: Vec<InstrMsg>,
}

/// One field update (13 bytes: register type, register index, new value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct UpdateField {
    /// The register to update (control, or implicit 4 = Cwnd / 5 = Rate).
    pub reg: RegMsg,
    /// Its new value.
    pub value: u64,
}

impl UpdateField {
    /// An update of control register `index`.
    pub fn control(index: u32, value: u64) -> Self {
        UpdateField {
            reg: RegMsg {
                reg_type: 0,
                value: index,
            },
            value,
        }
    }
    /// An update of the congestion window.
    pub fn cwnd(value: u64) -> Self {
        UpdateField {
            reg: RegMsg {
                reg_type: 2,
                value: 4,
            },
            value,
        }
    }
    /// An update of the rate.
    pub fn rate(value: u64) -> Self {
        UpdateField {
            reg: RegMsg {
                reg_type: 2,
                value: 5,
            },
            value,
        }
    }
    /// The register type.
    pub fn reg_type(&self) -> u8 {
        self.reg.reg_type
    }
    /// The register index.
    pub fn reg_index(&self) -> u32 {
        self.reg.value
    }
}

pub(super) fn validate_for_encoding(m: &InstallExpr) -> Result<(), EncodeError> {
    if m.expressions.len() > MAX_EXPRESSIONS {
        return Err(EncodeError::TooMany {
            what: "expressions",
            count: m.expressions.len(),
            max: MAX_EXPRESSIONS,
        });
    }
    if m.instructions.len() > MAX_INSTRUCTIONS {
        return Err(EncodeError::TooMany {
            what: "instructions",
            count: m.instructions.len(),
            max: MAX_INSTRUCTIONS,
        });
    }
    Ok(())
}

fn put_reg(out: &mut Vec<u8>, r: RegMsg) {
    out.push(r.reg_type);
    put_u32(out, r.value);
}

pub(super) fn encode_body(m: &InstallExpr, out: &mut Vec<u8>) {
    put_u32(out, m.program_uid);
    put_u32(out, m.expressions.len() as u32);
    put_u32(out, m.instructions.len() as u32);
    for e in &m.expressions {
        put_u32(out, e.cond_start_idx);
        put_u32(out, e.num_cond_instrs);
        put_u32(out, e.event_start_idx);
        put_u32(out, e.num_event_instrs);
    }
    for i in &m.instructions {
        out.push(i.opcode);
        put_reg(out, i.result);
        put_reg(out, i.left);
        put_reg(out, i.right);
    }
}

pub(super) fn encode_updates(updates: &[UpdateField], out: &mut Vec<u8>) {
    for u in updates {
        put_reg(out, u.reg);
        put_u64(out, u.value);
    }
}

fn read_reg(r: &mut Reader<'_>, index: usize) -> Result<RegMsg, DecodeError> {
    let reg_type = r.u8()?;
    let value = r.u32()?;
    if reg_type > MAX_REG_TYPE {
        return Err(DecodeError::BadRegisterType { index, reg_type });
    }
    Ok(RegMsg { reg_type, value })
}

pub(super) fn decode_body(sid: u32, r: &mut Reader<'_>) -> Result<InstallExpr, DecodeError> {
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
    let mut expressions = Vec::with_capacity(ne);
    for _ in 0..ne {
        expressions.push(ExprMsg {
            cond_start_idx: r.u32()?,
            num_cond_instrs: r.u32()?,
            event_start_idx: r.u32()?,
            num_event_instrs: r.u32()?,
        });
    }
    let mut instructions = Vec::with_capacity(ni);
    for index in 0..ni {
        let opcode = r.u8()?;
        if opcode >= NUM_OPCODES {
            return Err(DecodeError::BadOpcode { index, opcode });
        }
        instructions.push(InstrMsg {
            opcode,
            result: read_reg(r, index)?,
            left: read_reg(r, index)?,
            right: read_reg(r, index)?,
        });
    }
    Ok(InstallExpr {
        sid,
        program_uid,
        expressions,
        instructions,
    })
}

pub(super) fn decode_updates(r: &mut Reader<'_>, n: usize) -> Result<Vec<UpdateField>, DecodeError> {
    let mut v = Vec::with_capacity(n);
    for index in 0..n {
        let reg = read_reg(r, index)?;
        let value = r.u64()?;
        v.push(UpdateField { reg, value });
    }
    Ok(v)
}
