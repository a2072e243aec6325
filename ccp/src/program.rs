//! The compiled program representation: exactly the data an INSTALL_EXPR message carries.
//!
//! A datapath program is a list of [`Expression`]s (one per `when` clause) and a flat list of
//! [`Instr`]s. The instruction list starts with one `DEF` instruction per declared report or
//! control field (in the order portus 0.9 emits them), followed, clause by clause, by the
//! clause's condition instructions and then its body instructions. Each [`Expression`] names
//! its condition range and its body range inside the instruction list.
//!
//! Numbering follows libccp 1.2 (`ccp_priv.h`): register kinds ([`RegKind`]), operations
//! ([`Op`]), implicit registers ([`implicit`]) and primitive registers ([`primitive`]).
//!
//! Byte encoding (little-endian, 16 bytes per item, no padding), used in the INSTALL_EXPR body
//! after its 12-byte `program_uid, num_expressions, num_instructions` prefix:
//!
//! | item | layout |
//! |---|---|
//! | [`Expression`] | `u32 cond_start, u32 num_cond, u32 body_start, u32 num_body` |
//! | [`Instr`] | `u8 op, u8 res kind, u32 res index, u8 left kind, u32 left index, u8 right kind, u32 right index` |
//!
//! An immediate register's "index" is its value truncated to 32 bits (portus writes
//! `+infinity` as `0xffff_ffff`).

use std::fmt;

use thiserror::Error;

/// Size of one encoded [`Expression`].
pub const EXPRESSION_BYTES: usize = 16;
/// Size of one encoded [`Instr`].
pub const INSTR_BYTES: usize = 16;

/// Register kinds, numbered as libccp 1.2 numbers them on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum RegKind {
    /// A control field that is not reset on report (`NONVOLATILE_CONTROL_REG`, 0).
    NonVolatileControl = 0,
    /// An immediate value; the index is the value (`IMMEDIATE_REG`, 1).
    Immediate = 1,
    /// An implicit register, see [`implicit`] (`IMPLICIT_REG`, 2).
    Implicit = 2,
    /// A local variable of the program (`LOCAL_REG`, 3).
    Local = 3,
    /// A read-only measurement primitive, see [`primitive`] (`PRIMITIVE_REG`, 4).
    Primitive = 4,
    /// A report field reset to its default after each report (`VOLATILE_REPORT_REG`, 5).
    VolatileReport = 5,
    /// A report field kept across reports (`NONVOLATILE_REPORT_REG`, 6).
    NonVolatileReport = 6,
    /// A temporary register for intermediate results (`TMP_REG`, 7).
    Tmp = 7,
    /// A control field reset to its default after each report (`VOLATILE_CONTROL_REG`, 8).
    VolatileControl = 8,
}

impl RegKind {
    /// The wire number of this kind.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The kind with wire number `b`, if any.
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::NonVolatileControl,
            1 => Self::Immediate,
            2 => Self::Implicit,
            3 => Self::Local,
            4 => Self::Primitive,
            5 => Self::VolatileReport,
            6 => Self::NonVolatileReport,
            7 => Self::Tmp,
            8 => Self::VolatileControl,
            _ => return None,
        })
    }

    /// Whether this is a report register (volatile or not).
    pub const fn is_report(self) -> bool {
        matches!(self, Self::VolatileReport | Self::NonVolatileReport)
    }

    /// Whether this is a control register (volatile or not).
    pub const fn is_control(self) -> bool {
        matches!(self, Self::VolatileControl | Self::NonVolatileControl)
    }

    /// Whether this register is reset to its default value after each report.
    pub const fn is_volatile(self) -> bool {
        matches!(self, Self::VolatileReport | Self::VolatileControl)
    }
}

/// Indices of the implicit registers ([`RegKind::Implicit`]), as libccp 1.2 numbers them.
pub mod implicit {
    /// Set by a clause's condition; the body runs when it is non-zero.
    pub const EXPR_FLAG: u32 = 0;
    /// Set by `(fallthrough)`: continue with the next clause.
    pub const SHOULD_FALLTHROUGH: u32 = 1;
    /// Set by `(report)`: send the report registers.
    pub const SHOULD_REPORT: u32 = 2;
    /// `Micros`: microseconds since the program started (writable: rebases the clock).
    pub const US_ELAPSED: u32 = 3;
    /// `Cwnd`: the congestion window in bytes.
    pub const CWND: u32 = 4;
    /// `Rate`: the pacing rate in bytes per second.
    pub const RATE: u32 = 5;
    /// Number of implicit registers.
    pub const COUNT: u32 = 6;
}

/// Indices of the primitive registers ([`RegKind::Primitive`]), as libccp 1.2 numbers them.
///
/// The language names them in [`primitive::NAMES`], whose position is the index.
pub mod primitive {
    /// `Ack.bytes_acked`.
    pub const ACK_BYTES_ACKED: u32 = 0;
    /// `Ack.bytes_misordered`.
    pub const ACK_BYTES_MISORDERED: u32 = 1;
    /// `Ack.ecn_bytes`.
    pub const ACK_ECN_BYTES: u32 = 2;
    /// `Ack.ecn_packets`.
    pub const ACK_ECN_PACKETS: u32 = 3;
    /// `Ack.lost_pkts_sample`.
    pub const ACK_LOST_PKTS_SAMPLE: u32 = 4;
    /// `Ack.now`.
    pub const ACK_NOW: u32 = 5;
    /// `Ack.packets_acked`.
    pub const ACK_PACKETS_ACKED: u32 = 6;
    /// `Ack.packets_misordered`.
    pub const ACK_PACKETS_MISORDERED: u32 = 7;
    /// `Flow.bytes_in_flight`.
    pub const FLOW_BYTES_IN_FLIGHT: u32 = 8;
    /// `Flow.bytes_pending`.
    pub const FLOW_BYTES_PENDING: u32 = 9;
    /// `Flow.packets_in_flight`.
    pub const FLOW_PACKETS_IN_FLIGHT: u32 = 10;
    /// `Flow.rate_incoming`.
    pub const FLOW_RATE_INCOMING: u32 = 11;
    /// `Flow.rate_outgoing`.
    pub const FLOW_RATE_OUTGOING: u32 = 12;
    /// `Flow.rtt_sample_us`.
    pub const FLOW_RTT_SAMPLE_US: u32 = 13;
    /// `Flow.was_timeout` (the only boolean primitive).
    pub const FLOW_WAS_TIMEOUT: u32 = 14;
    /// Number of primitive registers.
    pub const COUNT: u32 = 15;
    /// Language names of the primitives; the position of a name is its index.
    pub const NAMES: [&str; 15] = [
        "Ack.bytes_acked",
        "Ack.bytes_misordered",
        "Ack.ecn_bytes",
        "Ack.ecn_packets",
        "Ack.lost_pkts_sample",
        "Ack.now",
        "Ack.packets_acked",
        "Ack.packets_misordered",
        "Flow.bytes_in_flight",
        "Flow.bytes_pending",
        "Flow.packets_in_flight",
        "Flow.rate_incoming",
        "Flow.rate_outgoing",
        "Flow.rtt_sample_us",
        "Flow.was_timeout",
    ];
}

/// One register operand: its kind and its index (for immediates, the 32-bit value).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reg {
    /// The register kind.
    pub kind: RegKind,
    /// The register index within its kind, or the value of an immediate.
    pub index: u32,
}

impl Reg {
    /// A register of `kind` at `index`.
    pub const fn new(kind: RegKind, index: u32) -> Self {
        Self { kind, index }
    }

    /// An immediate number. Values of 2^32 and above are truncated to 32 bits, as portus
    /// truncates `+infinity` (`u64::MAX`) to `0xffff_ffff`.
    pub const fn imm(value: u64) -> Self {
        Self::new(RegKind::Immediate, value as u32)
    }

    /// An immediate boolean (1 or 0).
    pub const fn imm_bool(value: bool) -> Self {
        Self::new(RegKind::Immediate, value as u32)
    }

    /// An implicit register; see [`implicit`] for the indices.
    pub const fn implicit(index: u32) -> Self {
        Self::new(RegKind::Implicit, index)
    }

    /// A primitive register; see [`primitive`] for the indices.
    pub const fn primitive(index: u32) -> Self {
        Self::new(RegKind::Primitive, index)
    }

    /// A temporary register.
    pub const fn tmp(index: u32) -> Self {
        Self::new(RegKind::Tmp, index)
    }

    /// A local register.
    pub const fn local(index: u32) -> Self {
        Self::new(RegKind::Local, index)
    }

    /// A report register.
    pub const fn report(index: u32, volatile: bool) -> Self {
        let kind = if volatile {
            RegKind::VolatileReport
        } else {
            RegKind::NonVolatileReport
        };
        Self::new(kind, index)
    }

    /// A control register.
    pub const fn control(index: u32, volatile: bool) -> Self {
        let kind = if volatile {
            RegKind::VolatileControl
        } else {
            RegKind::NonVolatileControl
        };
        Self::new(kind, index)
    }

    /// Encodes as 5 bytes: kind, then the little-endian index.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.kind.as_u8());
        out.extend_from_slice(&self.index.to_le_bytes());
    }

    /// Decodes 5 bytes written by [`Reg::encode_into`].
    pub fn decode(bytes: [u8; 5]) -> Result<Self, ProgramError> {
        let kind = RegKind::from_u8(bytes[0]).ok_or(ProgramError::UnknownRegKind(bytes[0]))?;
        let index = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
        Ok(Self::new(kind, index))
    }
}

/// Operations, numbered as libccp 1.2 numbers them (`ADD` = 0 … `SUB` = 14).
///
/// Every instruction reads `left` and `right` and writes `res`; `Ewma` also reads `res`, and
/// `If`/`NotIf` write `res` only when `left` is non-zero / zero. The language's `and` and `or`
/// compile to `Mul` and `Add` (as portus does).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Op {
    /// `res = left + right`.
    Add = 0,
    /// `res = right`.
    Bind = 1,
    /// Declares `res`'s default value `right`; only at the start of the instruction list.
    Def = 2,
    /// `res = left / right` (integer division).
    Div = 3,
    /// `res = (left == right)`.
    Equiv = 4,
    /// `res = (left * res + (10 - left) * right) / 10`, or `right` when `res` is 0.
    Ewma = 5,
    /// `res = (left > right)`.
    Gt = 6,
    /// `if left { res = right }`.
    If = 7,
    /// `res = (left < right)`.
    Lt = 8,
    /// `res = max(left, right)`.
    Max = 9,
    /// `res = max(left, right)` on 32-bit wrapping sequence numbers.
    MaxWrap = 10,
    /// `res = min(left, right)`.
    Min = 11,
    /// `res = left * right`.
    Mul = 12,
    /// `if left == 0 { res = right }`.
    NotIf = 13,
    /// `res = left - right`.
    Sub = 14,
}

impl Op {
    /// Number of opcodes (`MAX_OP`); every opcode is below it.
    pub const COUNT: u8 = 15;

    /// The wire number of this operation.
    pub const fn as_u8(self) -> u8 {
        self as u8
    }

    /// The operation with wire number `b`, if any.
    pub const fn from_u8(b: u8) -> Option<Self> {
        Some(match b {
            0 => Self::Add,
            1 => Self::Bind,
            2 => Self::Def,
            3 => Self::Div,
            4 => Self::Equiv,
            5 => Self::Ewma,
            6 => Self::Gt,
            7 => Self::If,
            8 => Self::Lt,
            9 => Self::Max,
            10 => Self::MaxWrap,
            11 => Self::Min,
            12 => Self::Mul,
            13 => Self::NotIf,
            14 => Self::Sub,
            _ => return None,
        })
    }
}

/// One instruction: `res = op(left, right)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Instr {
    /// The operation.
    pub op: Op,
    /// The result register.
    pub res: Reg,
    /// The left operand.
    pub left: Reg,
    /// The right operand.
    pub right: Reg,
}

impl Instr {
    /// Encodes as [`INSTR_BYTES`] bytes (see the module docs for the layout).
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        out.push(self.op.as_u8());
        self.res.encode_into(out);
        self.left.encode_into(out);
        self.right.encode_into(out);
    }

    /// Decodes [`INSTR_BYTES`] bytes. Only the opcode and register kinds are checked; which
    /// registers an operation may write is the runtime's business.
    pub fn decode(b: &[u8; INSTR_BYTES]) -> Result<Self, ProgramError> {
        let op = Op::from_u8(b[0]).ok_or(ProgramError::UnknownOpcode(b[0]))?;
        let res = Reg::decode([b[1], b[2], b[3], b[4], b[5]])?;
        let left = Reg::decode([b[6], b[7], b[8], b[9], b[10]])?;
        let right = Reg::decode([b[11], b[12], b[13], b[14], b[15]])?;
        Ok(Self {
            op,
            res,
            left,
            right,
        })
    }
}

/// One `when` clause: where its condition and body instructions are in the instruction list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Expression {
    /// Index of the first condition instruction.
    pub cond_start: u32,
    /// Number of condition instructions (they leave the flag in [`implicit::EXPR_FLAG`]).
    pub num_cond: u32,
    /// Index of the first body instruction.
    pub body_start: u32,
    /// Number of body instructions.
    pub num_body: u32,
}

impl Expression {
    /// Encodes as [`EXPRESSION_BYTES`] bytes: the four fields as little-endian `u32`s.
    pub fn encode_into(&self, out: &mut Vec<u8>) {
        for v in [
            self.cond_start,
            self.num_cond,
            self.body_start,
            self.num_body,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Decodes [`EXPRESSION_BYTES`] bytes. Ranges are not checked here.
    pub fn decode(b: &[u8; EXPRESSION_BYTES]) -> Self {
        let w = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        Self {
            cond_start: w(0),
            num_cond: w(4),
            body_start: w(8),
            num_body: w(12),
        }
    }
}

/// A compiled datapath program: the expressions and instructions of an INSTALL_EXPR message.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Program {
    /// One entry per `when` clause, in source order.
    pub expressions: Vec<Expression>,
    /// `DEF` preamble, then each clause's condition and body instructions.
    pub instrs: Vec<Instr>,
}

impl Program {
    /// Appends the body of an INSTALL_EXPR message after its counts: all expressions, then
    /// all instructions. (Framing, uid and counts are the wire module's business.)
    pub fn encode_body_into(&self, out: &mut Vec<u8>) {
        out.reserve(self.encoded_body_len());
        for e in &self.expressions {
            e.encode_into(out);
        }
        for i in &self.instrs {
            i.encode_into(out);
        }
    }

    /// The body bytes, as [`Program::encode_body_into`] writes them.
    pub fn encode_body(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_body_into(&mut out);
        out
    }

    /// Length in bytes of the encoded body.
    pub fn encoded_body_len(&self) -> usize {
        self.expressions.len() * EXPRESSION_BYTES + self.instrs.len() * INSTR_BYTES
    }

    /// Decodes a body holding exactly `num_expressions` expressions then `num_instrs`
    /// instructions. Allocates only after checking that `body` has exactly that many bytes.
    pub fn decode_body(
        body: &[u8],
        num_expressions: usize,
        num_instrs: usize,
    ) -> Result<Self, ProgramError> {
        let want = num_expressions
            .checked_mul(EXPRESSION_BYTES)
            .and_then(|e| num_instrs.checked_mul(INSTR_BYTES).map(|i| (e, i)))
            .and_then(|(e, i)| e.checked_add(i))
            .ok_or(ProgramError::LengthMismatch {
                expected: usize::MAX,
                actual: body.len(),
            })?;
        if want != body.len() {
            return Err(ProgramError::LengthMismatch {
                expected: want,
                actual: body.len(),
            });
        }
        let (ebytes, ibytes) = body.split_at(num_expressions * EXPRESSION_BYTES);
        let mut expressions = Vec::with_capacity(num_expressions);
        for chunk in ebytes.chunks_exact(EXPRESSION_BYTES) {
            let mut a = [0u8; EXPRESSION_BYTES];
            a.copy_from_slice(chunk);
            expressions.push(Expression::decode(&a));
        }
        let mut instrs = Vec::with_capacity(num_instrs);
        for chunk in ibytes.chunks_exact(INSTR_BYTES) {
            let mut a = [0u8; INSTR_BYTES];
            a.copy_from_slice(chunk);
            instrs.push(Instr::decode(&a)?);
        }
        Ok(Self {
            expressions,
            instrs,
        })
    }
}

impl fmt::Display for Reg {
    /// `imm 5`, `imm +inf` (for `0xffff_ffff`), `Cwnd`, `Micros`, `Ack.now`, `report[2]`,
    /// `vreport[2]` (volatile), `control[0]`, `vcontrol[0]`, `local[1]`, `tmp[0]`, `flag`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.index;
        match self.kind {
            RegKind::Immediate if i == u32::MAX => f.write_str("imm +inf"),
            RegKind::Immediate => write!(f, "imm {i}"),
            RegKind::Implicit => match i {
                implicit::EXPR_FLAG => f.write_str("flag"),
                implicit::SHOULD_FALLTHROUGH => f.write_str("fallthrough"),
                implicit::SHOULD_REPORT => f.write_str("report"),
                implicit::US_ELAPSED => f.write_str("Micros"),
                implicit::CWND => f.write_str("Cwnd"),
                implicit::RATE => f.write_str("Rate"),
                _ => write!(f, "implicit[{i}]"),
            },
            RegKind::Primitive => match primitive::NAMES.get(i as usize) {
                Some(n) => f.write_str(n),
                None => write!(f, "primitive[{i}]"),
            },
            RegKind::Local => write!(f, "local[{i}]"),
            RegKind::Tmp => write!(f, "tmp[{i}]"),
            RegKind::VolatileReport => write!(f, "vreport[{i}]"),
            RegKind::NonVolatileReport => write!(f, "report[{i}]"),
            RegKind::VolatileControl => write!(f, "vcontrol[{i}]"),
            RegKind::NonVolatileControl => write!(f, "control[{i}]"),
        }
    }
}

impl fmt::Display for Op {
    /// The libccp name in lower case: `add`, `bind`, `def`, ... `maxwrap`, `notif`, `sub`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Add => "add",
            Op::Bind => "bind",
            Op::Def => "def",
            Op::Div => "div",
            Op::Equiv => "equiv",
            Op::Ewma => "ewma",
            Op::Gt => "gt",
            Op::If => "if",
            Op::Lt => "lt",
            Op::Max => "max",
            Op::MaxWrap => "maxwrap",
            Op::Min => "min",
            Op::Mul => "mul",
            Op::NotIf => "notif",
            Op::Sub => "sub",
        })
    }
}

impl fmt::Display for Instr {
    /// `res <- op left, right`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} <- {} {}, {}",
            self.res, self.op, self.left, self.right
        )
    }
}

impl fmt::Display for Program {
    /// A numbered listing: the `DEF` preamble, then each clause's condition and body.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let first = self
            .expressions
            .first()
            .map_or(self.instrs.len(), |e| e.cond_start as usize);
        for (n, ins) in self.instrs.iter().enumerate().take(first) {
            writeln!(f, "{n:4}  {ins}")?;
        }
        for (k, e) in self.expressions.iter().enumerate() {
            writeln!(f, "when #{k}:")?;
            let cond =
                e.cond_start as usize..(e.cond_start as usize).saturating_add(e.num_cond as usize);
            let body =
                e.body_start as usize..(e.body_start as usize).saturating_add(e.num_body as usize);
            for (label, range) in [("cond", cond), ("body", body)] {
                for n in range {
                    if let Some(ins) = self.instrs.get(n) {
                        writeln!(f, "{n:4}  {label}  {ins}")?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// The value type of a named field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// An unsigned number.
    Num,
    /// A boolean (stored as 0 or 1).
    Bool,
}

/// A program-defined name and its register: a report or control field, or a local.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NamedReg {
    /// Full name as written in programs, e.g. `Report.acked` or `cwnd_gain`.
    pub name: String,
    /// Its register.
    pub reg: Reg,
    /// Its value type.
    pub ty: ValueType,
    /// Its default value (`DEF`) for report and control fields; `None` for locals.
    pub init: Option<u64>,
}

/// The names a compiled program defines, so that an agent can read report fields by name and
/// update control fields (and `Cwnd`/`Rate`) by name.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Scope {
    /// Report fields, control fields and locals, in register order within each kind.
    pub named: Vec<NamedReg>,
}

impl Scope {
    /// The register `name` refers to: a program-defined name, a primitive, `Micros`, `Cwnd` or
    /// `Rate`.
    pub fn lookup(&self, name: &str) -> Option<Reg> {
        if let Some(n) = self.named.iter().find(|n| n.name == name) {
            return Some(n.reg);
        }
        builtin(name)
    }

    /// The index of report field `name` (with or without its `Report.` prefix) in a MEASURE
    /// message's field list.
    pub fn report_index(&self, name: &str) -> Option<usize> {
        let full = if name.starts_with("Report.") {
            name.to_string()
        } else {
            format!("Report.{name}")
        };
        self.named
            .iter()
            .find(|n| n.name == full && n.reg.kind.is_report())
            .map(|n| n.reg.index as usize)
    }

    /// Report fields in register order.
    pub fn reports(&self) -> impl Iterator<Item = &NamedReg> {
        self.named.iter().filter(|n| n.reg.kind.is_report())
    }

    /// Control fields in register order.
    pub fn controls(&self) -> impl Iterator<Item = &NamedReg> {
        self.named.iter().filter(|n| n.reg.kind.is_control())
    }
}

/// The register of a built-in name (`Ack.*`, `Flow.*`, `Micros`, `Cwnd`, `Rate`), if any.
pub fn builtin(name: &str) -> Option<Reg> {
    match name {
        "Micros" => Some(Reg::implicit(implicit::US_ELAPSED)),
        "Cwnd" => Some(Reg::implicit(implicit::CWND)),
        "Rate" => Some(Reg::implicit(implicit::RATE)),
        _ => primitive::NAMES
            .iter()
            .position(|n| *n == name)
            .map(|i| Reg::primitive(i as u32)),
    }
}

/// Errors decoding program bytes.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ProgramError {
    /// An instruction's opcode is 15 or above.
    #[error("unknown opcode {0}")]
    UnknownOpcode(u8),
    /// A register kind byte is 9 or above.
    #[error("unknown register kind {0}")]
    UnknownRegKind(u8),
    /// The body's length does not match the announced counts.
    #[error("program body is {actual} bytes, counts require {expected}")]
    LengthMismatch {
        /// Bytes the counts require (`usize::MAX` if that overflows).
        expected: usize,
        /// Bytes present.
        actual: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_matches_libccp() {
        for b in 0..=255u8 {
            if let Some(k) = RegKind::from_u8(b) {
                assert_eq!(k.as_u8(), b);
            } else {
                assert!(b > 8);
            }
            if let Some(o) = Op::from_u8(b) {
                assert_eq!(o.as_u8(), b);
            } else {
                assert!(b >= Op::COUNT);
            }
        }
        assert_eq!(builtin("Flow.was_timeout"), Some(Reg::primitive(14)));
        assert_eq!(builtin("Cwnd"), Some(Reg::implicit(4)));
        assert_eq!(builtin("nope"), None);
    }

    #[test]
    fn instr_bytes_match_portus_layout() {
        // portus do_ser_def_max_imm: (def Report.2 volatile +infinity)
        let i = Instr {
            op: Op::Def,
            res: Reg::report(2, true),
            left: Reg::report(2, true),
            right: Reg::imm(u64::MAX),
        };
        let mut v = Vec::new();
        i.encode_into(&mut v);
        assert_eq!(
            v,
            [2, 5, 2, 0, 0, 0, 5, 2, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]
        );
        let mut a = [0u8; 16];
        a.copy_from_slice(&v);
        assert_eq!(
            Instr::decode(&a),
            Ok(Instr {
                right: Reg::imm(0xffff_ffff),
                ..i
            })
        );
    }

    #[test]
    fn display_listing() {
        let i = Instr {
            op: Op::Ewma,
            res: Reg::report(1, true),
            left: Reg::imm(2),
            right: Reg::primitive(primitive::FLOW_RTT_SAMPLE_US),
        };
        assert_eq!(
            i.to_string(),
            "vreport[1] <- ewma imm 2, Flow.rtt_sample_us"
        );
        assert_eq!(Reg::imm(u64::MAX).to_string(), "imm +inf");
        assert_eq!(Reg::implicit(implicit::CWND).to_string(), "Cwnd");
        let p = Program {
            expressions: vec![Expression {
                cond_start: 1,
                num_cond: 1,
                body_start: 2,
                num_body: 1,
            }],
            instrs: vec![i, i, i],
        };
        let text = p.to_string();
        assert_eq!(text.lines().count(), 4);
        assert!(text.contains("when #0:") && text.contains("   2  body  vreport[1]"));
    }

    #[test]
    fn body_roundtrip_and_errors() {
        let p = Program {
            expressions: vec![Expression {
                cond_start: 1,
                num_cond: 1,
                body_start: 2,
                num_body: 1,
            }],
            instrs: vec![
                Instr {
                    op: Op::Def,
                    res: Reg::report(0, true),
                    left: Reg::report(0, true),
                    right: Reg::imm(0),
                },
                Instr {
                    op: Op::Bind,
                    res: Reg::implicit(0),
                    left: Reg::implicit(0),
                    right: Reg::imm_bool(true),
                },
                Instr {
                    op: Op::Bind,
                    res: Reg::report(0, true),
                    left: Reg::report(0, true),
                    right: Reg::imm(4),
                },
            ],
        };
        let b = p.encode_body();
        assert_eq!(b.len(), p.encoded_body_len());
        assert_eq!(Program::decode_body(&b, 1, 3), Ok(p));
        assert!(matches!(
            Program::decode_body(&b, 1, 2),
            Err(ProgramError::LengthMismatch { .. })
        ));
        assert_eq!(
            Program::decode_body(&b, usize::MAX, usize::MAX),
            Err(ProgramError::LengthMismatch {
                expected: usize::MAX,
                actual: b.len()
            })
        );
        let mut bad = b.clone();
        bad[16] = 99;
        assert_eq!(
            Program::decode_body(&bad, 1, 3),
            Err(ProgramError::UnknownOpcode(99))
        );
        bad[16] = 1;
        bad[17] = 9;
        assert_eq!(
            Program::decode_body(&bad, 1, 3),
            Err(ProgramError::UnknownRegKind(9))
        );
    }
}
