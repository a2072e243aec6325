//! The application of [`crate::stack`] — the full negotiated stack
//! `[select!(bincode, postcard), encrypt, ordered, reliable]`, 200 requests and echoes over
//! sockets that drop every 7th datagram — over real Unix datagram sockets on tokio
//! (`Addr = PathBuf`) and over TCP connections (`datapaths::tcp_dgram`, datagrams as
//! length-prefixed frames), with the same checks as on the simulator and on UDP.

use datapaths::tokio_rt::TokioRuntime;

use crate::stack::{app_over, check};

#[test]
fn full_stack_on_real_unix_datagram_sockets_under_loss() {
    let dir = tempfile::tempdir().unwrap();
    let rt = TokioRuntime::new().unwrap();
    let (spath, cpath) = (
        dir.path().join("server.sock"),
        dir.path().join("client.sock"),
    );
    let ssock = rt.bind_unix(&spath).unwrap();
    let csock = rt.bind_unix(&cpath).unwrap();
    let o = rt
        .block_on(app_over(rt.clone(), rt.clone(), ssock, csock, true))
        .unwrap();
    check(&o, "postcard/1");
}

#[test]
fn full_stack_on_real_tcp_connections_under_loss() {
    let rt = TokioRuntime::new().unwrap();
    let r2 = rt.clone();
    let o = rt
        .block_on(async move {
            let lo = "127.0.0.1:0".parse().unwrap();
            let ssock = r2.bind_tcp(lo).await?;
            let csock = r2.bind_tcp(lo).await?;
            app_over(r2.clone(), r2, ssock, csock, true).await
        })
        .unwrap();
    check(&o, "postcard/1");
}
