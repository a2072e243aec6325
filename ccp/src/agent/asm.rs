//! A tiny assembler for datapath programs, for built-in algorithms and tests.
//!
//! It builds the same instruction shapes portus 0.9 emits (DEF preamble, condition instructions
//! whose last result is the clause flag, body instructions) directly in
//! [`crate::program`] form, without going through the language. [`ProgramBuilder::build`]
//! yields a [`ProgramSpec`] the agent can install.

use super::ProgramSpec;
use crate::program::{implicit, Expression, Instr, NamedReg, Op, Program, Reg, Scope, ValueType};

pub use crate::program::primitive as prim;

/// An immediate operand.
pub fn imm(v: u32) -> Reg {
    Reg::imm(u64::from(v))
}
/// A primitive (see [`mod@prim`]).
pub fn prim(i: u32) -> Reg {
    Reg::primitive(i)
}
/// A temporary register.
pub fn tmp(i: u32) -> Reg {
    Reg::tmp(i)
}
/// The clause flag (implicit 0).
pub fn flag() -> Reg {
    Reg::implicit(implicit::EXPR_FLAG)
}
/// The fallthrough flag (implicit 1).
pub fn fallthrough() -> Reg {
    Reg::implicit(implicit::SHOULD_FALLTHROUGH)
}
/// The report flag (implicit 2).
pub fn should_report() -> Reg {
    Reg::implicit(implicit::SHOULD_REPORT)
}
/// `Micros` (implicit 3).
pub fn micros() -> Reg {
    Reg::implicit(implicit::US_ELAPSED)
}
/// `Cwnd` (implicit 4).
pub fn cwnd() -> Reg {
    Reg::implicit(implicit::CWND)
}
/// `Rate` (implicit 5).
pub fn rate() -> Reg {
    Reg::implicit(implicit::RATE)
}

/// One instruction `res <- op(left, right)`.
pub fn ins(op: Op, res: Reg, left: Reg, right: Reg) -> Instr {
    Instr {
        op,
        res,
        left,
        right,
    }
}

/// `dst := src`, as portus emits it (left = dst, right = src).
pub fn bind(dst: Reg, src: Reg) -> Instr {
    ins(Op::Bind, dst, dst, src)
}

/// Builds a program from a DEF preamble and clauses.
#[derive(Clone, Debug, Default)]
pub struct ProgramBuilder {
    defs: Vec<Instr>,
    clauses: Vec<(Vec<Instr>, Vec<Instr>)>,
    scope: Scope,
    num_report: u32,
    num_control: u32,
}

impl ProgramBuilder {
    /// An empty program.
    pub fn new() -> Self {
        Self::default()
    }

    /// Declares the next report register `Report.<name>` with a default; returns it.
    pub fn report(&mut self, name: &str, default: u32, volatile: bool) -> Reg {
        let reg = Reg::report(self.num_report, volatile);
        self.num_report += 1;
        self.def(format!("Report.{name}"), reg, default);
        reg
    }

    /// Declares the next control register `<name>` with a default; returns it.
    pub fn control(&mut self, name: &str, default: u32, volatile: bool) -> Reg {
        let reg = Reg::control(self.num_control, volatile);
        self.num_control += 1;
        self.def(name.to_owned(), reg, default);
        reg
    }

    fn def(&mut self, name: String, reg: Reg, default: u32) {
        self.defs.push(ins(Op::Def, reg, reg, imm(default)));
        self.scope.named.push(NamedReg {
            name,
            reg,
            ty: ValueType::Num,
            init: Some(u64::from(default)),
        });
    }

    /// Adds a clause: `cond` must leave its truth value in [`flag`].
    pub fn clause(&mut self, cond: Vec<Instr>, body: Vec<Instr>) -> &mut Self {
        self.clauses.push((cond, body));
        self
    }

    /// Adds a clause whose condition is `true`.
    pub fn always(&mut self, body: Vec<Instr>) -> &mut Self {
        self.clause(vec![bind(flag(), imm(1))], body)
    }

    /// Lays out the instructions and expressions.
    pub fn program(&self) -> Program {
        let mut instrs = self.defs.clone();
        let mut expressions = Vec::with_capacity(self.clauses.len());
        for (cond, body) in &self.clauses {
            let c = instrs.len() as u32;
            instrs.extend_from_slice(cond);
            let b = instrs.len() as u32;
            instrs.extend_from_slice(body);
            expressions.push(Expression {
                cond_start: c,
                num_cond: cond.len() as u32,
                body_start: b,
                num_body: body.len() as u32,
            });
        }
        Program {
            expressions,
            instrs,
        }
    }

    /// The program with its names, ready for the agent.
    pub fn build(&self, name: &str) -> ProgramSpec {
        ProgramSpec {
            name: name.to_owned(),
            program: self.program(),
            scope: self.scope.clone(),
        }
    }
}
