//! Errors of the emulator. Configuration errors are reported before anything is created and
//! name the field at fault; privilege errors say which privilege is missing.

use std::io;

/// Everything that can go wrong starting or running an emulation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmulatorError {
    /// A configuration field is out of range or not supported by the emulator.
    #[error("{field}: expected {expected}, got {got}")]
    Config {
        /// Dotted path of the field (`topology.bottleneck.link.rate_mbps`).
        field: String,
        /// What the emulator accepts.
        expected: String,
        /// What was given.
        got: String,
    },
    /// The topology kind (or an option of it) is not supported by the emulator.
    #[error("{field}: not supported by the emulator: {reason}")]
    Unsupported {
        /// Dotted path of the field.
        field: String,
        /// Why.
        reason: String,
    },
    /// The topology or a port could not be built (message from the network models).
    #[error("{field}: {message}")]
    Build {
        /// Dotted path or link name.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A privilege the emulator needs is missing.
    #[error("missing privilege: {what} (run as root or grant it)")]
    Privilege {
        /// Which privilege or device.
        what: &'static str,
    },
    /// No host with this id.
    #[error("no host {0} in the topology")]
    NoSuchHost(u32),
    /// A system call failed.
    #[error("{op}: {source}")]
    Sys {
        /// What was being done.
        op: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing results failed.
    #[error("writing results: {0}")]
    Results(String),
}

impl EmulatorError {
    pub(crate) fn sys(op: impl Into<String>, source: io::Error) -> Self {
        EmulatorError::Sys {
            op: op.into(),
            source,
        }
    }
    pub(crate) fn last_os(op: impl Into<String>) -> Self {
        Self::sys(op, io::Error::last_os_error())
    }
}
