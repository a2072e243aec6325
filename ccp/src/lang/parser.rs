//! Recursive-descent parser: tokens to [`ast::Program`](super::ast::Program).
//!
//! ```text
//! program := def clause+
//! def     := "(" "def" (decl | "(" "Report" decl+ ")")* ")"      at most one Report group
//! decl    := "(" ["volatile"] NAME value ")"
//! value   := NUMBER | "+infinity" | "true" | "false"
//! clause  := "(" "when" expr expr+ ")"
//! expr    := NUMBER | "+infinity" | "true" | "false" | NAME
//!          | "(" "report" ")" | "(" "fallthrough" ")" | "(" OP expr expr ")"
//! ```

use super::ast::{BinOp, Clause, Decl, Expr, ExprKind, Literal, Program};
use super::error::{CompileError, ErrorKind, Pos};
use super::lexer::{Tok, Token};

/// Nesting deeper than this is refused (keeps recursion bounded on any input).
pub(crate) const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    toks: &'a [Token],
    at: usize,
    end: Pos,
}

/// Parses a whole program.
pub(crate) fn parse(toks: &[Token], end: Pos) -> Result<Program, CompileError> {
    let mut p = Parser { toks, at: 0, end };
    let decls = p.defs()?;
    let mut clauses = Vec::new();
    loop {
        match p.peek() {
            None if !clauses.is_empty() => break,
            _ => clauses.push(p.clause()?),
        }
    }
    Ok(Program { decls, clauses })
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|t| &t.tok)
    }

    fn peek2(&self) -> Option<&Tok> {
        self.toks.get(self.at + 1).map(|t| &t.tok)
    }

    fn pos(&self) -> Pos {
        self.toks.get(self.at).map_or(self.end, |t| t.pos)
    }

    fn err(&self, expected: &'static str) -> CompileError {
        let found = self
            .peek()
            .map_or_else(|| "end of input".to_string(), Tok::describe);
        CompileError::at(self.pos(), ErrorKind::Expected { expected, found })
    }

    fn eat(&mut self, t: &Tok, expected: &'static str) -> Result<Pos, CompileError> {
        if self.peek() == Some(t) {
            let pos = self.pos();
            self.at += 1;
            Ok(pos)
        } else {
            Err(self.err(expected))
        }
    }

    fn eat_word(&mut self, w: &str, expected: &'static str) -> Result<Pos, CompileError> {
        match self.peek() {
            Some(Tok::Word(x)) if x == w => {
                let pos = self.pos();
                self.at += 1;
                Ok(pos)
            }
            _ => Err(self.err(expected)),
        }
    }

    fn defs(&mut self) -> Result<Vec<Decl>, CompileError> {
        self.eat(&Tok::LParen, "`(def` at the start of the program")?;
        self.eat_word("def", "`def`")?;
        let mut decls = Vec::new();
        let mut grouped = false;
        while self.peek() == Some(&Tok::LParen) {
            let is_group = matches!(self.peek2(), Some(Tok::Word(w)) if w == "Report")
                && self.toks.get(self.at + 2).map(|t| &t.tok) == Some(&Tok::LParen);
            if is_group {
                let pos = self.pos();
                if grouped {
                    return Err(CompileError::at(pos, ErrorKind::SecondReportGroup));
                }
                grouped = true;
                self.at += 2;
                while self.peek() == Some(&Tok::LParen) {
                    decls.push(self.decl(true)?);
                }
                self.eat(&Tok::RParen, "a declaration `(name value)` or `)`")?;
            } else {
                decls.push(self.decl(false)?);
            }
        }
        self.eat(
            &Tok::RParen,
            "a declaration `(name value)`, `(Report ...)` or `)`",
        )?;
        Ok(decls)
    }

    fn decl(&mut self, grouped: bool) -> Result<Decl, CompileError> {
        self.eat(&Tok::LParen, "`(`")?;
        let volatile = matches!(self.peek(), Some(Tok::Word(w)) if w == "volatile");
        if volatile {
            self.at += 1;
        }
        let pos = self.pos();
        let name = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            _ => return Err(self.err("a field name")),
        };
        check_name(&name, pos)?;
        if name == "true" || name == "false" {
            return Err(CompileError::at(pos, ErrorKind::LiteralAsName(name)));
        }
        self.at += 1;
        let init = match self.peek() {
            Some(Tok::Num(n)) => Literal::Num(*n),
            Some(Tok::Infinity) => Literal::Num(u64::MAX),
            Some(Tok::Word(w)) if w == "true" => Literal::Bool(true),
            Some(Tok::Word(w)) if w == "false" => Literal::Bool(false),
            _ => return Err(self.err("an initial value (a number, +infinity, true or false)")),
        };
        self.at += 1;
        self.eat(&Tok::RParen, "`)` after the initial value")?;
        let name = if grouped {
            format!("Report.{name}")
        } else {
            name
        };
        Ok(Decl {
            name,
            volatile,
            init,
            grouped,
            pos,
        })
    }

    fn clause(&mut self) -> Result<Clause, CompileError> {
        let pos = self.eat(&Tok::LParen, "`(when` or end of input")?;
        self.eat_word("when", "`when`")?;
        let cond = self.expr(0)?;
        let mut body = vec![self.expr(0)?];
        while self.peek() != Some(&Tok::RParen) {
            if self.peek().is_none() {
                return Err(self.err("a statement or `)`"));
            }
            body.push(self.expr(0)?);
        }
        self.at += 1;
        Ok(Clause { cond, body, pos })
    }

    fn expr(&mut self, depth: usize) -> Result<Expr, CompileError> {
        let pos = self.pos();
        let kind = match self.peek() {
            Some(Tok::Num(n)) => ExprKind::Lit(Literal::Num(*n)),
            Some(Tok::Infinity) => ExprKind::Lit(Literal::Num(u64::MAX)),
            Some(Tok::Word(w)) if w == "true" => ExprKind::Lit(Literal::Bool(true)),
            Some(Tok::Word(w)) if w == "false" => ExprKind::Lit(Literal::Bool(false)),
            Some(Tok::Word(w)) => {
                check_name(w, pos)?;
                ExprKind::Name(w.clone())
            }
            Some(Tok::LParen) => return self.sexp(depth),
            _ => return Err(self.err("an expression")),
        };
        self.at += 1;
        Ok(Expr { kind, pos })
    }

    fn sexp(&mut self, depth: usize) -> Result<Expr, CompileError> {
        let pos = self.pos();
        if depth >= MAX_DEPTH {
            return Err(self.err("an expression nested at most 64 deep"));
        }
        self.at += 1;
        let op_pos = self.pos();
        let spelled = match self.peek() {
            Some(Tok::Word(w)) => w.clone(),
            Some(Tok::Sym(s)) => (*s).to_string(),
            _ => return Err(self.err("an operator, `report` or `fallthrough`")),
        };
        self.at += 1;
        if spelled == "report" || spelled == "fallthrough" {
            self.eat(&Tok::RParen, "`)`")?;
            let kind = if spelled == "report" {
                ExprKind::Report
            } else {
                ExprKind::Fallthrough
            };
            return Ok(Expr { kind, pos });
        }
        let op = BinOp::from_spelling(&spelled)
            .ok_or_else(|| CompileError::at(op_pos, ErrorKind::UnknownOperator(spelled.clone())))?;
        let mut args = Vec::with_capacity(2);
        while self.peek() != Some(&Tok::RParen) {
            if self.peek().is_none() {
                return Err(self.err("`)`"));
            }
            if args.len() == 2 {
                return Err(CompileError::at(
                    op_pos,
                    ErrorKind::Arity {
                        op: spelled,
                        found: 3,
                    },
                ));
            }
            args.push(self.expr(depth + 1)?);
        }
        self.at += 1;
        let mut it = args.into_iter();
        match (it.next(), it.next()) {
            (Some(l), Some(r)) => Ok(Expr {
                kind: ExprKind::Op(op, Box::new(l), Box::new(r)),
                pos,
            }),
            (l, _) => Err(CompileError::at(
                op_pos,
                ErrorKind::Arity {
                    op: spelled,
                    found: usize::from(l.is_some()),
                },
            )),
        }
    }
}

fn check_name(name: &str, pos: Pos) -> Result<(), CompileError> {
    if name.starts_with("__") {
        Err(CompileError::at(pos, ErrorKind::ReservedName(name.into())))
    } else {
        Ok(())
    }
}
