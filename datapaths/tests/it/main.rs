//! Integration tests of `datapaths`, one binary: the `ccp` command line (compile, and the
//! agent serving our runtime over a Unix socket), the agent's socket file (names, takeover,
//! stale sockets, removal on exit), and interop over real Unix datagram sockets
//! with portus 0.9's agent and with libccp 1.2's datapath; and the tokio runtime boundary
//! (`tokio_rt`; the crate's dev-dependency on itself turns its `tokio` feature on), with the
//! parity test running one generic application on the simulator and on real UDP.

mod agent_socket;
mod cli;
mod cli_agent;
mod libccp_interop;
#[cfg(feature = "tokio")]
mod parity;
mod portus_interop;
#[cfg(feature = "tokio")]
mod stream;
#[cfg(feature = "tokio")]
mod tokio_rt;
