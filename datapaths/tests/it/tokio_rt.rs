//! The tokio implementation of netrt's runtime boundary (`datapaths::tokio_rt`): timeouts,
//! sleep ordering, spawn / JoinHandle / abort, the owner's drop, UDP echo on loopback and
//! Unix datagram echo in a temporary directory, with the error kinds real sockets give.

use datapaths::tokio_rt::{TokioRuntime, UnixAddr, MAX_UDP_PAYLOAD_V4};
use netrt::{DatagramSocket, Duration, Elapsed, Instant, JoinError, Runtime};
use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

fn runtime() -> TokioRuntime {
    TokioRuntime::new().expect("a tokio runtime")
}

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// Generous: the machine running the suite may be loaded.
const PATIENCE: Duration = Duration::from_secs(30);

/// Polls `fut` once, outside any runtime.
fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut cx = Context::from_waker(Waker::noop());
    pin!(fut).poll(&mut cx)
}

#[test]
fn timeouts_fire_and_a_ready_future_wins() {
    let rt = runtime();
    rt.block_on(async {
        let t0 = rt.now();
        let r = rt
            .timeout(Duration::from_millis(20), std::future::pending::<()>())
            .await;
        assert_eq!(r, Err(Elapsed));
        let waited = rt.now() - t0;
        assert!(waited >= Duration::from_millis(20), "woke after {waited}");
        // Finished first: its output, even with a zero timeout.
        assert_eq!(rt.timeout(Duration::ZERO, async { 7 }).await, Ok(7));
        let short = rt.sleep(Duration::from_millis(1));
        assert_eq!(rt.timeout(PATIENCE, short).await, Ok(()));
        // Elapsed converts to the io error kind protocol code expects.
        assert_eq!(io::Error::from(Elapsed).kind(), io::ErrorKind::TimedOut);
    });
    // A timeout (and so its sleep) made outside `block_on` works too.
    let fut = rt.timeout(Duration::from_millis(5), std::future::pending::<()>());
    assert_eq!(rt.block_on(fut), Err(Elapsed));
}

#[test]
fn sleeps_wake_in_deadline_order() {
    let rt = runtime();
    let order = Rc::new(RefCell::new(Vec::new()));
    let delays = [30u64, 10, 20, 0, 15];
    rt.block_on(async {
        let start = rt.now();
        let mut tasks = Vec::new();
        for ms in delays {
            let (rt2, order) = (rt.clone(), order.clone());
            tasks.push(rt.spawn(async move {
                rt2.sleep_until(start + Duration::from_millis(ms)).await;
                order.borrow_mut().push(ms);
                rt2.now()
            }));
        }
        for (ms, task) in delays.into_iter().zip(tasks) {
            let woke = task.await.unwrap();
            assert!(
                woke >= start + Duration::from_millis(ms),
                "{ms} ms sleep woke early"
            );
        }
    });
    assert_eq!(*order.borrow(), vec![0, 10, 15, 20, 30]);
}

#[test]
fn clock_is_monotonic_and_past_or_far_deadlines_are_fine() {
    let rt = runtime();
    rt.block_on(async {
        let mut last = rt.now();
        for _ in 0..100 {
            let t = rt.now();
            assert!(t >= last);
            last = t;
        }
        // A deadline in the past completes at once.
        assert_eq!(
            rt.timeout(PATIENCE, rt.sleep_until(Instant::ZERO)).await,
            Ok(())
        );
        // The far future (about 584 years past the epoch) neither panics nor fires.
        let never = rt.sleep_until(Instant::MAX);
        assert_eq!(
            rt.timeout(Duration::from_millis(5), never).await,
            Err(Elapsed)
        );
        assert_eq!(
            rt.timeout(Duration::from_millis(5), rt.sleep(Duration::MAX))
                .await,
            Err(Elapsed)
        );
    });
}

#[test]
fn spawn_join_abort_and_detach() {
    let rt = runtime();
    rt.block_on(async {
        assert_eq!(rt.spawn(async { 40 + 2 }).await, Ok(42));

        // Tasks need not be Send: shared state in Rc<RefCell<_>>.
        let count = Rc::new(RefCell::new(0));
        let (c, rt2) = (count.clone(), rt.clone());
        rt.spawn(async move {
            rt2.sleep(Duration::from_millis(1)).await;
            *c.borrow_mut() += 1;
        })
        .await
        .unwrap();
        assert_eq!(*count.borrow(), 1);

        // Abort a task parked on a long sleep.
        let rt2 = rt.clone();
        let parked = rt.spawn(async move {
            rt2.sleep(Duration::from_secs(3600)).await;
            1
        });
        rt.sleep(Duration::from_millis(1)).await;
        assert!(!parked.is_finished());
        parked.abort();
        assert_eq!(
            rt.timeout(PATIENCE, parked).await,
            Ok(Err(JoinError::Cancelled))
        );

        // Dropping a handle detaches the task: it still runs.
        let (c, rt2) = (count.clone(), rt.clone());
        drop(rt.spawn(async move {
            rt2.sleep(Duration::from_millis(2)).await;
            *c.borrow_mut() += 10;
        }));
        let deadline = rt.now() + PATIENCE;
        while *count.borrow() != 11 && rt.now() < deadline {
            rt.sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(*count.borrow(), 11);
    });
}

#[test]
fn dropping_the_owner_cancels_tasks_and_handles_fail_softly() {
    let rt = runtime();
    assert!(rt.is_owner());
    let handle = rt.clone();
    assert!(!handle.is_owner());
    // Spawned outside block_on: queued, run at the next one.
    let done = rt.spawn(async { 5 });
    let stuck = rt.spawn(std::future::pending::<u8>());
    rt.block_on(handle.sleep(Duration::from_millis(1)));
    assert!(done.is_finished());
    assert_eq!(poll_once(done), Poll::Ready(Ok(5)));
    assert!(!stuck.is_finished());
    drop(rt);
    assert_eq!(poll_once(stuck), Poll::Ready(Err(JoinError::Cancelled)));
    // A handle outlives the runtime without panicking.
    assert_eq!(
        poll_once(handle.spawn(async { 1 })),
        Poll::Ready(Err(JoinError::Cancelled))
    );
    match poll_once(handle.bind_udp(loopback())) {
        Poll::Ready(Err(e)) => assert!(e.to_string().contains("dropped"), "{e}"),
        other => panic!("bind_udp on a dead handle: {:?}", other.map(|r| r.is_ok())),
    }
    assert!(poll_once(handle.sleep(Duration::ZERO)).is_pending());
    let _ = handle.now();
}

#[test]
fn udp_echo_on_loopback() {
    let rt = runtime();
    rt.block_on(async {
        let server = rt.bind_udp(loopback()).await.unwrap();
        let saddr = server.local_addr().unwrap();
        assert_ne!(saddr.port(), 0);
        let rounds = 3;
        let echo = rt.spawn(async move {
            let mut buf = vec![0u8; 2048];
            for _ in 0..rounds {
                let (n, from) = server.recv_from(&mut buf).await?;
                server.send_to(&buf[..n], &from).await?;
            }
            io::Result::Ok(())
        });
        let client = rt.bind_udp(loopback()).await.unwrap();
        let caddr = client.local_addr().unwrap();
        let big = [7u8; 1400];
        for msg in [&b"hello"[..], &b""[..], &big[..]] {
            assert_eq!(client.send_to(msg, &saddr).await.unwrap(), msg.len());
            let mut buf = [0u8; 2048];
            let (n, from) = rt
                .timeout(PATIENCE, client.recv_from(&mut buf))
                .await
                .expect("echo in time")
                .unwrap();
            assert_eq!(from, saddr);
            assert_eq!(&buf[..n], msg);
        }
        rt.timeout(PATIENCE, echo).await.unwrap().unwrap().unwrap();

        // The port is taken while the client holds it.
        let e = rt.bind_udp(caddr).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        // An address this host does not own (TEST-NET-1).
        let e = rt
            .bind_udp("192.0.2.1:0".parse().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
    });
}

#[test]
fn udp_truncates_long_datagrams_and_refuses_oversized_ones() {
    let rt = runtime();
    rt.block_on(async {
        let a = rt.bind_udp(loopback()).await.unwrap();
        let b = rt.bind_udp(loopback()).await.unwrap();
        let baddr = b.local_addr().unwrap();
        // A datagram longer than the buffer is truncated, as UDP does.
        a.send_to(&[1u8; 100], &baddr).await.unwrap();
        let mut small = [0u8; 10];
        let (n, _) = rt
            .timeout(PATIENCE, b.recv_from(&mut small))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 10);
        // The largest IPv4 payload goes through; one byte more is refused up front.
        let max = vec![2u8; MAX_UDP_PAYLOAD_V4];
        assert_eq!(a.send_to(&max, &baddr).await.unwrap(), MAX_UDP_PAYLOAD_V4);
        let mut buf = vec![0u8; 70_000];
        let (n, _) = rt
            .timeout(PATIENCE, b.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, MAX_UDP_PAYLOAD_V4);
        let e = a
            .send_to(&vec![0u8; MAX_UDP_PAYLOAD_V4 + 1], &baddr)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
    });
}

#[test]
fn unix_datagram_echo_in_a_tempdir() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let spath = UnixAddr::from(dir.path().join("server.sock"));
        let cpath = dir.path().join("client.sock");
        let server = rt.bind_unix(&spath).unwrap();
        assert_eq!(server.local_addr().unwrap(), spath);
        let echo = rt.spawn(async move {
            let mut buf = vec![0u8; 4096];
            let (n, from) = server.recv_from(&mut buf).await?;
            server.send_to(&buf[..n], &from).await?;
            // A sender without a path: a clear error, then the socket keeps working.
            let unnamed = server.recv_from(&mut buf).await.unwrap_err();
            let (n, from) = server.recv_from(&mut buf).await?;
            server.send_to(&buf[..n], &from).await?;
            io::Result::Ok(unnamed)
        });
        let client = rt.bind_unix(&cpath).unwrap();
        let mut buf = [0u8; 64];
        for (msg, anonymous_first) in [(&b"ping"[..], false), (&b"pong"[..], true)] {
            if anonymous_first {
                let anon = std::os::unix::net::UnixDatagram::unbound().unwrap();
                anon.send_to(b"who am I", &*spath).unwrap();
            }
            client.send_to(msg, &spath).await.unwrap();
            let (n, from) = rt
                .timeout(PATIENCE, client.recv_from(&mut buf))
                .await
                .expect("echo in time")
                .unwrap();
            assert_eq!(from, spath);
            assert_eq!(&buf[..n], msg);
        }
        let unnamed = rt.timeout(PATIENCE, echo).await.unwrap().unwrap().unwrap();
        assert_eq!(unnamed.kind(), io::ErrorKind::AddrNotAvailable);
        assert!(unnamed.to_string().contains("unnamed"), "{unnamed}");

        // Errors as the kernel gives them.
        let e = rt.bind_unix(&cpath).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::AddrInUse);
        let nobody = UnixAddr::from(dir.path().join("nobody.sock"));
        let e = client.send_to(b"x", &nobody).await.unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::NotFound);
        #[cfg(target_os = "linux")]
        {
            // Larger than the default send buffer (about 208 KiB).
            let e = client
                .send_to(&vec![0u8; 4 << 20], &spath)
                .await
                .unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{e}");
        }
    });
}

/// The Unix socket remembers its last sender: datagrams in a row from one path are reported
/// with one shared address (a clone, no allocation), and a datagram from another path, or
/// from an unnamed socket in between, is reported with its own sender, through `recv_from`
/// and `poll_recv_from` alike.
#[test]
fn unix_senders_in_a_row_share_their_address() {
    let dir = tempfile::tempdir().unwrap();
    let rt = runtime();
    rt.block_on(async {
        let spath = UnixAddr::from(dir.path().join("s.sock"));
        let server = rt.bind_unix(&spath).unwrap();
        let (apath, bpath) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
        let a = rt.bind_unix(&apath).unwrap();
        let b = rt.bind_unix(&bpath).unwrap();
        let anon = std::os::unix::net::UnixDatagram::unbound().unwrap();
        let mut buf = [0u8; 16];
        let mut got: Vec<UnixAddr> = Vec::new();
        for (i, who) in "aabaxab".chars().enumerate() {
            match who {
                'a' => a.send_to(&[i as u8], &spath).await.unwrap(),
                'b' => b.send_to(&[i as u8], &spath).await.unwrap(),
                _ => anon.send_to(&[i as u8], &*spath).unwrap(),
            };
            // Alternately through the future and through polling.
            let r = if i % 2 == 0 {
                rt.timeout(PATIENCE, server.recv_from(&mut buf)).await
            } else {
                rt.timeout(
                    PATIENCE,
                    std::future::poll_fn(|cx| server.poll_recv_from(cx, &mut buf)),
                )
                .await
            }
            .expect("in time");
            match who {
                'x' => {
                    let e = r.unwrap_err();
                    assert_eq!(e.kind(), io::ErrorKind::AddrNotAvailable);
                }
                _ => {
                    let (n, from) = r.unwrap();
                    assert_eq!((n, buf[0]), (1, i as u8));
                    let want = if who == 'a' { &apath } else { &bpath };
                    assert_eq!(*from, **want, "datagram {i}");
                    got.push(from);
                }
            }
        }
        // a a b a a b: shared within a run, apart across another sender (the unnamed one
        // between the third and fourth `a` changes nothing).
        assert!(UnixAddr::ptr_eq(&got[0], &got[1]));
        assert!(!UnixAddr::ptr_eq(&got[1], &got[3]));
        assert_eq!(got[1], got[3]);
        assert!(UnixAddr::ptr_eq(&got[3], &got[4]));
        assert_ne!(got[4], got[5]);
        // Forgotten: the next address is a new one, equal to the last.
        server.forget_last_sender();
        b.send_to(&[9], &spath).await.unwrap();
        let (_, from) = rt
            .timeout(PATIENCE, server.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(!UnixAddr::ptr_eq(&from, &got[5]));
        assert_eq!(from, got[5]);
    });
}

/// Counts its wakes.
struct CountWakes(std::sync::atomic::AtomicUsize);

impl std::task::Wake for CountWakes {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// `poll_recv_from`'s registration outlives the call: a socket polled once (`Pending`) and
/// then left alone wakes that waker when a datagram `tx` sends to `to` (an address of `rx`)
/// arrives, and the next poll returns it, from `from`.
async fn poll_recv_keeps_its_waker<S: DatagramSocket<Addr: PartialEq>>(
    rt: &TokioRuntime,
    rx: &S,
    tx: &S,
    to: &S::Addr,
    from: &S::Addr,
) {
    assert!(S::POLL_RECV);
    let count = std::sync::Arc::new(CountWakes(Default::default()));
    let waker = Waker::from(count.clone());
    let mut cx = Context::from_waker(&waker);
    let mut buf = [0u8; 64];
    assert!(rx.poll_recv_from(&mut cx, &mut buf).is_pending());
    tx.send_to(b"ping", to).await.unwrap();
    let woken = async {
        while count.0.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            rt.sleep(Duration::from_millis(1)).await;
        }
    };
    rt.timeout(PATIENCE, woken)
        .await
        .expect("the kept waker is woken");
    let Poll::Ready(got) = rx.poll_recv_from(&mut cx, &mut buf) else {
        panic!("the datagram is there after the wake");
    };
    let (n, sender) = got.unwrap();
    assert_eq!(&buf[..n], b"ping");
    assert_eq!(&sender, from);
    assert!(rx.poll_recv_from(&mut cx, &mut buf).is_pending());
}

#[test]
fn poll_recv_from_keeps_its_waker_on_udp_unix_and_tcp() {
    let rt = runtime();
    rt.block_on(async {
        let (a, b) = (
            rt.bind_udp(loopback()).await.unwrap(),
            rt.bind_udp(loopback()).await.unwrap(),
        );
        let (to, from) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        poll_recv_keeps_its_waker(&rt, &a, &b, &to, &from).await;

        let dir = tempfile::tempdir().unwrap();
        let a = rt.bind_unix(dir.path().join("a.sock")).unwrap();
        let b = rt.bind_unix(dir.path().join("b.sock")).unwrap();
        let (to, from) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        poll_recv_keeps_its_waker(&rt, &a, &b, &to, &from).await;

        let (a, b) = (
            rt.bind_tcp(loopback()).await.unwrap(),
            rt.bind_tcp(loopback()).await.unwrap(),
        );
        // Over TCP the datagram comes from the connection `b` opened, not its listener: send
        // one first so that `a` answers over that connection, then test the other way round.
        b.send_to(b"hi", &a.local_addr().unwrap()).await.unwrap();
        let mut buf = [0u8; 8];
        let (_, b_conn) = rt
            .timeout(PATIENCE, a.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        let a_addr = a.local_addr().unwrap();
        poll_recv_keeps_its_waker(&rt, &b, &a, &b_conn, &a_addr).await;
    });
}
