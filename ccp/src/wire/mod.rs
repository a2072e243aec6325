//! The six libccp 1.2 / portus 0.9 IPC messages, byte-for-byte.
//!
//! Every message starts with an 8-byte little-endian header: `type: u16`, `len: u16` (the
//! whole message, header included), `socket_id: u32`. Then, per type:
//!
//! | type | message | body |
//! |---|---|---|
//! | 0 | [`Create`] | 6 × u32 (init_cwnd, mss, src_ip, src_port, dst_ip, dst_port), 64-byte NUL-padded algorithm name |
//! | 1 | [`Measure`] | u32 program_uid, u32 num_fields, num_fields × u64 |
//! | 2 | [`InstallExpr`] | u32 program_uid, u32 num_expressions, u32 num_instructions, 16 B per expression, 16 B per instruction |
//! | 3 | [`UpdateFields`] | u32 num_updates, 13 B per update (u8 register type, u32 index, u64 value) |
//! | 4 | [`ChangeProg`] | u32 program_uid, u32 num_updates, 13 B per update |
//! | 5 | [`Ready`] | u32 datapath id (socket id is 0) |
//!
//! Decoding never panics and never allocates more than the message's own length justifies:
//! every count is checked against both its protocol limit and the bytes actually present
//! before anything is reserved.

mod codec;
mod install;

pub use codec::{DecodeError, EncodeError};
pub use install::{InstallExpr, UpdateField};

/// Length of the common message header.
pub const HEADER_LEN: usize = 8;
/// Largest message libccp accepts (`BIGGEST_MSG_SIZE`).
pub const MAX_MSG_LEN: usize = 32_678;
/// Most expressions (`when` clauses) in one program.
pub const MAX_EXPRESSIONS: usize = 256;
/// Most instructions in one program.
pub const MAX_INSTRUCTIONS: usize = 256;
/// Number of report registers (and so most fields in one MEASURE).
pub const MAX_REPORT_REGS: usize = 110;
/// Number of control registers.
pub const MAX_CONTROL_REGS: usize = 110;
/// Number of temporary registers.
pub const MAX_TMP_REGS: usize = 8;
/// Number of local registers.
pub const MAX_LOCAL_REGS: usize = 8;
/// Number of implicit registers.
pub const MAX_IMPLICIT_REGS: usize = 6;
/// Size of the algorithm-name field of CREATE (a name of at most 64 bytes, NUL-padded; a
/// 64-byte name has no terminating NUL).
pub const ALG_NAME_LEN: usize = 64;
/// Most updates in one UPDATE_FIELDS or CHANGE_PROG (`MAX_MUTABLE_REG`).
pub const MAX_UPDATES: usize = 222;

/// Size of one serialized expression.
pub const EXPRESSION_LEN: usize = 16;
/// Size of one serialized instruction.
pub const INSTRUCTION_LEN: usize = 16;
/// Size of one serialized field update.
pub const UPDATE_LEN: usize = 13;

/// Message type codes.
pub mod msg_type {
    /// CREATE, datapath → agent.
    pub const CREATE: u16 = 0;
    /// MEASURE (report or close), datapath → agent.
    pub const MEASURE: u16 = 1;
    /// INSTALL_EXPR, agent → datapath.
    pub const INSTALL_EXPR: u16 = 2;
    /// UPDATE_FIELDS, agent → datapath.
    pub const UPDATE_FIELDS: u16 = 3;
    /// CHANGE_PROG, agent → datapath.
    pub const CHANGE_PROG: u16 = 4;
    /// READY, datapath → agent.
    pub const READY: u16 = 5;
}

/// CREATE: a new flow announced by the datapath.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Create {
    /// Socket (flow) id chosen by the datapath.
    pub sid: u32,
    /// What the datapath tells the agent about the flow.
    pub flow: FlowInfo,
}

/// Constant per-flow information: the body of a [`Create`] (libccp's
/// `struct ccp_datapath_info`). A datapath gives it to
/// [`Datapath::open_flow`](crate::datapath::Datapath::open_flow); an agent reads it from the
/// CREATE.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FlowInfo {
    /// Initial congestion window, bytes.
    pub init_cwnd: u32,
    /// Maximum segment size, bytes.
    pub mss: u32,
    /// Source IPv4 address.
    pub src_ip: u32,
    /// Source port.
    pub src_port: u32,
    /// Destination IPv4 address.
    pub dst_ip: u32,
    /// Destination port.
    pub dst_port: u32,
    /// Requested algorithm name (at most 64 bytes, no NUL; our datapath runtime's `open_flow`
    /// accepts at most 63); `None` when the field is empty.
    pub alg: Option<String>,
}

/// MEASURE: a report of the program's report registers, or (no fields) a flow close.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Measure {
    /// Socket (flow) id.
    pub sid: u32,
    /// Uid of the program that produced the report (0 in a close message).
    pub program_uid: u32,
    /// Report register values, in register order (at most [`MAX_REPORT_REGS`]).
    pub fields: Vec<u64>,
}

impl Measure {
    /// The close message libccp sends when a flow ends: uid 0 and no fields.
    pub fn close(sid: u32) -> Self {
        Measure {
            sid,
            program_uid: 0,
            fields: Vec::new(),
        }
    }

    /// Whether this is a close message (no fields), as portus interprets it.
    pub fn is_close(&self) -> bool {
        self.fields.is_empty()
    }
}

/// UPDATE_FIELDS: new values for control registers / Cwnd / Rate of one flow.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct UpdateFields {
    /// Socket (flow) id.
    pub sid: u32,
    /// The updates, applied at the flow's next invocation.
    pub updates: Vec<UpdateField>,
}

/// CHANGE_PROG: switch one flow to an installed program, with initial field updates.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct ChangeProg {
    /// Socket (flow) id.
    pub sid: u32,
    /// Uid of the installed program to run.
    pub program_uid: u32,
    /// Updates applied together with the switch.
    pub updates: Vec<UpdateField>,
}

/// READY: a datapath (re)started; the agent must (re)install its programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Ready {
    /// The datapath's id.
    pub id: u32,
}

/// Any of the six messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    /// See [`Create`].
    Create(Create),
    /// See [`Measure`].
    Measure(Measure),
    /// See [`InstallExpr`].
    InstallExpr(InstallExpr),
    /// See [`UpdateFields`].
    UpdateFields(UpdateFields),
    /// See [`ChangeProg`].
    ChangeProg(ChangeProg),
    /// See [`Ready`].
    Ready(Ready),
}

impl Msg {
    /// The message type code.
    pub fn msg_type(&self) -> u16 {
        match self {
            Msg::Create(_) => msg_type::CREATE,
            Msg::Measure(_) => msg_type::MEASURE,
            Msg::InstallExpr(_) => msg_type::INSTALL_EXPR,
            Msg::UpdateFields(_) => msg_type::UPDATE_FIELDS,
            Msg::ChangeProg(_) => msg_type::CHANGE_PROG,
            Msg::Ready(_) => msg_type::READY,
        }
    }

    /// The header's socket id.
    pub fn sid(&self) -> u32 {
        match self {
            Msg::Create(m) => m.sid,
            Msg::Measure(m) => m.sid,
            Msg::InstallExpr(m) => m.sid,
            Msg::UpdateFields(m) => m.sid,
            Msg::ChangeProg(m) => m.sid,
            Msg::Ready(_) => 0,
        }
    }

    /// Encodes the message into a new buffer.
    pub fn encode(&self) -> Result<Vec<u8>, EncodeError> {
        let mut out = Vec::with_capacity(self.encoded_len());
        self.encode_into(&mut out)?;
        Ok(out)
    }

    /// Length of the encoded message, header included.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Msg::Create(_) => 24 + ALG_NAME_LEN,
                Msg::Measure(m) => 8 + 8 * m.fields.len(),
                Msg::InstallExpr(m) => 12 + m.program.encoded_body_len(),
                Msg::UpdateFields(m) => 4 + UPDATE_LEN * m.updates.len(),
                Msg::ChangeProg(m) => 8 + UPDATE_LEN * m.updates.len(),
                Msg::Ready(_) => 4,
            }
    }

    /// Appends the encoded message to `out`.
    pub fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), EncodeError> {
        codec::encode(self, out)
    }

    /// Decodes one message from the front of `buf`; returns it and the bytes it used.
    pub fn decode(buf: &[u8]) -> Result<(Msg, usize), DecodeError> {
        codec::decode(buf)
    }
}
