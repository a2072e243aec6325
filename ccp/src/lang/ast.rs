//! Abstract syntax of a datapath program.

use super::error::Pos;

/// A parsed program: the `def` declarations and the `when` clauses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Program {
    /// Declarations in source order.
    pub decls: Vec<Decl>,
    /// Clauses in source order.
    pub clauses: Vec<Clause>,
}

/// One field declaration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decl {
    /// Full name (fields of the `(Report ...)` group get the `Report.` prefix).
    pub name: String,
    /// Whether the field is reset to its initial value after each report.
    pub volatile: bool,
    /// Initial value.
    pub init: Literal,
    /// Whether it was declared inside the `(Report ...)` group.
    pub grouped: bool,
    /// Where the name is.
    pub pos: Pos,
}

impl Decl {
    /// Whether this is a report field (grouped, or a flat name starting with `Report.`).
    pub fn is_report(&self) -> bool {
        self.grouped || self.name.starts_with("Report.")
    }
}

/// A literal value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Literal {
    /// A number (`+infinity` is `u64::MAX`).
    Num(u64),
    /// `true` or `false`.
    Bool(bool),
}

/// `(when cond body...)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Clause {
    /// The condition.
    pub cond: Expr,
    /// The statements.
    pub body: Vec<Expr>,
    /// Where `(when` is.
    pub pos: Pos,
}

/// An expression and where it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expr {
    /// The expression.
    pub kind: ExprKind,
    /// Where it starts.
    pub pos: Pos,
}

/// Expression forms.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExprKind {
    /// A literal.
    Lit(Literal),
    /// A name.
    Name(String),
    /// `(op left right)`.
    Op(BinOp, Box<Expr>, Box<Expr>),
    /// `(report)`.
    Report,
    /// `(fallthrough)`.
    Fallthrough,
}

/// Operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinOp {
    /// `+`, `add`.
    Add,
    /// `&&`, `and`.
    And,
    /// `:=`, `bind`.
    Bind,
    /// `/`, `div`.
    Div,
    /// `==`, `eq`.
    Eq,
    /// `ewma`.
    Ewma,
    /// `>`, `gt`.
    Gt,
    /// `>=` (extension).
    Ge,
    /// `if`.
    If,
    /// `<`, `lt`.
    Lt,
    /// `<=` (extension).
    Le,
    /// `max`.
    Max,
    /// `wrapped_max`.
    MaxWrap,
    /// `min`.
    Min,
    /// `*`, `mul`.
    Mul,
    /// `!if`.
    NotIf,
    /// `||`, `or`.
    Or,
    /// `-`, `sub`.
    Sub,
}

impl BinOp {
    /// The operator spelled `s` (a symbol or a word alias), if any.
    pub fn from_spelling(s: &str) -> Option<Self> {
        Some(match s {
            "+" | "add" => Self::Add,
            "&&" | "and" => Self::And,
            ":=" | "bind" => Self::Bind,
            "/" | "div" => Self::Div,
            "==" | "eq" => Self::Eq,
            "ewma" => Self::Ewma,
            ">" | "gt" => Self::Gt,
            ">=" => Self::Ge,
            "if" => Self::If,
            "<" | "lt" => Self::Lt,
            "<=" => Self::Le,
            "max" => Self::Max,
            "wrapped_max" => Self::MaxWrap,
            "min" => Self::Min,
            "*" | "mul" => Self::Mul,
            "!if" => Self::NotIf,
            "||" | "or" => Self::Or,
            "-" | "sub" => Self::Sub,
            _ => return None,
        })
    }

    /// The canonical spelling.
    pub fn spelling(self) -> &'static str {
        match self {
            Self::Add => "+",
            Self::And => "&&",
            Self::Bind => ":=",
            Self::Div => "/",
            Self::Eq => "==",
            Self::Ewma => "ewma",
            Self::Gt => ">",
            Self::Ge => ">=",
            Self::If => "if",
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Max => "max",
            Self::MaxWrap => "wrapped_max",
            Self::Min => "min",
            Self::Mul => "*",
            Self::NotIf => "!if",
            Self::Or => "||",
            Self::Sub => "-",
        }
    }
}
