//! The CCP datapath language: lexer, parser, type checker and compiler to [`crate::program`].
//!
//! A program declares its fields, then lists `when` clauses:
//!
//! ```text
//! (def (Report (volatile acked 0) (minrtt +infinity)) (cwnd_gain 2))
//! (when true
//!     (:= Report.acked (+ Report.acked Ack.bytes_acked))
//!     (:= Report.minrtt (min Report.minrtt Flow.rtt_sample_us))
//!     (fallthrough))
//! (when (> Micros 10000)
//!     (report))
//! ```
//!
//! - `(def ...)` comes first. `(name value)` declares a control field, or a report field when
//!   the name starts with `Report.`; `(Report (name value)...)` declares report fields
//!   `Report.name`; `volatile` before a name resets the field to its initial value after each
//!   report. Initial values: a number, `+infinity`, `true` or `false`.
//! - `(when COND BODY...)`: the clauses run in order; the first whose condition holds runs its
//!   body, and the next ones only if it says `(fallthrough)`. `(report)` sends the report
//!   fields.
//! - Operators take two operands: `+ add`, `- sub`, `* mul`, `/ div`, `max`, `min`,
//!   `wrapped_max` on numbers; `== eq`, `> gt`, `< lt` (and the extensions `>=`, `<=`)
//!   compare numbers; `&& and`, `|| or` on booleans; `:= bind` assigns (a new name becomes a
//!   local); `(if C V)` / `(!if C V)` assign `V` when `C` is true / false and `(ewma A V)`
//!   averages into its target — these three only as the value of `:=`.
//! - Built-in names: the `Ack.*` and `Flow.*` primitives (read-only), `Micros`, `Cwnd`,
//!   `Rate`. `#` starts a comment that runs to the end of the line.
//!
//! [`compile`] returns the [`Program`] (the INSTALL_EXPR payload), the [`Scope`] of names, and
//! warnings; errors carry a line, a column and what was expected. See the crate docs for every
//! deliberate difference from portus 0.9's compiler.
//!
//! Inside: `lexer` (text to tokens; comments are whitespace), `parser` (tokens to the [`Ast`]),
//! `compiler` (type checking, register allocation and code generation, following portus's
//! numbering so the bytes match), [`CompileError`]/[`Warning`] (with [`Pos`]itions).

mod ast;
mod compiler;
mod error;
mod lexer;
mod parser;

#[cfg(test)]
mod tests;

pub use ast::{BinOp, Clause, Decl, Expr, ExprKind, Literal, Program as Ast};
pub use compiler::{
    MAX_CLAUSES, MAX_CONTROL_FIELDS, MAX_INSTRS, MAX_LOCALS, MAX_REPORT_FIELDS, MAX_TMPS,
};
pub use error::{CompileError, ErrorKind, Pos, Warning, WarningKind};

use crate::program::{Program, Scope};

/// The result of compiling a program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Compiled {
    /// Expressions and instructions, as INSTALL_EXPR carries them.
    pub program: Program,
    /// The program's report fields, control fields and locals.
    pub scope: Scope,
    /// Things that compile but are probably mistakes.
    pub warnings: Vec<Warning>,
}

/// Parses `src` into its syntax tree, without type checking.
pub fn parse(src: &str) -> Result<Ast, CompileError> {
    let (toks, end) = lexer::lex(src)?;
    parser::parse(&toks, end)
}

/// Compiles `src`, replacing the initial values of the named fields by `overrides`
/// (`(full name, value)`, e.g. `("Report.acked", 0)` or `("cwnd_gain", 3)`; booleans take 0 or
/// 1), as portus does at install time.
///
/// ```
/// let src = "(def (Report (volatile acked 0)))
///            (when true (:= Report.acked (+ Report.acked Ack.bytes_acked)) (report))";
/// let c = ccp::lang::compile(src, &[]).unwrap();
/// assert_eq!(c.scope.report_index("acked"), Some(0));
/// assert_eq!(c.program.instrs.len(), 5); // DEF, flag, add, bind, report
///
/// let e = ccp::lang::compile("(def (Report.a 0))\n(when true (:= Report.a Ack.bytes_ackd))", &[])
///     .unwrap_err();
/// assert_eq!(e.to_string(), "line 2, column 25: undefined name `Ack.bytes_ackd`");
/// ```
pub fn compile(src: &str, overrides: &[(&str, u64)]) -> Result<Compiled, CompileError> {
    let ast = parse(src)?;
    let out = compiler::compile(&ast, overrides)?;
    Ok(Compiled {
        program: out.program,
        scope: out.scope,
        warnings: out.warnings,
    })
}

/// Like [`compile`], from bytes that must be UTF-8.
pub fn compile_bytes(src: &[u8], overrides: &[(&str, u64)]) -> Result<Compiled, CompileError> {
    let s = std::str::from_utf8(src).map_err(|e| {
        let before = &src[..e.valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&before[line_start..])
            .chars()
            .count() as u32
            + 1;
        CompileError::at(Pos { line, column }, ErrorKind::NotUtf8)
    })?;
    compile(s, overrides)
}
