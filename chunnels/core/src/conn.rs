//! The data side of a Chunnel: [`ChunnelConnection`], the [`Either`] connection a negotiated
//! `select!` produces, and the [`Error`] every layer returns.

use std::future::Future;
use std::io;

/// Errors of Chunnel connections and of negotiation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The base connection failed.
    #[error("base connection: {0}")]
    Io(#[from] io::Error),
    /// The connection was closed (by this side, the peer, or a failed layer).
    #[error("connection closed")]
    Closed,
    /// A layer received bytes it could not decode. Never a panic: the message is dropped or the
    /// error returned to the caller.
    #[error("{layer}: cannot decode message: {detail}")]
    Decode {
        /// The Chunnel type that failed.
        layer: &'static str,
        /// What was wrong.
        detail: String,
    },
    /// Negotiation failed.
    #[error(transparent)]
    Negotiation(#[from] crate::negotiate::NegotiationError),
    /// A negotiated 0-RTT stack was rejected by the server and the connection was rebuilt on
    /// the server's choice: a layer that sees this should return it to its caller unchanged.
    #[error("the peer replaced the negotiated stack")]
    StackReplaced,
    /// Any other failure of a layer.
    #[error("{layer}: {detail}")]
    Layer {
        /// The Chunnel type that failed.
        layer: &'static str,
        /// What went wrong.
        detail: String,
    },
}

impl Error {
    /// A [`Error::Layer`] error.
    pub fn layer(layer: &'static str, detail: impl Into<String>) -> Self {
        Error::Layer {
            layer,
            detail: detail.into(),
        }
    }

    /// A [`Error::Decode`] error.
    pub fn decode(layer: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Decode {
            layer,
            detail: detail.to_string(),
        }
    }
}

/// The data side of a connection: send and receive values of [`ChunnelConnection::Data`].
///
/// Methods take `&self` so one task may send while another receives; implementations keep
/// their state in `Cell`/`RefCell` (runtimes are single-threaded, see `netrt`). The batch
/// methods have defaults that loop over the single calls; a layer that can do better (one
/// syscall, one encryption context) overrides them.
pub trait ChunnelConnection {
    /// What the connection carries. Base connections carry `(address, bytes)`.
    type Data;

    /// Sends one value.
    fn send(&self, data: Self::Data) -> impl Future<Output = Result<(), Error>>;

    /// Waits for one value.
    fn recv(&self) -> impl Future<Output = Result<Self::Data, Error>>;

    /// Sends every value of `batch`, in order. Default: one [`ChunnelConnection::send`] each.
    fn send_batch(&self, batch: Vec<Self::Data>) -> impl Future<Output = Result<(), Error>> {
        async move {
            for d in batch {
                self.send(d).await?;
            }
            Ok(())
        }
    }

    /// Waits for at least one value and returns at most `max` (at least 1 is always allowed).
    /// Default: one [`ChunnelConnection::recv`].
    fn recv_batch(&self, max: usize) -> impl Future<Output = Result<Vec<Self::Data>, Error>> {
        let _ = max;
        async move { Ok(vec![self.recv().await?]) }
    }
}

/// One of two connections with the same data type: what a negotiated `select!` builds.
#[derive(Debug, Clone)]
pub enum Either<A, B> {
    /// The first branch of the select.
    Left(A),
    /// The second branch.
    Right(B),
}

impl<A, B> ChunnelConnection for Either<A, B>
where
    A: ChunnelConnection,
    B: ChunnelConnection<Data = A::Data>,
{
    type Data = A::Data;

    async fn send(&self, data: Self::Data) -> Result<(), Error> {
        match self {
            Either::Left(a) => a.send(data).await,
            Either::Right(b) => b.send(data).await,
        }
    }

    async fn recv(&self) -> Result<Self::Data, Error> {
        match self {
            Either::Left(a) => a.recv().await,
            Either::Right(b) => b.recv().await,
        }
    }

    async fn send_batch(&self, batch: Vec<Self::Data>) -> Result<(), Error> {
        match self {
            Either::Left(a) => a.send_batch(batch).await,
            Either::Right(b) => b.send_batch(batch).await,
        }
    }

    async fn recv_batch(&self, max: usize) -> Result<Vec<Self::Data>, Error> {
        match self {
            Either::Left(a) => a.recv_batch(max).await,
            Either::Right(b) => b.recv_batch(max).await,
        }
    }
}

impl<C: ChunnelConnection> ChunnelConnection for std::rc::Rc<C> {
    type Data = C::Data;

    fn send(&self, data: Self::Data) -> impl Future<Output = Result<(), Error>> {
        (**self).send(data)
    }

    fn recv(&self) -> impl Future<Output = Result<Self::Data, Error>> {
        (**self).recv()
    }

    fn send_batch(&self, batch: Vec<Self::Data>) -> impl Future<Output = Result<(), Error>> {
        (**self).send_batch(batch)
    }

    fn recv_batch(&self, max: usize) -> impl Future<Output = Result<Vec<Self::Data>, Error>> {
        (**self).recv_batch(max)
    }
}
