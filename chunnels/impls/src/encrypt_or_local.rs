//! Encryption fused with the local fast path: no encryption between same-host peers.
//!
//! [`EncryptOrLocalChunnel`] replaces `[EncryptChunnel, LocalOrRemoteChunnel]` (the
//! [`FuseEncryptLocal`](crate::opt::FuseEncryptLocal) pass does it at compile time; the
//! thesis' FusedTLSMaybeLocalChunnel, §3.5.2). In the unfused stack every message is
//! encrypted, even when the fast path carries it to a process on the same host, and the
//! key exchange runs whatever the path. Fused, a connection takes one path for its life:
//! - **local**: the peer is on this host and a fast path is open — messages go over the
//!   local connection in the clear, and no key exchange is made;
//! - **remote**: otherwise — the X25519 handshake and ChaCha20-Poly1305 of
//!   [`crate::encrypt`] run over the inner (remote) connection, exactly as
//!   `EncryptChunnel` alone would.
//!
//! The client knows its server's address, so it decides at once (`to_local(server)`). The
//! server does not know who will talk to it: its `connect_wrap` waits for whichever comes
//! first, a datagram on the fast path (local; it is delivered by the first `recv`) or the
//! client's `HELLO` on the remote path (remote), within the handshake's timeout. The fast path
//! is opened when negotiation picks the Chunnel ([`Negotiate::picked`]), which on a server is
//! before its reply leaves, so the client's first datagram finds it open.
//!
//! Carries `(A, Vec<u8>)` over `(A, Vec<u8>)`, with the local connection `(LA, Vec<u8>)` and
//! address maps of [`LocalOrRemoteChunnel`]. Wire format: the local path's datagrams are the
//! payloads; the remote path's are [`crate::encrypt`]'s. Not wire-compatible with the unfused
//! pair, so it negotiates as its own Chunnel type, `encrypt-or-local` ([`Compat::Exact`],
//! labels `x25519-chacha20poly1305/1` and `local-or-remote/1`): both ends apply the pass.

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use chunnel::{Agreement, Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};
use netrt::Runtime;

use crate::encrypt::{EncryptChunnel, EncryptConn};
use crate::local_or_remote::LocalOrRemoteChunnel;

/// The Chunnel type name.
pub const CHUNNEL: &str = "encrypt-or-local";

/// Encryption on the remote path only (see the module documentation).
pub struct EncryptOrLocalChunnel<R, A, LC, LA> {
    enc: EncryptChunnel<R, A>,
    lor: LocalOrRemoteChunnel<LC, A, LA>,
}

impl<R: Clone, A: Clone, LC, LA> Clone for EncryptOrLocalChunnel<R, A, LC, LA> {
    fn clone(&self) -> Self {
        EncryptOrLocalChunnel {
            enc: self.enc.clone(),
            lor: self.lor.clone(),
        }
    }
}

impl<R, A: std::fmt::Debug, LC, LA> std::fmt::Debug for EncryptOrLocalChunnel<R, A, LC, LA> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EncryptOrLocalChunnel")
            .field("enc", &self.enc)
            .field("lor", &self.lor)
            .finish()
    }
}

impl<R, A, LC, LA> EncryptOrLocalChunnel<R, A, LC, LA> {
    /// Fuses an encryption Chunnel (its role, randomness and handshake timing) with a
    /// local-or-remote one (its fast path and address maps).
    pub fn fuse(enc: EncryptChunnel<R, A>, lor: LocalOrRemoteChunnel<LC, A, LA>) -> Self {
        EncryptOrLocalChunnel { enc, lor }
    }
}

impl<R, A, LC, LA> Negotiate for EncryptOrLocalChunnel<R, A, LC, LA> {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, "host", Compat::Exact)
            .label("x25519-chacha20poly1305/1")
            .label("local-or-remote/1")
    }

    /// Opens the fast path at once, as [`LocalOrRemoteChunnel`] does.
    fn picked(&mut self, _agreement: &Agreement) {
        self.lor.open_early();
    }
}

enum First<L, H> {
    Local(L),
    Handshake(H),
}

impl<R, A, LC, LA, InC> Chunnel<InC> for EncryptOrLocalChunnel<R, A, LC, LA>
where
    R: Runtime,
    A: Clone + PartialEq,
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
    LC: ChunnelConnection<Data = (LA, Vec<u8>)>,
{
    type Connection = EncryptOrLocalConn<InC, LC, A, LA>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        let inner = Rc::new(inner);
        let local = self.lor.open_local();
        let lor = self.lor.clone();
        let conn = |path| EncryptOrLocalConn {
            path,
            lor,
            unnamed: Cell::new(0),
            _inner: inner.clone(),
        };
        if let Some(server) = self.enc.server_addr().cloned() {
            // The client: local iff the server is on this host and the fast path is open.
            if let (Some(l), Some(_)) = (local, self.lor.to_local(&server)) {
                return Ok(conn(Path::Local {
                    conn: l,
                    first: RefCell::new(None),
                }));
            }
            let e = self.enc.connect_wrap(inner.clone()).await?;
            return Ok(conn(Path::Remote(e)));
        }
        // The server: whichever path speaks first.
        let Some(l) = local else {
            let e = self.enc.connect_wrap(inner.clone()).await?;
            return Ok(conn(Path::Remote(e)));
        };
        let mut hs = pin!(self.enc.connect_wrap(inner.clone()));
        let first = {
            let mut lr = pin!(l.recv());
            poll_fn(|cx| {
                if let Poll::Ready(x) = lr.as_mut().poll(cx) {
                    return Poll::Ready(First::Local(x));
                }
                if let Poll::Ready(x) = hs.as_mut().poll(cx) {
                    return Poll::Ready(First::Handshake(x));
                }
                Poll::Pending
            })
            .await
        };
        match first {
            First::Local(Ok(d)) => Ok(conn(Path::Local {
                conn: l,
                first: RefCell::new(Some(d)),
            })),
            // The fast path is gone: the remote one is all there is.
            First::Local(Err(Error::Closed)) => Ok(conn(Path::Remote(hs.await?))),
            First::Local(Err(e)) => Err(e),
            First::Handshake(e) => Ok(conn(Path::Remote(e?))),
        }
    }
}

enum Path<C, LC, A, LA> {
    Local {
        conn: LC,
        /// The server's first local datagram, received while choosing the path.
        first: RefCell<Option<(LA, Vec<u8>)>>,
    },
    Remote(EncryptConn<Rc<C>, A>),
}

/// A connection over one path, chosen at `connect_wrap` (see the module documentation).
pub struct EncryptOrLocalConn<C, LC, A, LA> {
    path: Path<C, LC, A, LA>,
    lor: LocalOrRemoteChunnel<LC, A, LA>,
    unnamed: Cell<u64>,
    /// Keeps the inner connection (and what it holds) alive on the local path too.
    _inner: Rc<C>,
}

impl<C, LC, A, LA> EncryptOrLocalConn<C, LC, A, LA> {
    /// Whether the connection took the local, unencrypted path.
    pub fn is_local(&self) -> bool {
        matches!(self.path, Path::Local { .. })
    }

    /// Messages encrypted so far (0 on the local path).
    pub fn sealed(&self) -> u64 {
        match &self.path {
            Path::Local { .. } => 0,
            Path::Remote(e) => e.sent(),
        }
    }

    /// Local datagrams dropped because their sender has no remote name.
    pub fn unnamed(&self) -> u64 {
        self.unnamed.get()
    }
}

impl<C, LC, A, LA> ChunnelConnection for EncryptOrLocalConn<C, LC, A, LA>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    LC: ChunnelConnection<Data = (LA, Vec<u8>)>,
{
    type Data = (A, Vec<u8>);

    async fn send(&self, (to, payload): (A, Vec<u8>)) -> Result<(), Error> {
        match &self.path {
            Path::Remote(e) => e.send((to, payload)).await,
            Path::Local { conn, .. } => match self.lor.to_local(&to) {
                Some(la) => conn.send((la, payload)).await,
                None => Err(Error::layer(
                    CHUNNEL,
                    "the connection took the local path but this peer is not on this host",
                )),
            },
        }
    }

    async fn recv(&self) -> Result<(A, Vec<u8>), Error> {
        match &self.path {
            Path::Remote(e) => e.recv().await,
            Path::Local { conn, first } => loop {
                let early = first.borrow_mut().take();
                let (la, p) = match early {
                    Some(d) => d,
                    None => conn.recv().await?,
                };
                match self.lor.from_local(&la) {
                    Some(a) => return Ok((a, p)),
                    None => self.unnamed.set(self.unnamed.get() + 1),
                }
            },
        }
    }
}
