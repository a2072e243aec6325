//! The application of [`crate::stack`] — the full negotiated stack
//! `[select!(bincode, postcard), encrypt, ordered, reliable]`, 200 requests and echoes over
//! sockets that drop every 7th datagram — over real Unix datagram sockets on tokio
//! (`Addr = PathBuf`), with the same checks as on the simulator and on UDP.

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
