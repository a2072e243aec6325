//! Local-or-remote: a same-host fast path when the peer is on this host, the datagram path
//! otherwise.
//!
//! Carries `(A, Vec<u8>)` over `(A, Vec<u8>)` (the remote path, e.g. UDP) and, beside it, a
//! *local* connection carrying `(LA, Vec<u8>)` (e.g. a Unix datagram socket, or in
//! simulation a cheaper same-host path). The Chunnel is generic over both: it is given a
//! connector that opens the local connection (or `None`: no fast path here) and the address
//! mapping between the two worlds — `to_local(&A) -> Option<LA>` says whether a peer is on
//! this host and where, `from_local(&LA) -> Option<A>` names a local sender in the remote
//! address space, so the layers above see one kind of address whatever the path.
//!
//! A send to a peer with a local address goes over the local connection; any other over the
//! inner one. `recv` takes from both, alternating which is polled first (both receives must
//! be cancel-safe, as queue-backed and socket receives are); a local datagram whose sender
//! has no remote name is dropped and counted. If the local connection closes, the
//! connection goes on over the remote path alone.
//!
//! Wire format: unchanged on either path. Capability: [`Compat::Exact`], label
//! `local-or-remote/1` (both ends must listen on the fast path for it to be used).

use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

use chunnel::{Agreement, Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};

/// The Chunnel type name.
pub const CHUNNEL: &str = "local-or-remote";

type Connector<LC> = Rc<dyn Fn() -> Option<LC>>;
type Map<X, Y> = Rc<dyn Fn(&X) -> Option<Y>>;

/// The local-or-remote Chunnel (see the module documentation).
pub struct LocalOrRemoteChunnel<LC, A, LA> {
    connect_local: Connector<LC>,
    to_local: Map<A, LA>,
    from_local: Map<LA, A>,
    /// The fast path opened when negotiation picked this Chunnel (see
    /// [`Negotiate::picked`]), taken by the connection built next. Not cloned.
    opened: RefCell<Option<LC>>,
}

impl<LC, A, LA> Clone for LocalOrRemoteChunnel<LC, A, LA> {
    fn clone(&self) -> Self {
        LocalOrRemoteChunnel {
            connect_local: self.connect_local.clone(),
            to_local: self.to_local.clone(),
            from_local: self.from_local.clone(),
            opened: RefCell::new(None),
        }
    }
}

impl<LC, A, LA> std::fmt::Debug for LocalOrRemoteChunnel<LC, A, LA> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalOrRemoteChunnel")
            .finish_non_exhaustive()
    }
}

impl<LC, A, LA> LocalOrRemoteChunnel<LC, A, LA> {
    /// A fast path opened by `connect_local` (called by each `connect_wrap`; `None`: no
    /// fast path), with the address mappings `to_local` and `from_local`.
    pub fn new(
        connect_local: impl Fn() -> Option<LC> + 'static,
        to_local: impl Fn(&A) -> Option<LA> + 'static,
        from_local: impl Fn(&LA) -> Option<A> + 'static,
    ) -> Self {
        LocalOrRemoteChunnel {
            connect_local: Rc::new(connect_local),
            to_local: Rc::new(to_local),
            from_local: Rc::new(from_local),
            opened: RefCell::new(None),
        }
    }
}

impl<LC, A, LA> LocalOrRemoteChunnel<LC, A, LA> {
    /// The fast path: the one opened when negotiation picked this Chunnel, if any and not
    /// yet taken, else a freshly opened one (`None`: no fast path here).
    pub fn open_local(&self) -> Option<LC> {
        self.opened
            .borrow_mut()
            .take()
            .or_else(|| (self.connect_local)())
    }

    /// Opens the fast path now, for the next [`LocalOrRemoteChunnel::open_local`].
    pub fn open_early(&self) {
        let l = (self.connect_local)();
        *self.opened.borrow_mut() = l;
    }

    /// The fast-path address of `peer`, if it is on this host.
    pub fn to_local(&self, peer: &A) -> Option<LA> {
        (self.to_local)(peer)
    }

    /// The remote-space name of a fast-path sender, if it has one.
    pub fn from_local(&self, sender: &LA) -> Option<A> {
        (self.from_local)(sender)
    }
}

impl<LC, A, LA> Negotiate for LocalOrRemoteChunnel<LC, A, LA> {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, "host", Compat::Exact).label("local-or-remote/1")
    }

    /// Opens the fast path at once: a server's negotiation picks its stack before the reply
    /// leaves, so the client's first message over the fast path finds it open.
    fn picked(&mut self, _agreement: &Agreement) {
        self.open_early();
    }
}

impl<LC, A, LA, InC> Chunnel<InC> for LocalOrRemoteChunnel<LC, A, LA>
where
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
    LC: ChunnelConnection<Data = (LA, Vec<u8>)>,
{
    type Connection = LocalOrRemoteConn<InC, LC, A, LA>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        Ok(LocalOrRemoteConn {
            inner,
            local: self.open_local(),
            local_open: Cell::new(true),
            to_local: self.to_local.clone(),
            from_local: self.from_local.clone(),
            local_first: Cell::new(false),
            stats: Cell::new(LocalOrRemoteStats::default()),
        })
    }
}

/// Counters of a local-or-remote connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LocalOrRemoteStats {
    /// Messages sent over the local path.
    pub local_sent: u64,
    /// Messages sent over the remote path.
    pub remote_sent: u64,
    /// Messages received over the local path.
    pub local_received: u64,
    /// Local datagrams dropped: their sender has no remote name.
    pub unnamed: u64,
}

/// A local-or-remote connection (see the module documentation).
pub struct LocalOrRemoteConn<C, LC, A, LA> {
    inner: C,
    local: Option<LC>,
    local_open: Cell<bool>,
    to_local: Map<A, LA>,
    from_local: Map<LA, A>,
    local_first: Cell<bool>,
    stats: Cell<LocalOrRemoteStats>,
}

impl<C, LC, A, LA> LocalOrRemoteConn<C, LC, A, LA> {
    /// The connection's counters.
    pub fn stats(&self) -> LocalOrRemoteStats {
        self.stats.get()
    }

    /// Whether a fast path is open.
    pub fn has_local(&self) -> bool {
        self.local.is_some() && self.local_open.get()
    }

    fn bump(&self, f: impl FnOnce(&mut LocalOrRemoteStats)) {
        let mut s = self.stats.get();
        f(&mut s);
        self.stats.set(s);
    }
}

enum Got<R, L> {
    Remote(R),
    Local(L),
}

impl<C, LC, A, LA> ChunnelConnection for LocalOrRemoteConn<C, LC, A, LA>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
    LC: ChunnelConnection<Data = (LA, Vec<u8>)>,
{
    type Data = (A, Vec<u8>);

    async fn send(&self, (to, payload): (A, Vec<u8>)) -> Result<(), Error> {
        if let (Some(l), true) = (&self.local, self.local_open.get()) {
            if let Some(la) = (self.to_local)(&to) {
                self.bump(|s| s.local_sent += 1);
                return l.send((la, payload)).await;
            }
        }
        self.bump(|s| s.remote_sent += 1);
        self.inner.send((to, payload)).await
    }

    async fn recv(&self) -> Result<(A, Vec<u8>), Error> {
        loop {
            let Some(l) = self.local.as_ref().filter(|_| self.local_open.get()) else {
                return self.inner.recv().await;
            };
            let got = {
                let mut r = pin!(self.inner.recv());
                let mut lr = pin!(l.recv());
                let local_first = !self.local_first.get();
                self.local_first.set(local_first);
                poll_fn(|cx| {
                    if local_first {
                        if let Poll::Ready(x) = lr.as_mut().poll(cx) {
                            return Poll::Ready(Got::Local(x));
                        }
                    }
                    if let Poll::Ready(x) = r.as_mut().poll(cx) {
                        return Poll::Ready(Got::Remote(x));
                    }
                    if !local_first {
                        if let Poll::Ready(x) = lr.as_mut().poll(cx) {
                            return Poll::Ready(Got::Local(x));
                        }
                    }
                    Poll::Pending
                })
                .await
            };
            match got {
                Got::Remote(x) => return x,
                Got::Local(Ok((la, p))) => match (self.from_local)(&la) {
                    Some(a) => {
                        self.bump(|s| s.local_received += 1);
                        return Ok((a, p));
                    }
                    None => self.bump(|s| s.unnamed += 1),
                },
                // The fast path is gone: go on over the remote one.
                Got::Local(Err(Error::Closed)) => self.local_open.set(false),
                Got::Local(Err(e)) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::{ChanAddr, ChanConn, ChanNet, Faults};
    use crate::util::testrt::run;

    /// Remote addresses 1 (client) and 2 (server) share a host whose local path has
    /// addresses 11 and 12; remote address 3 is on another host.
    fn lor(
        local: Option<(ChanNet, ChanAddr)>,
    ) -> LocalOrRemoteChunnel<ChanConn, ChanAddr, ChanAddr> {
        LocalOrRemoteChunnel::new(
            move || local.as_ref().map(|(n, a)| n.endpoint(*a)),
            |a: &ChanAddr| matches!(a, 1 | 2).then_some(a + 10),
            |la: &ChanAddr| matches!(la, 11 | 12).then_some(la - 10),
        )
    }

    #[test]
    fn same_host_peers_use_the_local_path_others_the_remote_one() {
        let remote = ChanNet::new(Faults::none());
        let local = ChanNet::new(Faults::none());
        let (r1, r2, r3) = (remote.endpoint(1), remote.endpoint(2), remote.endpoint(3));
        let (l, rn) = (local.clone(), remote.clone());
        let out = run(move |_| async move {
            let c = lor(Some((l.clone(), 11))).connect_wrap(r1).await.unwrap();
            let s = lor(Some((l.clone(), 12))).connect_wrap(r2).await.unwrap();
            c.send((2, b"near".to_vec())).await.unwrap();
            let got = s.recv().await.unwrap();
            s.send((1, b"back".to_vec())).await.unwrap();
            let back = c.recv().await.unwrap();
            c.send((3, b"far".to_vec())).await.unwrap();
            let far = r3.recv().await.unwrap();
            r3.send((1, b"from far".to_vec())).await.unwrap();
            let from_far = c.recv().await.unwrap();
            (
                got,
                back,
                far,
                from_far,
                c.stats(),
                rn.stats().sent,
                l.stats().sent,
            )
        });
        assert_eq!(out.0, (1, b"near".to_vec()));
        assert_eq!(out.1, (2, b"back".to_vec()));
        assert_eq!(out.2, (1, b"far".to_vec()));
        assert_eq!(out.3, (3, b"from far".to_vec()));
        assert_eq!(
            (out.4.local_sent, out.4.remote_sent, out.4.local_received),
            (1, 1, 1)
        );
        assert_eq!((out.5, out.6), (2, 2), "two datagrams on each path");
    }

    #[test]
    fn the_fast_path_opens_when_negotiation_picks_it() {
        let remote = ChanNet::new(Faults::none());
        let local = ChanNet::new(Faults::none());
        let (r1, r2) = (remote.endpoint(1), remote.endpoint(2));
        let (l, rn) = (local.clone(), remote.clone());
        let out = run(move |_| async move {
            let mut server = lor(Some((l.clone(), 12)));
            let agreement = Agreement {
                local: server.capability(),
                peer: Some(server.capability()),
                labels: Default::default(),
            };
            // A server's negotiation picks its stack before the reply leaves; the client may
            // send at once, before the server's connection is built.
            server.picked(&agreement);
            let c = lor(Some((l.clone(), 11))).connect_wrap(r1).await.unwrap();
            c.send((2, b"first".to_vec())).await.unwrap();
            // A copy of the Chunnel (the listener's template) does not share the opened path.
            assert!(server.clone().opened.borrow().is_none());
            let s = server.connect_wrap(r2).await.unwrap();
            (s.recv().await.unwrap(), s.stats(), rn.stats().sent)
        });
        assert_eq!(out.0, (1, b"first".to_vec()));
        assert_eq!(out.1.local_received, 1, "over the fast path");
        assert_eq!(out.2, 0, "nothing on the remote path");
    }

    #[test]
    fn without_a_fast_path_everything_goes_remote() {
        let remote = ChanNet::new(Faults::none());
        let (r1, r2) = (remote.endpoint(1), remote.endpoint(2));
        let out = run(move |_| async move {
            let c = lor(None).connect_wrap(r1).await.unwrap();
            assert!(!c.has_local());
            c.send((2, b"x".to_vec())).await.unwrap();
            (r2.recv().await.unwrap(), c.stats().remote_sent)
        });
        assert_eq!(out, ((1, b"x".to_vec()), 1));
    }
}
