//! Encryption: X25519 key exchange in `connect_wrap`, then ChaCha20-Poly1305 per message.
//!
//! Carries `(A, Vec<u8>)` over `(A, Vec<u8>)`, point to point (one peer per connection, as
//! negotiated connections are). Nothing here is hand-rolled: the key exchange is
//! `x25519-dalek`, the key derivation HKDF-SHA-256 (`hkdf`, `sha2`), the AEAD
//! `chacha20poly1305`.
//!
//! # Handshake (inside [`Chunnel::connect_wrap`], over the inner connection)
//! The client draws an X25519 secret, sends `HELLO` with its public key to the server and
//! waits for `REPLY` with the server's public key, resending `HELLO` every
//! [`HandshakeConfig::rto`] up to [`HandshakeConfig::attempts`] times (the inner connection
//! may be unreliable). The server waits for a `HELLO` (up to [`HandshakeConfig::timeout`]),
//! draws its secret and replies; it answers a repeated `HELLO` with the same `REPLY` later,
//! from `recv`. Both derive two keys with HKDF-SHA-256 (salt `bertha-encrypt/1`, input the
//! X25519 shared secret, info `c2s`/`s2c` followed by the client's and the server's public
//! keys): one per direction, so the two ends never encrypt under the same key. A
//! non-contributory shared secret (a low-order public key) fails the handshake.
//!
//! # Wire format
//! - `HELLO`: `0x01`, client public key (32 bytes);
//! - `REPLY`: `0x02`, server public key (32 bytes);
//! - `DATA`: `0x03`, `counter: u64` little-endian, ChaCha20-Poly1305 ciphertext and 16-byte
//!   tag of the payload, with the 9-byte header as associated data. The nonce is 4 zero bytes
//!   then the counter (little-endian); the counter starts at 0 per direction and is never
//!   reused: the connection refuses to send past `u64::MAX` messages.
//!
//! A datagram that fails authentication is an [`Error::Decode`] from `recv` (the connection
//! goes on). Replays are not detected here: stack `at_most_once` or `reliable` *above* the
//! encryption, so their sequence numbers are authenticated and a replayed datagram is
//! dropped as a duplicate.
//! Capability: [`Compat::Exact`], label `x25519-chacha20poly1305/1`.
//!
//! # Randomness
//! The constructors take the random stream the secrets are drawn from. Simulations pass a
//! seeded `rand_chacha::ChaCha20Rng` for determinism; **real deployments must pass OS
//! randomness** (e.g. `ChaCha20Rng::from_os_rng()`, or `rand::rngs::OsRng` made infallible):
//! a predictable stream makes the keys predictable. Clones of a chunnel share the stream, so
//! every connection a listener builds draws fresh secrets.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::rc::Rc;

use chacha20poly1305::aead::{Aead, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, KeyInit, Nonce};
use chunnel::{Chunnel, ChunnelConnection, Compat, Error, Negotiate, Offer};
use hkdf::Hkdf;
use netrt::{Duration, Runtime};
use rand::RngCore;
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::util::read_u64;

/// The Chunnel type name.
pub const CHUNNEL: &str = "encrypt";
const HELLO: u8 = 1;
const REPLY: u8 = 2;
const DATA: u8 = 3;
const HEADER: usize = 9;
/// Datagrams a client keeps that arrive before the server's reply.
const EARLY_LIMIT: usize = 64;

/// Timing of the handshake.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HandshakeConfig {
    /// Wait before the client resends its `HELLO`.
    pub rto: Duration,
    /// `HELLO`s the client sends before giving up.
    pub attempts: u32,
    /// How long the server waits for a `HELLO`.
    pub timeout: Duration,
}

impl Default for HandshakeConfig {
    fn default() -> Self {
        HandshakeConfig {
            rto: Duration::from_millis(50),
            attempts: 10,
            timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Clone, Debug)]
enum Role<A> {
    Client { server: A },
    Server,
}

/// The encryption Chunnel (see the module documentation).
pub struct EncryptChunnel<R, A> {
    rt: R,
    role: Role<A>,
    rng: Rc<RefCell<dyn RngCore>>,
    cfg: HandshakeConfig,
}

impl<R: Clone, A: Clone> Clone for EncryptChunnel<R, A> {
    fn clone(&self) -> Self {
        EncryptChunnel {
            rt: self.rt.clone(),
            role: self.role.clone(),
            rng: self.rng.clone(),
            cfg: self.cfg,
        }
    }
}

impl<R, A: fmt::Debug> fmt::Debug for EncryptChunnel<R, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EncryptChunnel")
            .field("role", &self.role)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl<R: Runtime, A> EncryptChunnel<R, A> {
    /// The client end, talking to `server`, drawing its secret from `rng` (see the module
    /// documentation on randomness).
    pub fn client(rt: R, server: A, rng: impl RngCore + 'static) -> Self {
        EncryptChunnel {
            rt,
            role: Role::Client { server },
            rng: Rc::new(RefCell::new(rng)),
            cfg: HandshakeConfig::default(),
        }
    }

    /// The server end, drawing its secrets from `rng`.
    pub fn server(rt: R, rng: impl RngCore + 'static) -> Self {
        EncryptChunnel {
            rt,
            role: Role::Server,
            rng: Rc::new(RefCell::new(rng)),
            cfg: HandshakeConfig::default(),
        }
    }

    /// Sets the handshake timing.
    pub fn handshake(mut self, cfg: HandshakeConfig) -> Self {
        self.cfg = cfg;
        self
    }

    fn secret(&self) -> StaticSecret {
        let mut b = [0u8; 32];
        self.rng.borrow_mut().fill_bytes(&mut b);
        StaticSecret::from(b)
    }
}

impl<R, A> EncryptChunnel<R, A> {
    /// The server this client end talks to (`None` at the server end).
    pub fn server_addr(&self) -> Option<&A> {
        match &self.role {
            Role::Client { server } => Some(server),
            Role::Server => None,
        }
    }

    /// The handshake timing.
    pub fn handshake_config(&self) -> HandshakeConfig {
        self.cfg
    }
}

impl<R, A> Negotiate for EncryptChunnel<R, A> {
    fn capability(&self) -> Offer {
        Offer::new(CHUNNEL, "host", Compat::Exact).label("x25519-chacha20poly1305/1")
    }
}

fn key_msg(kind: u8, pk: &PublicKey) -> Vec<u8> {
    let mut m = Vec::with_capacity(33);
    m.push(kind);
    m.extend_from_slice(pk.as_bytes());
    m
}

fn peer_key(b: &[u8], kind: u8) -> Option<PublicKey> {
    if b.len() != 33 || b[0] != kind {
        return None;
    }
    let k: [u8; 32] = b[1..].try_into().ok()?;
    Some(PublicKey::from(k))
}

/// The (client→server, server→client) ciphers.
fn derive(
    secret: &StaticSecret,
    peer: &PublicKey,
    client_pk: &PublicKey,
    server_pk: &PublicKey,
) -> Result<(ChaCha20Poly1305, ChaCha20Poly1305), Error> {
    let shared = secret.diffie_hellman(peer);
    if !shared.was_contributory() {
        return Err(Error::layer(CHUNNEL, "non-contributory key exchange"));
    }
    let hk = Hkdf::<Sha256>::new(Some(b"bertha-encrypt/1"), shared.as_bytes());
    let mut keys = [[0u8; 32]; 2];
    for (k, dir) in keys.iter_mut().zip([b"c2s", b"s2c"]) {
        let mut info = dir.to_vec();
        info.extend_from_slice(client_pk.as_bytes());
        info.extend_from_slice(server_pk.as_bytes());
        hk.expand(&info, k)
            .map_err(|e| Error::layer(CHUNNEL, format!("hkdf: {e}")))?;
    }
    Ok((
        ChaCha20Poly1305::new(Key::from_slice(&keys[0])),
        ChaCha20Poly1305::new(Key::from_slice(&keys[1])),
    ))
}

impl<R, A, InC> Chunnel<InC> for EncryptChunnel<R, A>
where
    R: Runtime,
    A: Clone + PartialEq,
    InC: ChunnelConnection<Data = (A, Vec<u8>)>,
{
    type Connection = EncryptConn<InC, A>;

    async fn connect_wrap(&mut self, inner: InC) -> Result<Self::Connection, Error> {
        let secret = self.secret();
        let pk = PublicKey::from(&secret);
        match self.role.clone() {
            Role::Client { server } => {
                let hello = key_msg(HELLO, &pk);
                let mut early = VecDeque::new();
                let mut server_pk = None;
                for _ in 0..self.cfg.attempts.max(1) {
                    inner.send((server.clone(), hello.clone())).await?;
                    let wait = async {
                        loop {
                            let (from, b) = inner.recv().await?;
                            if from != server {
                                continue;
                            }
                            if let Some(k) = peer_key(&b, REPLY) {
                                return Ok::<_, Error>(k);
                            }
                            if b.first() == Some(&DATA) && early.len() < EARLY_LIMIT {
                                early.push_back((from, b));
                            }
                        }
                    };
                    if let Ok(r) = self.rt.timeout(self.cfg.rto, wait).await {
                        server_pk = Some(r?);
                        break;
                    }
                }
                let Some(spk) = server_pk else {
                    return Err(Error::layer(CHUNNEL, "no handshake reply from the server"));
                };
                let (c2s, s2c) = derive(&secret, &spk, &pk, &spk)?;
                Ok(EncryptConn::new(inner, c2s, s2c, Vec::new(), early))
            }
            Role::Server => {
                let wait = async {
                    loop {
                        let (from, b) = inner.recv().await?;
                        if let Some(k) = peer_key(&b, HELLO) {
                            return Ok::<_, Error>((from, k, b));
                        }
                    }
                };
                let (from, cpk, hello) = self
                    .rt
                    .timeout(self.cfg.timeout, wait)
                    .await
                    .map_err(|_| Error::layer(CHUNNEL, "no handshake from the client"))??;
                let reply = key_msg(REPLY, &pk);
                inner.send((from, reply.clone())).await?;
                let (c2s, s2c) = derive(&secret, &cpk, &cpk, &pk)?;
                let mut conn = EncryptConn::new(inner, s2c, c2s, reply, VecDeque::new());
                conn.hello = hello;
                Ok(conn)
            }
        }
    }
}

/// An encrypted connection (see the module documentation).
pub struct EncryptConn<C, A> {
    inner: C,
    seal: ChaCha20Poly1305,
    open: ChaCha20Poly1305,
    counter: Cell<u64>,
    /// Server: the client's `HELLO` and our `REPLY`, to answer a repeated `HELLO`.
    hello: Vec<u8>,
    reply: Vec<u8>,
    early: RefCell<VecDeque<(A, Vec<u8>)>>,
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&counter.to_le_bytes());
    n
}

impl<C, A> EncryptConn<C, A> {
    fn new(
        inner: C,
        seal: ChaCha20Poly1305,
        open: ChaCha20Poly1305,
        reply: Vec<u8>,
        early: VecDeque<(A, Vec<u8>)>,
    ) -> Self {
        EncryptConn {
            inner,
            seal,
            open,
            counter: Cell::new(0),
            hello: Vec::new(),
            reply,
            early: RefCell::new(early),
        }
    }

    /// Messages sealed so far (the next nonce counter).
    pub fn sent(&self) -> u64 {
        self.counter.get()
    }

    fn seal(&self, payload: &[u8]) -> Result<Vec<u8>, Error> {
        let n = self.counter.get();
        if n == u64::MAX {
            return Err(Error::layer(CHUNNEL, "nonce space exhausted"));
        }
        self.counter.set(n + 1);
        let mut frame = Vec::with_capacity(HEADER + payload.len() + 16);
        frame.push(DATA);
        frame.extend_from_slice(&n.to_le_bytes());
        let ct = self
            .seal
            .encrypt(
                Nonce::from_slice(&nonce(n)),
                Payload {
                    msg: payload,
                    aad: &frame[..HEADER],
                },
            )
            .map_err(|_| Error::layer(CHUNNEL, "encryption failed"))?;
        frame.extend_from_slice(&ct);
        Ok(frame)
    }

    fn unseal(&self, b: &[u8]) -> Result<Vec<u8>, Error> {
        let n = read_u64(b, 1).ok_or_else(|| Error::decode(CHUNNEL, "short datagram"))?;
        self.open
            .decrypt(
                Nonce::from_slice(&nonce(n)),
                Payload {
                    msg: &b[HEADER..],
                    aad: &b[..HEADER],
                },
            )
            .map_err(|_| Error::decode(CHUNNEL, "authentication failed"))
    }
}

impl<C, A> ChunnelConnection for EncryptConn<C, A>
where
    C: ChunnelConnection<Data = (A, Vec<u8>)>,
{
    type Data = (A, Vec<u8>);

    async fn send(&self, (to, payload): (A, Vec<u8>)) -> Result<(), Error> {
        let f = self.seal(&payload)?;
        self.inner.send((to, f)).await
    }

    async fn send_batch(&self, batch: Vec<(A, Vec<u8>)>) -> Result<(), Error> {
        let mut out = Vec::with_capacity(batch.len());
        for (to, p) in batch {
            out.push((to, self.seal(&p)?));
        }
        self.inner.send_batch(out).await
    }

    async fn recv(&self) -> Result<(A, Vec<u8>), Error> {
        loop {
            let early = self.early.borrow_mut().pop_front();
            let (from, b) = match early {
                Some(x) => x,
                None => self.inner.recv().await?,
            };
            match b.first() {
                Some(&DATA) => return Ok((from, self.unseal(&b)?)),
                // The client's HELLO again: our REPLY was lost.
                Some(&HELLO) if !self.hello.is_empty() && b == self.hello => {
                    self.inner.send((from, self.reply.clone())).await?;
                }
                // A repeated REPLY, or a stranger's handshake: nothing to do.
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chan::{pair, Faults};
    use crate::util::testrt::run;
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    fn rng(seed: u64) -> ChaCha20Rng {
        ChaCha20Rng::seed_from_u64(seed)
    }

    #[test]
    fn handshake_then_round_trip_under_loss() {
        let (a, b) = pair(Faults {
            loss: 0.3,
            seed: 4,
            ..Faults::default()
        });
        let got = run(move |rt| async move {
            let srt = rt.clone();
            let server = rt.spawn(async move {
                let s = EncryptChunnel::server(srt, rng(2))
                    .connect_wrap(b)
                    .await
                    .unwrap();
                // Echo until the client stops.
                loop {
                    let (from, m) = s.recv().await.unwrap();
                    s.send((from, m)).await.unwrap();
                }
            });
            let c = EncryptChunnel::client(rt.clone(), 2, rng(1))
                .connect_wrap(a)
                .await
                .unwrap();
            let mut got = Vec::new();
            // Lossy and unprotected: resend each request until its echo comes.
            for i in 0..20u8 {
                loop {
                    c.send((2, vec![i; 10])).await.unwrap();
                    if let Ok(r) = rt.timeout(Duration::from_millis(5), c.recv()).await {
                        let (_, m) = r.unwrap();
                        if m == vec![i; 10] {
                            got.push(i);
                            break;
                        }
                    }
                }
            }
            server.abort();
            got
        });
        assert_eq!(got, (0..20).collect::<Vec<u8>>());
    }

    #[test]
    fn ciphertext_hides_the_payload_and_tampering_is_a_decode_error() {
        let (a, b) = pair(Faults::none());
        let net = a.net().clone();
        let spy = net.endpoint(3);
        let out = run(move |rt| async move {
            let srt = rt.clone();
            let server = rt.spawn(async move {
                EncryptChunnel::server(srt, rng(2))
                    .connect_wrap(b)
                    .await
                    .unwrap()
            });
            let c = EncryptChunnel::client(rt.clone(), 2, rng(1))
                .connect_wrap(a)
                .await
                .unwrap();
            let s = server.await.unwrap();
            let secret = b"attack at dawn".to_vec();
            // Sent to the spy: what goes on the wire.
            c.send((3, secret.clone())).await.unwrap();
            let (_, wire) = spy.recv().await.unwrap();
            assert!(!wire.windows(secret.len()).any(|w| w == &secret[..]));
            assert_eq!(wire.len(), HEADER + secret.len() + 16);
            // Two sends never share a nonce.
            c.send((3, secret.clone())).await.unwrap();
            let (_, wire2) = spy.recv().await.unwrap();
            assert_ne!(wire[1..HEADER], wire2[1..HEADER]);
            assert_ne!(wire, wire2);
            // The genuine datagram decrypts; a flipped bit, a forged counter or garbage don't.
            spy.send((2, wire.clone())).await.unwrap();
            let ok = s.recv().await.unwrap().1;
            let mut bad = wire.clone();
            bad[HEADER + 2] ^= 1;
            let mut forged = wire.clone();
            forged[1] ^= 1;
            let mut errs = Vec::new();
            for b in [bad, forged, vec![DATA, 1, 2], vec![DATA; HEADER + 3]] {
                spy.send((2, b)).await.unwrap();
                errs.push(matches!(s.recv().await, Err(Error::Decode { .. })));
            }
            (ok, errs, c.sent())
        });
        assert_eq!(out.0, b"attack at dawn");
        assert_eq!(out.1, vec![true; 4]);
        assert_eq!(out.2, 2);
    }

    #[test]
    fn same_seeds_same_keys_different_seeds_different_keys() {
        let wire = |cs: u64, ss: u64| {
            let (a, b) = pair(Faults::none());
            let spy = a.net().endpoint(3);
            run(move |rt| async move {
                let srt = rt.clone();
                let server = rt.spawn(async move {
                    EncryptChunnel::server(srt, rng(ss))
                        .connect_wrap(b)
                        .await
                        .unwrap()
                });
                let c = EncryptChunnel::client(rt.clone(), 2, rng(cs))
                    .connect_wrap(a)
                    .await
                    .unwrap();
                let _s = server.await.unwrap();
                c.send((3, vec![0; 8])).await.unwrap();
                spy.recv().await.unwrap().1
            })
        };
        assert_eq!(wire(1, 2), wire(1, 2));
        assert_ne!(wire(1, 2), wire(1, 3));
        assert_ne!(wire(1, 2), wire(5, 2));
    }

    #[test]
    fn a_low_order_public_key_fails_the_handshake() {
        let (a, b) = pair(Faults::none());
        let r = run(move |rt| async move {
            let srt = rt.clone();
            let server = rt.spawn(async move {
                EncryptChunnel::server(srt, rng(2))
                    .connect_wrap(b)
                    .await
                    .map(|_| ())
            });
            let mut hello = vec![HELLO];
            hello.extend_from_slice(&[0u8; 32]); // the identity point
            a.send((2, hello)).await.unwrap();
            server.await.unwrap()
        });
        assert!(r.unwrap_err().to_string().contains("non-contributory"));
    }
}
