//! Compile errors and warnings, each with the line and column it concerns.

use std::fmt;

use thiserror::Error;

use crate::program::ValueType;

/// A place in the source: 1-based line and column (columns count characters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1, in characters.
    pub column: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// A compile error: what went wrong and, when it concerns the source, where.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("{}{kind}", .pos.map(|p| format!("{p}: ")).unwrap_or_default())]
pub struct CompileError {
    /// Where in the source; `None` for errors about install-time overrides.
    pub pos: Option<Pos>,
    /// What went wrong.
    pub kind: ErrorKind,
}

impl CompileError {
    pub(crate) fn at(pos: Pos, kind: ErrorKind) -> Self {
        Self {
            pos: Some(pos),
            kind,
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The source is not valid UTF-8.
    #[error("source is not valid UTF-8")]
    NotUtf8,
    /// A character that cannot start any token.
    #[error("unexpected character {0:?}")]
    UnexpectedChar(char),
    /// The parser found something other than what the grammar allows here.
    #[error("expected {expected}, found {found}")]
    Expected {
        /// What the grammar allows here.
        expected: &'static str,
        /// What was found (a token, or `end of input`).
        found: String,
    },
    /// A number literal larger than `u64::MAX`.
    #[error("number {0} does not fit in 64 bits")]
    NumberTooLarge(String),
    /// A number directly followed by name characters (`1x`).
    #[error("expected a space or parenthesis after number, found {0:?}")]
    GluedNumber(String),
    /// An operator name that does not exist.
    #[error("unknown operator `{0}`")]
    UnknownOperator(String),
    /// An operator applied to other than two operands.
    #[error("`{op}` takes 2 operands, found {found}")]
    Arity {
        /// The operator as written.
        op: String,
        /// The number of operands found.
        found: usize,
    },
    /// A name beginning with `__` (reserved for the compiler's own registers).
    #[error("names beginning with `__` are reserved: `{0}`")]
    ReservedName(String),
    /// `true` or `false` declared as a field name.
    #[error("`{0}` is a literal and cannot be declared as a name")]
    LiteralAsName(String),
    /// A field declared twice.
    #[error("`{0}` is declared twice")]
    Duplicate(String),
    /// A field declared with the name of a primitive or of `Micros`, `Cwnd`, `Rate`.
    #[error("`{0}` is a built-in name and cannot be declared")]
    ShadowsBuiltin(String),
    /// A second `(Report ...)` group.
    #[error("only one (Report ...) group is allowed")]
    SecondReportGroup,
    /// A name read before it is declared or assigned.
    #[error("undefined name `{0}`")]
    UndefinedName(String),
    /// An assignment to an undeclared `Report.` field (it can only be declared in `def`).
    #[error("`{0}` is not a declared report field")]
    UndeclaredReportField(String),
    /// A value of the wrong type.
    #[error("{context} expects a {expected:?} value, found {found:?}")]
    Type {
        /// The construct that expected the type.
        context: String,
        /// The expected type.
        expected: ValueType,
        /// The type found.
        found: ValueType,
    },
    /// An assignment to a primitive (`Ack.*`, `Flow.*`).
    #[error("`{0}` is a read-only primitive")]
    WriteToPrimitive(String),
    /// An assignment to a literal.
    #[error("cannot assign to the constant `{0}`")]
    WriteToConstant(String),
    /// An assignment whose target is an expression, not a name.
    #[error("the target of := must be a name")]
    NotAssignable,
    /// `if`, `!if` or `ewma` used other than as the value of `:=`.
    #[error("`{0}` must be the direct value of := (it writes its target only conditionally or reads it)")]
    ConditionalNotBound(&'static str),
    /// `(report)` or `(fallthrough)` used as a value.
    #[error("`({0})` is a statement, not a value")]
    CommandAsValue(&'static str),
    /// A `when` condition that is not a comparison, a logical operation, `true` or `false`.
    #[error("a `when` condition must be a comparison, `&&`/`||`, `true` or `false`")]
    BadCondition,
    /// A declared initial value, literal or override the wire format cannot carry.
    #[error("immediate {0} does not fit (must be below 2^31, or +infinity)")]
    ImmediateTooLarge(u64),
    /// Too many registers of one kind.
    #[error("too many {kind} registers (at most {limit})")]
    TooManyRegisters {
        /// The register kind (`report`, `control`, `local`, `temporary`).
        kind: &'static str,
        /// The limit.
        limit: usize,
    },
    /// More than 256 instructions or 256 `when` clauses.
    #[error("program too large: more than {limit} {what}")]
    ProgramTooLarge {
        /// `instructions` or `when clauses`.
        what: &'static str,
        /// The limit.
        limit: usize,
    },
    /// An install-time override names no declared report or control field.
    #[error("override of unknown field `{0}`")]
    UnknownOverride(String),
    /// An install-time override of a boolean field with a value other than 0 or 1.
    #[error("override of boolean field `{name}` with {value} (must be 0 or 1)")]
    OverrideNotBool {
        /// The field.
        name: String,
        /// The value given.
        value: u64,
    },
}

/// A warning: the program compiles, but probably not as meant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Where.
    pub pos: Pos,
    /// What.
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: warning: {}", self.pos, self.kind)
    }
}

/// Kinds of warnings.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// A clause statement whose value is computed and then discarded.
    #[error("this statement's value is discarded")]
    UnusedValue,
    /// An assignment creates a local whose name is close to a declared or built-in name.
    #[error("assignment creates the new local `{name}`; did you mean `{similar}`?")]
    LocalLikeField {
        /// The new local.
        name: String,
        /// The existing name it resembles.
        similar: String,
    },
}
