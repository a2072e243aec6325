//! End to end: the `ccp agent --alg const` binary serves our datapath runtime over a real
//! Unix socket.

use ccp::datapath::{Config, Datapath, FlowInfo, Primitives};
use ccp::ipc::Transport;
use ccp::wire::Msg;
use datapaths::unix::{ccp_path, UnixTransport};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn ccp_agent_binary_sets_const_window() {
    let pid = std::process::id();
    let name = format!("it-cli-agent-{pid}");
    let agent = ccp_path(&name);
    // A stale socket file (a killed run with a recycled pid) would look like a ready agent.
    let _ = std::fs::remove_file(&agent);
    let mut child = Command::new(env!("CARGO_BIN_EXE_ccp"))
        .args([
            "agent",
            "--alg",
            "const",
            "--packets",
            "20",
            "--ipc-name",
            &name,
        ])
        .spawn()
        .unwrap();
    // Generous timeouts: the machine running the suite may be loaded.
    let deadline = Instant::now() + Duration::from_secs(60);
    while !agent.exists() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }

    let mut t = UnixTransport::bind(&format!("it-cli-dp-{pid}")).unwrap();
    t.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut dp = Datapath::new(Config::default(), netrt::Instant::ZERO);
    let sid = dp
        .open_flow(
            netrt::Instant::ZERO,
            FlowInfo {
                init_cwnd: 14_600,
                mss: 1000,
                ..Default::default()
            },
        )
        .unwrap();
    while let Some(m) = dp.poll_transmit() {
        t.send_to(netrt::Instant::ZERO, &agent, m).unwrap();
    }
    let mut buf = vec![0u8; 65536];
    let result = (|| {
        loop {
            let (n, _) = t.recv_from(netrt::Instant::ZERO, &mut buf).ok()??;
            dp.handle_bytes(netrt::Instant::ZERO, &buf[..n]).ok()?;
            if matches!(Msg::decode(&buf[..n]).ok()?.0, Msg::ChangeProg(_)) {
                break;
            }
        }
        let p = Primitives {
            bytes_acked: 1000,
            snd_cwnd: 5000,
            ..Default::default()
        };
        dp.invoke(netrt::Instant::from_micros(1), sid, &p).cwnd
    })();
    let _ = child.kill();
    let _ = child.wait();
    // Killed, the agent could not remove its socket file.
    let _ = std::fs::remove_file(&agent);
    assert_eq!(result, Some(20 * 1000));
}
