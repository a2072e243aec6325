//! Type checking and code generation: [`ast::Program`](super::ast::Program) to
//! [`program::Program`](crate::program::Program).
//!
//! Register allocation and instruction order follow portus 0.9 so that the bytes are the same:
//! report fields are numbered grouped-first, then flat `Report.*` fields in source order;
//! control fields in source order; `DEF` instructions are emitted sorted by field name;
//! locals are numbered in order of first assignment; temporaries restart at 0 for each
//! condition and each statement; a condition's last instruction writes the expression flag
//! (or, for a literal condition, a `Bind` does).

use super::ast::{BinOp, Decl, Expr, ExprKind, Literal, Program as Ast};
use super::error::{CompileError, ErrorKind, Pos, Warning, WarningKind};
use crate::program::{
    builtin, implicit, primitive, Expression, Instr, NamedReg, Op, Program, Reg, RegKind, Scope,
    ValueType,
};

/// Most report fields portus 0.9 can serialize.
pub const MAX_REPORT_FIELDS: usize = 16;
/// Most control fields portus 0.9 can serialize.
pub const MAX_CONTROL_FIELDS: usize = 16;
/// Most locals portus 0.9 can serialize.
pub const MAX_LOCALS: usize = 6;
/// Most temporaries libccp 1.2 has.
pub const MAX_TMPS: usize = 8;
/// Most instructions libccp 1.2 accepts.
pub const MAX_INSTRS: usize = 256;
/// Most expressions (`when` clauses) libccp 1.2 accepts.
pub const MAX_CLAUSES: usize = 256;

/// A compiled value: where it is and its type.
#[derive(Clone, Copy, Debug)]
enum Val {
    /// A literal, not yet checked for encodability.
    Imm(u64, ValueType),
    /// A register.
    Reg(Reg, ValueType),
    /// The result of `if`/`!if`/`ewma`: the last instruction, whose result register is still
    /// to be set by the enclosing `:=`.
    Pending(ValueType),
}

impl Val {
    fn ty(self) -> ValueType {
        match self {
            Val::Imm(_, t) | Val::Reg(_, t) | Val::Pending(t) => t,
        }
    }
}

pub(crate) struct Output {
    pub(crate) program: Program,
    pub(crate) scope: Scope,
    pub(crate) warnings: Vec<Warning>,
}

struct Compiler {
    named: Vec<NamedReg>,
    instrs: Vec<Instr>,
    ntmp: usize,
    nlocal: usize,
    warnings: Vec<Warning>,
}

fn imm_reg(v: u64, pos: Pos) -> Result<Reg, CompileError> {
    if v == u64::MAX || v < (1 << 31) {
        Ok(Reg::imm(v))
    } else {
        Err(CompileError::at(pos, ErrorKind::ImmediateTooLarge(v)))
    }
}

fn lit_ty(l: Literal) -> (u64, ValueType) {
    match l {
        Literal::Num(n) => (n, ValueType::Num),
        Literal::Bool(b) => (u64::from(b), ValueType::Bool),
    }
}

pub(crate) fn compile(ast: &Ast, overrides: &[(&str, u64)]) -> Result<Output, CompileError> {
    let mut c = Compiler {
        named: Vec::new(),
        instrs: Vec::new(),
        ntmp: 0,
        nlocal: 0,
        warnings: Vec::new(),
    };
    c.declare(&ast.decls, overrides)?;
    if ast.clauses.len() > MAX_CLAUSES {
        let pos = ast.clauses[MAX_CLAUSES].pos;
        return Err(CompileError::at(
            pos,
            ErrorKind::ProgramTooLarge {
                what: "when clauses",
                limit: MAX_CLAUSES,
            },
        ));
    }
    let mut expressions = Vec::with_capacity(ast.clauses.len());
    for clause in &ast.clauses {
        let cond_start = c.instrs.len();
        c.ntmp = 0;
        let v = c.expr(&clause.cond)?;
        let flag = Reg::implicit(implicit::EXPR_FLAG);
        match v {
            Val::Reg(r, ValueType::Bool) if r.kind == RegKind::Tmp => {
                if let Some(last) = c.instrs.last_mut() {
                    last.res = flag;
                }
            }
            Val::Imm(b, ValueType::Bool) => c.instrs.push(Instr {
                op: Op::Bind,
                res: flag,
                left: flag,
                right: Reg::imm(b),
            }),
            Val::Imm(_, ValueType::Num) | Val::Reg(_, ValueType::Num) => {
                return Err(CompileError::at(
                    clause.cond.pos,
                    ErrorKind::Type {
                        context: "a `when` condition".into(),
                        expected: ValueType::Bool,
                        found: ValueType::Num,
                    },
                ))
            }
            _ => return Err(CompileError::at(clause.cond.pos, ErrorKind::BadCondition)),
        }
        let body_start = c.instrs.len();
        for stmt in &clause.body {
            c.ntmp = 0;
            c.statement(stmt)?;
            if c.instrs.len() > MAX_INSTRS {
                return Err(CompileError::at(
                    stmt.pos,
                    ErrorKind::ProgramTooLarge {
                        what: "instructions",
                        limit: MAX_INSTRS,
                    },
                ));
            }
        }
        if c.instrs.len() > MAX_INSTRS {
            return Err(CompileError::at(
                clause.pos,
                ErrorKind::ProgramTooLarge {
                    what: "instructions",
                    limit: MAX_INSTRS,
                },
            ));
        }
        expressions.push(Expression {
            cond_start: cond_start as u32,
            num_cond: (body_start - cond_start) as u32,
            body_start: body_start as u32,
            num_body: (c.instrs.len() - body_start) as u32,
        });
    }
    Ok(Output {
        program: Program {
            expressions,
            instrs: c.instrs,
        },
        scope: Scope { named: c.named },
        warnings: c.warnings,
    })
}

impl Compiler {
    fn declare(&mut self, decls: &[Decl], overrides: &[(&str, u64)]) -> Result<(), CompileError> {
        let mut seen = std::collections::HashSet::with_capacity(decls.len());
        for d in decls {
            if builtin(&d.name).is_some() {
                return Err(CompileError::at(
                    d.pos,
                    ErrorKind::ShadowsBuiltin(d.name.clone()),
                ));
            }
            if !seen.insert(d.name.as_str()) {
                return Err(CompileError::at(
                    d.pos,
                    ErrorKind::Duplicate(d.name.clone()),
                ));
            }
        }
        let mut ovr: Vec<Option<u64>> = vec![None; decls.len()];
        for &(name, value) in overrides {
            let i = decls
                .iter()
                .position(|d| d.name == name)
                .ok_or_else(|| CompileError {
                    pos: None,
                    kind: ErrorKind::UnknownOverride(name.into()),
                })?;
            if matches!(decls[i].init, Literal::Bool(_)) && value > 1 {
                return Err(CompileError {
                    pos: None,
                    kind: ErrorKind::OverrideNotBool {
                        name: name.into(),
                        value,
                    },
                });
            }
            if !(value == u64::MAX || value < (1 << 31)) {
                return Err(CompileError {
                    pos: None,
                    kind: ErrorKind::ImmediateTooLarge(value),
                });
            }
            ovr[i] = Some(value);
        }
        // Register numbering: grouped reports, flat reports, controls (portus's order).
        let order = decls
            .iter()
            .enumerate()
            .filter(|(_, d)| d.grouped)
            .chain(decls.iter().enumerate().filter(|(_, d)| !d.grouped));
        let (mut nrep, mut nctl) = (0usize, 0usize);
        let mut defs: Vec<(&str, NamedReg, Pos)> = Vec::new();
        for (i, d) in order {
            let reg = if d.is_report() {
                nrep += 1;
                if nrep > MAX_REPORT_FIELDS {
                    return Err(CompileError::at(
                        d.pos,
                        ErrorKind::TooManyRegisters {
                            kind: "report",
                            limit: MAX_REPORT_FIELDS,
                        },
                    ));
                }
                Reg::report(nrep as u32 - 1, d.volatile)
            } else {
                nctl += 1;
                if nctl > MAX_CONTROL_FIELDS {
                    return Err(CompileError::at(
                        d.pos,
                        ErrorKind::TooManyRegisters {
                            kind: "control",
                            limit: MAX_CONTROL_FIELDS,
                        },
                    ));
                }
                Reg::control(nctl as u32 - 1, d.volatile)
            };
            let (v, ty) = lit_ty(d.init);
            let init = ovr[i].unwrap_or(v);
            defs.push((
                &d.name,
                NamedReg {
                    name: d.name.clone(),
                    reg,
                    ty,
                    init: Some(init),
                },
                d.pos,
            ));
        }
        // Scope lists reports then controls, each in register order.
        let mut scope: Vec<NamedReg> = defs.iter().map(|(_, n, _)| n.clone()).collect();
        scope.sort_by_key(|n| (!n.reg.kind.is_report(), n.reg.index));
        // DEF instructions in name order.
        defs.sort_by(|a, b| a.0.cmp(b.0));
        for (_, n, pos) in &defs {
            let right = imm_reg(n.init.unwrap_or(0), *pos)?;
            self.instrs.push(Instr {
                op: Op::Def,
                res: n.reg,
                left: n.reg,
                right,
            });
        }
        self.named = scope;
        Ok(())
    }

    fn lookup(&self, name: &str) -> Option<(Reg, ValueType)> {
        if let Some(n) = self.named.iter().find(|n| n.name == name) {
            return Some((n.reg, n.ty));
        }
        let r = builtin(name)?;
        let ty = if r == Reg::primitive(primitive::FLOW_WAS_TIMEOUT) {
            ValueType::Bool
        } else {
            ValueType::Num
        };
        Some((r, ty))
    }

    fn push(&mut self, op: Op, res: Reg, left: Reg, right: Reg) {
        self.instrs.push(Instr {
            op,
            res,
            left,
            right,
        });
    }

    fn new_tmp(&mut self, pos: Pos) -> Result<Reg, CompileError> {
        if self.ntmp >= MAX_TMPS {
            return Err(CompileError::at(
                pos,
                ErrorKind::TooManyRegisters {
                    kind: "temporary",
                    limit: MAX_TMPS,
                },
            ));
        }
        self.ntmp += 1;
        Ok(Reg::tmp(self.ntmp as u32 - 1))
    }

    /// A value usable as an instruction operand.
    fn operand(&self, v: Val, e: &Expr) -> Result<Reg, CompileError> {
        match v {
            Val::Imm(n, _) => imm_reg(n, e.pos),
            Val::Reg(r, _) => Ok(r),
            Val::Pending(_) => Err(CompileError::at(
                e.pos,
                ErrorKind::ConditionalNotBound("if"),
            )),
        }
    }

    fn expect(&self, v: Val, want: ValueType, op: BinOp, e: &Expr) -> Result<(), CompileError> {
        if v.ty() == want {
            Ok(())
        } else {
            Err(CompileError::at(
                e.pos,
                ErrorKind::Type {
                    context: format!("`{}`", op.spelling()),
                    expected: want,
                    found: v.ty(),
                },
            ))
        }
    }

    fn statement(&mut self, e: &Expr) -> Result<(), CompileError> {
        match &e.kind {
            ExprKind::Report => {
                let r = Reg::implicit(implicit::SHOULD_REPORT);
                self.push(Op::Bind, r, r, Reg::imm_bool(true));
            }
            ExprKind::Fallthrough => {
                let r = Reg::implicit(implicit::SHOULD_FALLTHROUGH);
                self.push(Op::Bind, r, r, Reg::imm_bool(true));
            }
            ExprKind::Op(BinOp::Bind, ..) => {
                self.expr(e)?;
            }
            ExprKind::Op(op @ (BinOp::If | BinOp::NotIf | BinOp::Ewma), ..) => {
                return Err(CompileError::at(
                    e.pos,
                    ErrorKind::ConditionalNotBound(op.spelling()),
                ))
            }
            _ => {
                self.expr(e)?;
                self.warnings.push(Warning {
                    pos: e.pos,
                    kind: WarningKind::UnusedValue,
                });
            }
        }
        Ok(())
    }

    fn expr(&mut self, e: &Expr) -> Result<Val, CompileError> {
        match &e.kind {
            ExprKind::Lit(l) => {
                let (v, t) = lit_ty(*l);
                Ok(Val::Imm(v, t))
            }
            ExprKind::Name(n) => self
                .lookup(n)
                .map(|(r, t)| Val::Reg(r, t))
                .ok_or_else(|| CompileError::at(e.pos, ErrorKind::UndefinedName(n.clone()))),
            ExprKind::Report => Err(CompileError::at(e.pos, ErrorKind::CommandAsValue("report"))),
            ExprKind::Fallthrough => Err(CompileError::at(
                e.pos,
                ErrorKind::CommandAsValue("fallthrough"),
            )),
            ExprKind::Op(BinOp::Bind, l, r) => self.bind(l, r),
            ExprKind::Op(op @ (BinOp::If | BinOp::NotIf | BinOp::Ewma), l, r) => {
                let lv = self.sub_expr(l)?;
                let rv = self.sub_expr(r)?;
                let (want, res_ty, opc) = match op {
                    BinOp::If => (ValueType::Bool, rv.ty(), Op::If),
                    BinOp::NotIf => (ValueType::Bool, rv.ty(), Op::NotIf),
                    _ => {
                        self.expect(rv, ValueType::Num, *op, r)?;
                        (ValueType::Num, ValueType::Num, Op::Ewma)
                    }
                };
                self.expect(lv, want, *op, l)?;
                let (lr, rr) = (self.operand(lv, l)?, self.operand(rv, r)?);
                // The result register is filled in by the enclosing `:=`.
                self.push(opc, Reg::tmp(0), lr, rr);
                Ok(Val::Pending(res_ty))
            }
            ExprKind::Op(op, l, r) => {
                let lv = self.sub_expr(l)?;
                let rv = self.sub_expr(r)?;
                let (arg, res_ty) = match op {
                    BinOp::And | BinOp::Or => (ValueType::Bool, ValueType::Bool),
                    BinOp::Eq | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le => {
                        (ValueType::Num, ValueType::Bool)
                    }
                    _ => (ValueType::Num, ValueType::Num),
                };
                self.expect(lv, arg, *op, l)?;
                self.expect(rv, arg, *op, r)?;
                let (lr, rr) = (self.operand(lv, l)?, self.operand(rv, r)?);
                let res = self.new_tmp(e.pos)?;
                let opc = match op {
                    BinOp::Add | BinOp::Or => Op::Add,
                    BinOp::Mul | BinOp::And => Op::Mul,
                    BinOp::Div => Op::Div,
                    BinOp::Eq => Op::Equiv,
                    BinOp::Gt => Op::Gt,
                    BinOp::Lt | BinOp::Ge => Op::Lt,
                    BinOp::Le => Op::Gt,
                    BinOp::Max => Op::Max,
                    BinOp::MaxWrap => Op::MaxWrap,
                    BinOp::Min => Op::Min,
                    _ => Op::Sub,
                };
                self.push(opc, res, lr, rr);
                if matches!(op, BinOp::Ge | BinOp::Le) {
                    // a >= b  is  (a < b) == 0;  a <= b  is  (a > b) == 0.
                    self.push(Op::Equiv, res, res, Reg::imm(0));
                }
                Ok(Val::Reg(res, res_ty))
            }
        }
    }

    /// An operand of an operator other than `:=`: conditionals are not allowed here.
    fn sub_expr(&mut self, e: &Expr) -> Result<Val, CompileError> {
        if let ExprKind::Op(op @ (BinOp::If | BinOp::NotIf | BinOp::Ewma), ..) = &e.kind {
            return Err(CompileError::at(
                e.pos,
                ErrorKind::ConditionalNotBound(op.spelling()),
            ));
        }
        self.expr(e)
    }

    fn bind(&mut self, target: &Expr, value: &Expr) -> Result<Val, CompileError> {
        let name = match &target.kind {
            ExprKind::Name(n) => n,
            ExprKind::Lit(Literal::Num(n)) => {
                let shown = if *n == u64::MAX {
                    "+infinity".to_string()
                } else {
                    n.to_string()
                };
                return Err(CompileError::at(
                    target.pos,
                    ErrorKind::WriteToConstant(shown),
                ));
            }
            ExprKind::Lit(Literal::Bool(b)) => {
                return Err(CompileError::at(
                    target.pos,
                    ErrorKind::WriteToConstant(b.to_string()),
                ))
            }
            _ => return Err(CompileError::at(target.pos, ErrorKind::NotAssignable)),
        };
        // Resolve (or reserve) the target before compiling the value, as portus does.
        let existing = self.lookup(name);
        let target_reg = match existing {
            Some((r, _)) if r.kind == RegKind::Primitive => {
                return Err(CompileError::at(
                    target.pos,
                    ErrorKind::WriteToPrimitive(name.clone()),
                ))
            }
            Some((r, _)) => r,
            None if name.starts_with("Report.") => {
                return Err(CompileError::at(
                    target.pos,
                    ErrorKind::UndeclaredReportField(name.clone()),
                ))
            }
            None => {
                if self.nlocal >= MAX_LOCALS {
                    return Err(CompileError::at(
                        target.pos,
                        ErrorKind::TooManyRegisters {
                            kind: "local",
                            limit: MAX_LOCALS,
                        },
                    ));
                }
                self.nlocal += 1;
                if let Some(similar) = self.similar_name(name) {
                    self.warnings.push(Warning {
                        pos: target.pos,
                        kind: WarningKind::LocalLikeField {
                            name: name.clone(),
                            similar,
                        },
                    });
                }
                Reg::local(self.nlocal as u32 - 1)
            }
        };
        let v = self.expr(value)?;
        let ty = match existing {
            Some((_, t)) => {
                if v.ty() != t {
                    return Err(CompileError::at(
                        value.pos,
                        ErrorKind::Type {
                            context: format!("assignment to `{name}`"),
                            expected: t,
                            found: v.ty(),
                        },
                    ));
                }
                t
            }
            None => {
                self.named.push(NamedReg {
                    name: name.clone(),
                    reg: target_reg,
                    ty: v.ty(),
                    init: None,
                });
                v.ty()
            }
        };
        match v {
            Val::Pending(_) => {
                if let Some(last) = self.instrs.last_mut() {
                    last.res = target_reg;
                }
            }
            _ => {
                let right = self.operand(v, value)?;
                self.push(Op::Bind, target_reg, target_reg, right);
            }
        }
        Ok(Val::Reg(target_reg, ty))
    }

    /// A declared or built-in name within edit distance 2 of `name`, if any.
    fn similar_name(&self, name: &str) -> Option<String> {
        self.named
            .iter()
            .map(|n| n.name.as_str())
            .chain(primitive::NAMES)
            .chain(["Micros", "Cwnd", "Rate"])
            .find(|c| edit_distance(c, name) <= 2 && *c != name && name.len() > 2)
            .map(str::to_string)
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur[j + 1] = sub.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}
