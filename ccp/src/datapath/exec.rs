//! Validated, executable form of an installed program and the interpreter.
//!
//! An INSTALL_EXPR is checked once, when it arrives: counts, opcodes, register types and
//! indices, expression ranges and DEF operands. Whatever passes is lowered to a flat register
//! file index per operand, so the per-ACK loop does no bounds or type dispatch beyond one
//! `match` per operand.

use super::InvokeError;
use crate::wire;
use netrt::Instant;

/// Register type codes, as libccp numbers them.
pub(crate) mod reg_type {
    pub const NONVOLATILE_CONTROL: u8 = 0;
    pub const IMMEDIATE: u8 = 1;
    pub const IMPLICIT: u8 = 2;
    pub const LOCAL: u8 = 3;
    pub const PRIMITIVE: u8 = 4;
    pub const VOLATILE_REPORT: u8 = 5;
    pub const NONVOLATILE_REPORT: u8 = 6;
    pub const TMP: u8 = 7;
    pub const VOLATILE_CONTROL: u8 = 8;
}

/// Opcodes, as libccp numbers them.
pub(crate) mod opcode {
    pub const ADD: u8 = 0;
    pub const BIND: u8 = 1;
    pub const DEF: u8 = 2;
    pub const DIV: u8 = 3;
    pub const EQUIV: u8 = 4;
    pub const EWMA: u8 = 5;
    pub const GT: u8 = 6;
    pub const IF: u8 = 7;
    pub const LT: u8 = 8;
    pub const MAX: u8 = 9;
    pub const MAXWRAP: u8 = 10;
    pub const MIN: u8 = 11;
    pub const MUL: u8 = 12;
    pub const NOTIF: u8 = 13;
    pub const SUB: u8 = 14;
}

/// Implicit register indices.
pub(crate) mod implicit {
    pub const EXPR_FLAG: usize = 0;
    pub const SHOULD_FALLTHROUGH: usize = 1;
    pub const SHOULD_REPORT: usize = 2;
    pub const US_ELAPSED: usize = 3;
    pub const CWND: usize = 4;
    pub const RATE: usize = 5;
}

// Flat register file layout.
pub(crate) const REPORT_BASE: usize = 0;
pub(crate) const CONTROL_BASE: usize = REPORT_BASE + wire::MAX_REPORT_REGS;
pub(crate) const IMPL_BASE: usize = CONTROL_BASE + wire::MAX_CONTROL_REGS;
pub(crate) const TMP_BASE: usize = IMPL_BASE + wire::MAX_IMPLICIT_REGS;
pub(crate) const LOCAL_BASE: usize = TMP_BASE + wire::MAX_TMP_REGS;
pub(crate) const PRIM_BASE: usize = LOCAL_BASE + wire::MAX_LOCAL_REGS;
pub(crate) const NUM_PRIMS: usize = 15;
/// Size of the flat register file.
pub(crate) const FILE_LEN: usize = PRIM_BASE + NUM_PRIMS;

pub(crate) const FLAG: usize = IMPL_BASE + implicit::EXPR_FLAG;
pub(crate) const FALLTHROUGH: usize = IMPL_BASE + implicit::SHOULD_FALLTHROUGH;
pub(crate) const REPORT: usize = IMPL_BASE + implicit::SHOULD_REPORT;
pub(crate) const MICROS: usize = IMPL_BASE + implicit::US_ELAPSED;
pub(crate) const CWND: usize = IMPL_BASE + implicit::CWND;
pub(crate) const RATE: usize = IMPL_BASE + implicit::RATE;

/// libccp's "infinity" marker in a DEF, and what it stands for.
pub(crate) const DEF_INFINITY_MARKER: u64 = 0x3fff_ffff;
pub(crate) const DEF_INFINITY_VALUE: u64 = u32::MAX as u64;

/// One register reference as carried on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawReg {
    pub reg_type: u8,
    pub value: u32,
}

/// One instruction as carried on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawInstr {
    pub op: u8,
    pub ret: RawReg,
    pub left: RawReg,
    pub right: RawReg,
}

/// One expression as carried on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct RawExpr {
    pub cond_start: u32,
    pub num_cond: u32,
    pub body_start: u32,
    pub num_body: u32,
}

/// Why an INSTALL_EXPR was refused.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidProgram {
    /// More expressions or instructions than libccp's limits.
    #[error("{what}: {count} exceeds the limit of {max}")]
    TooMany {
        /// What is counted.
        what: &'static str,
        /// The count.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Unknown opcode.
    #[error("instruction {index}: unknown opcode {opcode}")]
    BadOpcode {
        /// Instruction index.
        index: usize,
        /// Opcode.
        opcode: u8,
    },
    /// A register type or index outside the register file, or a write to a read-only register.
    #[error(
        "instruction {index}: invalid {operand} register (type {reg_type}, index {reg_index})"
    )]
    BadRegister {
        /// Instruction index.
        index: usize,
        /// `"result"`, `"left"` or `"right"`.
        operand: &'static str,
        /// Register type.
        reg_type: u8,
        /// Register index.
        reg_index: u32,
    },
    /// A DEF whose default value is not an immediate.
    #[error("instruction {index}: DEF default must be an immediate")]
    BadDef {
        /// Instruction index.
        index: usize,
    },
    /// An expression refers to instructions past the end of the program.
    #[error(
        "expression {index}: instruction range past the program's {num_instructions} instructions"
    )]
    BadExpression {
        /// Expression index.
        index: usize,
        /// Number of instructions in the program.
        num_instructions: usize,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Bind,
    Nop,
    Div,
    Equiv,
    Ewma,
    Gt,
    If,
    Lt,
    Max,
    MaxWrap,
    Min,
    Mul,
    NotIf,
    Sub,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    Imm(u64),
    Reg(u16),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Instr {
    pub op: Op,
    /// Destination index in the flat file (MICROS means "rebase the Micros clock").
    pub dst: u16,
    pub a: Src,
    pub b: Src,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expr {
    pub cond: (u16, u16),
    pub body: (u16, u16),
}

/// A default-value assignment from the DEF preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Def {
    pub reg: u16,
    pub reg_type: u8,
    pub value: u64,
}

/// An installed, validated program.
#[derive(Debug)]
pub(crate) struct Program {
    pub uid: u32,
    pub raw: wire::InstallExpr,
    pub exprs: Vec<Expr>,
    pub instrs: Vec<Instr>,
    /// Volatile report and volatile control DEFs (reset after each report and on switch).
    pub volatile_defs: Vec<Def>,
    /// Non-volatile control and report DEFs (set on switch).
    pub init_defs: Vec<Def>,
    /// Number of report registers sent in a MEASURE.
    pub num_to_return: usize,
    pub retired: std::sync::atomic::AtomicBool,
}

fn reg_slot(r: RawReg, is_result: bool) -> Option<Src> {
    let i = r.value as usize;
    let slot = |base: usize, n: usize| (i < n).then(|| Src::Reg((base + i) as u16));
    match r.reg_type {
        reg_type::IMMEDIATE if !is_result => Some(Src::Imm(u64::from(r.value))),
        reg_type::NONVOLATILE_CONTROL | reg_type::VOLATILE_CONTROL => {
            slot(CONTROL_BASE, wire::MAX_CONTROL_REGS)
        }
        reg_type::VOLATILE_REPORT | reg_type::NONVOLATILE_REPORT => {
            slot(REPORT_BASE, wire::MAX_REPORT_REGS)
        }
        reg_type::TMP => slot(TMP_BASE, wire::MAX_TMP_REGS),
        reg_type::LOCAL => slot(LOCAL_BASE, wire::MAX_LOCAL_REGS),
        reg_type::IMPLICIT => slot(IMPL_BASE, wire::MAX_IMPLICIT_REGS),
        // libccp reads an unknown primitive index as 0.
        reg_type::PRIMITIVE if !is_result => Some(if i < NUM_PRIMS {
            Src::Reg((PRIM_BASE + i) as u16)
        } else {
            Src::Imm(0)
        }),
        _ => None,
    }
}

impl Program {
    /// Validates and lowers a program.
    pub(crate) fn build(
        raw: wire::InstallExpr,
        exprs: &[RawExpr],
        instrs: &[RawInstr],
    ) -> Result<Program, InvalidProgram> {
        if exprs.len() > wire::MAX_EXPRESSIONS {
            return Err(InvalidProgram::TooMany {
                what: "expressions",
                count: exprs.len(),
                max: wire::MAX_EXPRESSIONS,
            });
        }
        if instrs.len() > wire::MAX_INSTRUCTIONS {
            return Err(InvalidProgram::TooMany {
                what: "instructions",
                count: instrs.len(),
                max: wire::MAX_INSTRUCTIONS,
            });
        }
        let mut out = Vec::with_capacity(instrs.len());
        let mut volatile_defs = Vec::new();
        let mut init_defs = Vec::new();
        let mut num_to_return = 0usize;
        let mut in_preamble = true;
        for (index, ins) in instrs.iter().enumerate() {
            let op = match ins.op {
                opcode::ADD => Op::Add,
                opcode::BIND => Op::Bind,
                opcode::DEF => Op::Nop,
                opcode::DIV => Op::Div,
                opcode::EQUIV => Op::Equiv,
                opcode::EWMA => Op::Ewma,
                opcode::GT => Op::Gt,
                opcode::IF => Op::If,
                opcode::LT => Op::Lt,
                opcode::MAX => Op::Max,
                opcode::MAXWRAP => Op::MaxWrap,
                opcode::MIN => Op::Min,
                opcode::MUL => Op::Mul,
                opcode::NOTIF => Op::NotIf,
                opcode::SUB => Op::Sub,
                opcode => return Err(InvalidProgram::BadOpcode { index, opcode }),
            };
            let bad = |operand, r: RawReg| InvalidProgram::BadRegister {
                index,
                operand,
                reg_type: r.reg_type,
                reg_index: r.value,
            };
            let dst = match reg_slot(ins.ret, true) {
                Some(Src::Reg(i)) => i,
                _ => return Err(bad("result", ins.ret)),
            };
            let a = reg_slot(ins.left, false).ok_or_else(|| bad("left", ins.left))?;
            let b = reg_slot(ins.right, false).ok_or_else(|| bad("right", ins.right))?;
            if ins.op == opcode::DEF && in_preamble {
                let t = ins.left.reg_type;
                let relevant = matches!(
                    t,
                    reg_type::NONVOLATILE_REPORT
                        | reg_type::VOLATILE_REPORT
                        | reg_type::VOLATILE_CONTROL
                        | reg_type::NONVOLATILE_CONTROL
                );
                if relevant {
                    let Src::Reg(reg) = a else {
                        return Err(bad("left", ins.left));
                    };
                    if ins.right.reg_type != reg_type::IMMEDIATE {
                        return Err(InvalidProgram::BadDef { index });
                    }
                    let v = u64::from(ins.right.value);
                    let value = if v == DEF_INFINITY_MARKER {
                        DEF_INFINITY_VALUE
                    } else {
                        v
                    };
                    let def = Def {
                        reg,
                        reg_type: t,
                        value,
                    };
                    match t {
                        reg_type::VOLATILE_REPORT => {
                            num_to_return += 1;
                            volatile_defs.push(def);
                        }
                        reg_type::NONVOLATILE_REPORT => {
                            num_to_return += 1;
                            init_defs.push(def);
                        }
                        reg_type::VOLATILE_CONTROL => volatile_defs.push(def),
                        _ => init_defs.push(def),
                    }
                }
            } else if ins.op != opcode::DEF {
                in_preamble = false;
            }
            out.push(Instr { op, dst, a, b });
        }
        // libccp counts report DEFs in a u8 and sends that many registers: more than the
        // register file would be read past its end.
        if num_to_return > wire::MAX_REPORT_REGS {
            return Err(InvalidProgram::TooMany {
                what: "report field definitions",
                count: num_to_return,
                max: wire::MAX_REPORT_REGS,
            });
        }
        let n = instrs.len() as u64;
        let mut lowered = Vec::with_capacity(exprs.len());
        for (index, e) in exprs.iter().enumerate() {
            let ok = |s: u32, k: u32| u64::from(s) + u64::from(k) <= n;
            if !ok(e.cond_start, e.num_cond) || !ok(e.body_start, e.num_body) {
                return Err(InvalidProgram::BadExpression {
                    index,
                    num_instructions: instrs.len(),
                });
            }
            // All four values are <= 256 here.
            lowered.push(Expr {
                cond: (e.cond_start as u16, (e.cond_start + e.num_cond) as u16),
                body: (e.body_start as u16, (e.body_start + e.num_body) as u16),
            });
        }
        Ok(Program {
            uid: raw.program_uid,
            raw,
            exprs: lowered,
            instrs: out,
            volatile_defs,
            init_defs,
            num_to_return,
            retired: std::sync::atomic::AtomicBool::new(false),
        })
    }

    pub(crate) fn is_retired(&self) -> bool {
        self.retired.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Validates and lowers an INSTALL_EXPR.
pub(crate) fn lower(m: wire::InstallExpr) -> Result<Program, InvalidProgram> {
    let exprs: Vec<RawExpr> = m
        .program
        .expressions
        .iter()
        .map(|e| RawExpr {
            cond_start: e.cond_start,
            num_cond: e.num_cond,
            body_start: e.body_start,
            num_body: e.num_body,
        })
        .collect();
    let conv = |r: crate::program::Reg| RawReg {
        reg_type: r.kind.as_u8(),
        value: r.index,
    };
    let instrs: Vec<RawInstr> = m
        .program
        .instrs
        .iter()
        .map(|i| RawInstr {
            op: i.op.as_u8(),
            ret: conv(i.res),
            left: conv(i.left),
            right: conv(i.right),
        })
        .collect();
    Program::build(m, &exprs, &instrs)
}

/// Per-flow register file plus the Micros clock.
#[derive(Clone, Debug)]
pub(crate) struct Regs {
    pub file: [u64; FILE_LEN],
    /// When Micros was last rebased.
    pub time_zero: Instant,
    /// Value Micros had at `time_zero` (µs).
    pub micros_offset: u64,
}

impl Regs {
    pub(crate) fn new(now: Instant) -> Self {
        Regs {
            file: [0; FILE_LEN],
            time_zero: now,
            micros_offset: 0,
        }
    }

    #[inline(always)]
    fn get(&self, s: Src) -> u64 {
        match s {
            Src::Imm(v) => v,
            Src::Reg(i) => self.file[usize::from(i)],
        }
    }

    #[inline(always)]
    fn set(&mut self, dst: u16, v: u64, now: Instant) {
        let d = usize::from(dst);
        if d == MICROS {
            self.time_zero = now;
            self.micros_offset = v;
        }
        self.file[d] = v;
    }

    /// The Micros register at `now`: whole microseconds since `time_zero`, plus the offset.
    pub(crate) fn micros(&self, now: Instant) -> u64 {
        (now - self.time_zero)
            .as_micros()
            .saturating_add(self.micros_offset)
    }

    pub(crate) fn apply_defs(&mut self, defs: &[Def]) {
        for d in defs {
            self.file[usize::from(d.reg)] = d.value;
        }
    }
}

fn max_wrap(a: u64, b: u64) -> u64 {
    let (a32, b32) = (a as u32, b as u32);
    if a == 0 {
        return b;
    }
    if b == 0 {
        return a;
    }
    let dif = |l: u32, r: u32| if r > l { r - l } else { (u32::MAX - l) + r };
    if dif(b32, a32) < dif(a32, b32) {
        u64::from(a32)
    } else {
        u64::from(b32)
    }
}

#[inline(always)]
fn step(regs: &mut Regs, ins: &Instr, now: Instant) -> Result<(), InvokeError> {
    let a = regs.get(ins.a);
    let b = regs.get(ins.b);
    let v = match ins.op {
        Op::Add => a.checked_add(b).ok_or(InvokeError::AddOverflow { a, b })?,
        Op::Sub => a.checked_sub(b).ok_or(InvokeError::SubUnderflow { a, b })?,
        Op::Mul => a.checked_mul(b).ok_or(InvokeError::MulOverflow { a, b })?,
        Op::Div => a.checked_div(b).ok_or(InvokeError::DivByZero { a })?,
        Op::Bind => b,
        Op::Equiv => u64::from(a == b),
        Op::Gt => u64::from(a > b),
        Op::Lt => u64::from(a < b),
        Op::Max => a.max(b),
        Op::Min => a.min(b),
        Op::MaxWrap => max_wrap(a, b),
        Op::If => {
            if a == 0 {
                return Ok(());
            }
            b
        }
        Op::NotIf => {
            if a != 0 {
                return Ok(());
            }
            b
        }
        Op::Ewma => {
            let cur = regs.file[usize::from(ins.dst)];
            if cur == 0 {
                b
            } else {
                let err = InvokeError::EwmaOverflow {
                    weight: a,
                    current: cur,
                    sample: b,
                };
                let old = a.checked_mul(cur).ok_or(err.clone())?;
                let new = 10u64
                    .checked_sub(a)
                    .and_then(|w| w.checked_mul(b))
                    .ok_or(err.clone())?;
                old.checked_add(new).ok_or(err)? / 10
            }
        }
        Op::Nop => return Ok(()),
    };
    regs.set(ins.dst, v, now);
    Ok(())
}

/// Runs all expressions of `prog` once, in order, honouring fallthrough.
#[inline]
pub(crate) fn run(prog: &Program, regs: &mut Regs, now: Instant) -> Result<(), InvokeError> {
    let instrs = &prog.instrs[..];
    for e in &prog.exprs {
        for ins in &instrs[usize::from(e.cond.0)..usize::from(e.cond.1)] {
            step(regs, ins, now)?;
        }
        if regs.file[FLAG] != 0 {
            for ins in &instrs[usize::from(e.body.0)..usize::from(e.body.1)] {
                step(regs, ins, now)?;
            }
            if regs.file[FLAG] != 0 && regs.file[FALLTHROUGH] == 0 {
                break;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn max_wrap_matches_libccp_cases() {
        assert_eq!(max_wrap(0, 7), 7);
        assert_eq!(max_wrap(7, 0), 7);
        assert_eq!(max_wrap(5, 9), 9);
        assert_eq!(max_wrap(9, 5), 9);
        // 0xffff_fff0 -> 0x10 wraps forward: 0x10 is "later".
        assert_eq!(max_wrap(0xffff_fff0, 0x10), 0x10);
        assert_eq!(max_wrap(0x10, 0xffff_fff0), 0x10);
    }
}
