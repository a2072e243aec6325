//! Validated, executable form of an installed program and the interpreter.
//!
//! An INSTALL_EXPR arrives as a typed [`crate::program::Program`]: its opcodes and register
//! kinds were checked by the decoder. Here it is checked once more, when it is installed:
//! counts, register indices (and writes to read-only registers), expression ranges and DEF
//! operands. Whatever passes is lowered to one flat register-file index per operand, so the
//! per-ACK loop does no bounds or kind dispatch beyond one `match` on the operation and one
//! per operand.

use super::InvokeError;
use crate::program::{implicit, primitive, Op, Reg, RegKind};
use crate::wire;
use netrt::Instant;

// Flat register file layout.
pub(crate) const REPORT_BASE: usize = 0;
pub(crate) const CONTROL_BASE: usize = REPORT_BASE + wire::MAX_REPORT_REGS;
pub(crate) const IMPL_BASE: usize = CONTROL_BASE + wire::MAX_CONTROL_REGS;
pub(crate) const TMP_BASE: usize = IMPL_BASE + wire::MAX_IMPLICIT_REGS;
pub(crate) const LOCAL_BASE: usize = TMP_BASE + wire::MAX_TMP_REGS;
pub(crate) const PRIM_BASE: usize = LOCAL_BASE + wire::MAX_LOCAL_REGS;
const NUM_PRIMS: usize = primitive::COUNT as usize;
/// Size of the flat register file.
pub(crate) const FILE_LEN: usize = PRIM_BASE + NUM_PRIMS;

/// The file slot of implicit register `i` (an [`implicit`] index).
const fn implicit_slot(i: u32) -> usize {
    IMPL_BASE + i as usize
}

/// The file slot of primitive register `i` (a [`primitive`] index below its count).
pub(crate) const fn prim_slot(i: u32) -> usize {
    PRIM_BASE + i as usize
}

pub(crate) const FLAG: usize = implicit_slot(implicit::EXPR_FLAG);
pub(crate) const FALLTHROUGH: usize = implicit_slot(implicit::SHOULD_FALLTHROUGH);
pub(crate) const REPORT: usize = implicit_slot(implicit::SHOULD_REPORT);
pub(crate) const MICROS: usize = implicit_slot(implicit::US_ELAPSED);
pub(crate) const CWND: usize = implicit_slot(implicit::CWND);
pub(crate) const RATE: usize = implicit_slot(implicit::RATE);

/// libccp's "infinity" marker in a DEF, and what it stands for.
const DEF_INFINITY_MARKER: u64 = 0x3fff_ffff;
const DEF_INFINITY_VALUE: u64 = u32::MAX as u64;

/// Why an INSTALL_EXPR was refused.
///
/// (An unknown opcode or register kind never gets this far: the wire decoder refuses it with
/// [`crate::program::ProgramError`].)
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
    /// A register index outside the register file, or a write to a read-only register
    /// (an immediate or a primitive).
    #[error("instruction {index}: invalid {operand} register {reg}")]
    BadRegister {
        /// Instruction index.
        index: usize,
        /// `"result"`, `"left"` or `"right"`.
        operand: &'static str,
        /// The register as the program names it.
        reg: Reg,
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

/// An operand, lowered: an immediate value or a slot of the flat register file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Src {
    Imm(u64),
    Reg(u16),
}

/// An instruction, lowered. `Op::Def` executes as a no-op (its work is done at install).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Instr {
    pub op: Op,
    /// Destination slot in the flat file (MICROS means "rebase the Micros clock").
    pub dst: u16,
    pub a: Src,
    pub b: Src,
}

/// An expression, lowered: half-open instruction ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expr {
    pub cond: (u16, u16),
    pub body: (u16, u16),
}

/// A default-value assignment from the DEF preamble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Def {
    pub reg: u16,
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

/// The operand `r` lowered, or `None` if it is outside the register file or (`is_result`)
/// not writable.
fn reg_slot(r: Reg, is_result: bool) -> Option<Src> {
    let i = r.index as usize;
    let slot = |base: usize, n: usize| (i < n).then(|| Src::Reg((base + i) as u16));
    match r.kind {
        RegKind::Immediate if !is_result => Some(Src::Imm(u64::from(r.index))),
        RegKind::NonVolatileControl | RegKind::VolatileControl => {
            slot(CONTROL_BASE, wire::MAX_CONTROL_REGS)
        }
        RegKind::VolatileReport | RegKind::NonVolatileReport => {
            slot(REPORT_BASE, wire::MAX_REPORT_REGS)
        }
        RegKind::Tmp => slot(TMP_BASE, wire::MAX_TMP_REGS),
        RegKind::Local => slot(LOCAL_BASE, wire::MAX_LOCAL_REGS),
        RegKind::Implicit => slot(IMPL_BASE, wire::MAX_IMPLICIT_REGS),
        // libccp reads an unknown primitive index as 0.
        RegKind::Primitive if !is_result => Some(if i < NUM_PRIMS {
            Src::Reg((PRIM_BASE + i) as u16)
        } else {
            Src::Imm(0)
        }),
        RegKind::Immediate | RegKind::Primitive => None,
    }
}

impl Program {
    /// Validates and lowers an INSTALL_EXPR.
    pub(crate) fn build(raw: wire::InstallExpr) -> Result<Program, InvalidProgram> {
        let exprs = &raw.program.expressions;
        let instrs = &raw.program.instrs;
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
            let bad = |operand, reg: Reg| InvalidProgram::BadRegister {
                index,
                operand,
                reg,
            };
            let dst = match reg_slot(ins.res, true) {
                Some(Src::Reg(i)) => i,
                _ => return Err(bad("result", ins.res)),
            };
            let a = reg_slot(ins.left, false).ok_or_else(|| bad("left", ins.left))?;
            let b = reg_slot(ins.right, false).ok_or_else(|| bad("right", ins.right))?;
            if ins.op == Op::Def && in_preamble {
                let kind = ins.left.kind;
                if kind.is_report() || kind.is_control() {
                    let Src::Reg(reg) = a else {
                        return Err(bad("left", ins.left));
                    };
                    if ins.right.kind != RegKind::Immediate {
                        return Err(InvalidProgram::BadDef { index });
                    }
                    let v = u64::from(ins.right.index);
                    let value = if v == DEF_INFINITY_MARKER {
                        DEF_INFINITY_VALUE
                    } else {
                        v
                    };
                    let def = Def { reg, value };
                    if kind.is_report() {
                        num_to_return += 1;
                    }
                    if kind.is_volatile() {
                        volatile_defs.push(def);
                    } else {
                        init_defs.push(def);
                    }
                }
            } else if ins.op != Op::Def {
                in_preamble = false;
            }
            out.push(Instr {
                op: ins.op,
                dst,
                a,
                b,
            });
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
        Op::Def => return Ok(()),
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
