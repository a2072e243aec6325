//! Little-endian reader/writer and the per-message encode/decode functions.

use super::*;

/// Errors while encoding a message.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EncodeError {
    /// CREATE's algorithm name is longer than its 64-byte field or contains a NUL byte.
    #[error("algorithm name must be at most 64 bytes without NUL, got {len} bytes")]
    BadAlgName {
        /// Length of the offending name.
        len: usize,
    },
    /// A count exceeds its protocol limit.
    #[error("{what}: {count} exceeds the limit of {max}")]
    TooMany {
        /// What is counted.
        what: &'static str,
        /// The count.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The encoded message would exceed [`MAX_MSG_LEN`].
    #[error("message of {len} bytes exceeds the maximum of {MAX_MSG_LEN}")]
    TooLong {
        /// Encoded length.
        len: usize,
    },
}

/// Errors while decoding a message. Decoding never panics.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// Fewer bytes than the header, or than the header's length, are present.
    #[error("truncated message: need {need} bytes, have {have}")]
    Truncated {
        /// Bytes needed.
        need: usize,
        /// Bytes present.
        have: usize,
    },
    /// The header's length is below the header size or above [`MAX_MSG_LEN`].
    #[error("invalid length {len} in header")]
    BadLength {
        /// The header's length field.
        len: usize,
    },
    /// Unknown message type.
    #[error("unknown message type {0}")]
    UnknownType(u16),
    /// The body's size disagrees with the counts it carries.
    #[error("message type {msg_type}: body of {have} bytes, counts imply {expected}")]
    SizeMismatch {
        /// Message type.
        msg_type: u16,
        /// Body bytes present.
        have: usize,
        /// Body bytes the counts imply.
        expected: usize,
    },
    /// A count exceeds its protocol limit.
    #[error("{what}: {count} exceeds the limit of {max}")]
    TooMany {
        /// What is counted.
        what: &'static str,
        /// The count.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// CREATE's algorithm name is not UTF-8.
    #[error("algorithm name is not valid UTF-8")]
    BadAlgName,
    /// The program of an INSTALL_EXPR has an unknown opcode or register kind.
    #[error("program: {0}")]
    Program(crate::program::ProgramError),
    /// An update carries an unknown register type.
    #[error("update {index}: unknown register type {reg_type}")]
    BadRegisterType {
        /// Instruction or update index.
        index: usize,
        /// The register type byte.
        reg_type: u8,
    },
}

pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }
    fn take<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let end = self.pos + N;
        let s = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated {
            need: end,
            have: self.buf.len(),
        })?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        self.pos = end;
        Ok(a)
    }
    pub(crate) fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take::<1>()?[0])
    }
    pub(crate) fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    pub(crate) fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    pub(crate) fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    pub(crate) fn bytes<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take()
    }
}

pub(crate) fn put_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
pub(crate) fn put_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn check_count(what: &'static str, count: usize, max: usize) -> Result<(), EncodeError> {
    if count > max {
        Err(EncodeError::TooMany { what, count, max })
    } else {
        Ok(())
    }
}

pub(super) fn encode(msg: &Msg, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let len = msg.encoded_len();
    if len > MAX_MSG_LEN {
        return Err(EncodeError::TooLong { len });
    }
    // Validate before writing anything so that `out` is untouched on error.
    match msg {
        Msg::Create(c) => {
            if let Some(a) = &c.flow.alg {
                // 64 bytes fill the field without a NUL, as the decoder accepts (libccp's
                // `char congAlg[64]` need not be terminated), so every decoded CREATE
                // re-encodes. The datapath runtime's `open_flow` allows 63 (portus panics on
                // a 64-byte name).
                if a.len() > ALG_NAME_LEN || a.as_bytes().contains(&0) {
                    return Err(EncodeError::BadAlgName { len: a.len() });
                }
            }
        }
        Msg::Measure(m) => check_count("report fields", m.fields.len(), MAX_REPORT_REGS)?,
        Msg::InstallExpr(m) => install::validate_for_encoding(m)?,
        Msg::UpdateFields(m) => check_count("updates", m.updates.len(), MAX_UPDATES)?,
        Msg::ChangeProg(m) => check_count("updates", m.updates.len(), MAX_UPDATES)?,
        Msg::Ready(_) => {}
    }
    let start = out.len();
    out.reserve(len);
    put_u16(out, msg.msg_type());
    // `len` <= MAX_MSG_LEN < u16::MAX, checked above.
    put_u16(out, len as u16);
    put_u32(out, msg.sid());
    match msg {
        Msg::Create(Create { flow: f, .. }) => {
            for v in [
                f.init_cwnd,
                f.mss,
                f.src_ip,
                f.src_port,
                f.dst_ip,
                f.dst_port,
            ] {
                put_u32(out, v);
            }
            let mut name = [0u8; ALG_NAME_LEN];
            if let Some(a) = &f.alg {
                name[..a.len()].copy_from_slice(a.as_bytes());
            }
            out.extend_from_slice(&name);
        }
        Msg::Measure(m) => {
            put_u32(out, m.program_uid);
            put_u32(out, m.fields.len() as u32);
            for f in &m.fields {
                put_u64(out, *f);
            }
        }
        Msg::InstallExpr(m) => install::encode_body(m, out),
        Msg::UpdateFields(m) => {
            put_u32(out, m.updates.len() as u32);
            install::encode_updates(&m.updates, out);
        }
        Msg::ChangeProg(m) => {
            put_u32(out, m.program_uid);
            put_u32(out, m.updates.len() as u32);
            install::encode_updates(&m.updates, out);
        }
        Msg::Ready(r) => put_u32(out, r.id),
    }
    debug_assert_eq!(out.len() - start, len);
    Ok(())
}

fn expect_body(msg_type: u16, have: usize, expected: usize) -> Result<(), DecodeError> {
    if have != expected {
        Err(DecodeError::SizeMismatch {
            msg_type,
            have,
            expected,
        })
    } else {
        Ok(())
    }
}

pub(super) fn limit(what: &'static str, count: u32, max: usize) -> Result<usize, DecodeError> {
    let c = count as usize;
    if c > max {
        Err(DecodeError::TooMany {
            what,
            count: u64::from(count),
            max,
        })
    } else {
        Ok(c)
    }
}

pub(super) fn decode(buf: &[u8]) -> Result<(Msg, usize), DecodeError> {
    let mut h = Reader::new(buf);
    let typ = h.u16()?;
    let len = usize::from(h.u16()?);
    let sid = h.u32()?;
    if !(HEADER_LEN..=MAX_MSG_LEN).contains(&len) {
        return Err(DecodeError::BadLength { len });
    }
    let Some(body) = buf.get(HEADER_LEN..len) else {
        return Err(DecodeError::Truncated {
            need: len,
            have: buf.len(),
        });
    };
    let blen = body.len();
    let mut r = Reader::new(body);
    let msg = match typ {
        msg_type::CREATE => {
            expect_body(typ, blen, 24 + ALG_NAME_LEN)?;
            let init_cwnd = r.u32()?;
            let mss = r.u32()?;
            let src_ip = r.u32()?;
            let src_port = r.u32()?;
            let dst_ip = r.u32()?;
            let dst_port = r.u32()?;
            let name: [u8; ALG_NAME_LEN] = r.bytes()?;
            let end = name.iter().position(|&b| b == 0).unwrap_or(ALG_NAME_LEN);
            let alg = if end == 0 {
                None
            } else {
                Some(
                    std::str::from_utf8(&name[..end])
                        .map_err(|_| DecodeError::BadAlgName)?
                        .to_owned(),
                )
            };
            Msg::Create(Create {
                sid,
                flow: FlowInfo {
                    init_cwnd,
                    mss,
                    src_ip,
                    src_port,
                    dst_ip,
                    dst_port,
                    alg,
                },
            })
        }
        msg_type::MEASURE => {
            let program_uid = r.u32()?;
            let n = limit("report fields", r.u32()?, MAX_REPORT_REGS)?;
            expect_body(typ, blen, 8 + 8 * n)?;
            let mut fields = Vec::with_capacity(n);
            for _ in 0..n {
                fields.push(r.u64()?);
            }
            Msg::Measure(Measure {
                sid,
                program_uid,
                fields,
            })
        }
        msg_type::INSTALL_EXPR => Msg::InstallExpr(install::decode_body(sid, &mut r, body)?),
        msg_type::UPDATE_FIELDS => {
            let n = limit("updates", r.u32()?, MAX_UPDATES)?;
            expect_body(typ, blen, 4 + UPDATE_LEN * n)?;
            Msg::UpdateFields(UpdateFields {
                sid,
                updates: install::decode_updates(&mut r, n)?,
            })
        }
        msg_type::CHANGE_PROG => {
            let program_uid = r.u32()?;
            let n = limit("updates", r.u32()?, MAX_UPDATES)?;
            expect_body(typ, blen, 8 + UPDATE_LEN * n)?;
            Msg::ChangeProg(ChangeProg {
                sid,
                program_uid,
                updates: install::decode_updates(&mut r, n)?,
            })
        }
        msg_type::READY => {
            expect_body(typ, blen, 4)?;
            Msg::Ready(Ready { id: r.u32()? })
        }
        other => return Err(DecodeError::UnknownType(other)),
    };
    Ok((msg, len))
}
