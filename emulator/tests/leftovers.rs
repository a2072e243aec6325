//! Nothing is left behind: after a normal stop, after Ctrl-C (SIGINT) and after SIGKILL of an
//! emulator process halfway through, no namespace is referenced by any process (so the kernel
//! has freed it with its TUN device), no workload survives, `ip netns list` and the initial
//! namespace's links are unchanged, and no file was created. Needs root; skipped otherwise.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use emulator::config::EmulatorConfig;
use emulator::Emulation;

static SERIAL: Mutex<()> = Mutex::new(());

fn privileged() -> bool {
    match emulator::netns::check_privileges() {
        Ok(()) => true,
        Err(e) => {
            // `.ci/run` sets TESTBED_EMULATOR=1: there the emulator tests must run.
            assert!(
                std::env::var("TESTBED_EMULATOR").as_deref() != Ok("1"),
                "TESTBED_EMULATOR=1 but {e}"
            );
            eprintln!("skipped: {e}");
            false
        }
    }
}

/// Every network namespace inode any process refers to (as its namespace or by a descriptor).
fn live_net_namespaces() -> BTreeSet<u64> {
    let mut set = BTreeSet::new();
    let parse = |s: &str| {
        s.strip_prefix("net:[")
            .and_then(|r| r.strip_suffix(']'))
            .and_then(|n| n.parse::<u64>().ok())
    };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return set;
    };
    for p in procs.flatten() {
        let path = p.path();
        if !p
            .file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
        {
            continue;
        }
        if let Some(n) = std::fs::read_link(path.join("ns/net"))
            .ok()
            .and_then(|l| parse(&l.to_string_lossy()))
        {
            set.insert(n);
        }
        for task in std::fs::read_dir(path.join("task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(n) = std::fs::read_link(task.path().join("ns/net"))
                .ok()
                .and_then(|l| parse(&l.to_string_lossy()))
            {
                set.insert(n);
            }
        }
        for fd in std::fs::read_dir(path.join("fd"))
            .into_iter()
            .flatten()
            .flatten()
        {
            if let Some(n) = std::fs::read_link(fd.path())
                .ok()
                .and_then(|l| parse(&l.to_string_lossy()))
            {
                set.insert(n);
            }
        }
    }
    set
}

fn cmd_out(prog: &str, args: &[&str]) -> String {
    Command::new(prog)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// What must not appear in the initial namespace: a device or a named namespace of ours.
/// (Other programs may add or remove links and namespaces meanwhile, so only ours are
/// compared; that the anonymous namespaces themselves are gone is checked by inode.)
fn visible_state() -> (Vec<String>, Vec<String>) {
    let ours = |s: &str| s.contains("emu");
    let links = cmd_out("ip", &["-o", "link"])
        .lines()
        .filter(|l| ours(l))
        .map(str::to_string)
        .collect();
    let named = cmd_out("ip", &["netns", "list"])
        .lines()
        .filter(|l| ours(l))
        .map(str::to_string)
        .collect();
    (links, named)
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let t = Instant::now();
    while !ok() {
        assert!(
            t.elapsed() < Duration::from_secs(5),
            "timed out waiting: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn pid_alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn a_normal_stop_frees_namespaces_devices_and_workloads() {
    if !privileged() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = visible_state();
    let em = Emulation::start(&EmulatorConfig::dumbbell(
        2,
        10_000_000,
        1_000.0,
        100,
        100_000_000,
    ))
    .unwrap();
    let inodes = em.ns_inodes();
    assert_eq!(inodes.len(), 4);
    let live = live_net_namespaces();
    assert!(
        inodes.iter().all(|i| live.contains(i)),
        "namespaces exist while running"
    );
    let mut sleeper = Command::new("sleep");
    sleeper.arg("1000");
    let mut child = em.spawn_in(em.host("sender1").unwrap(), sleeper).unwrap();
    let pid = child.id();
    drop(em.stop());
    let status = child.wait().unwrap();
    assert!(!status.success(), "the workload was killed: {status:?}");
    assert!(!pid_alive(pid));
    wait_until("namespaces released", || {
        let live = live_net_namespaces();
        inodes.iter().all(|i| !live.contains(i))
    });
    assert_eq!(visible_state(), before);
}

struct Run {
    child: std::process::Child,
    inodes: Vec<u64>,
    workload: u32,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

/// Starts the emulator binary on a 2-pair dumbbell with a `sleep` in sender0 and waits for
/// READY.
fn start_binary(out: &std::path::Path) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_emulator"))
        .args([
            "run",
            "--hosts",
            "2",
            "--rate-mbps",
            "10",
            "--delay-ms",
            "5",
            "--out",
        ])
        .arg(out)
        .args(["--exec", "sender0=exec sleep 1000"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut inodes, mut workload) = (Vec::new(), 0);
    for l in lines.by_ref() {
        let l = l.unwrap();
        let w: Vec<&str> = l.split_whitespace().collect();
        match w.as_slice() {
            ["host", _, _, "netns", n] => inodes.push(n.parse().unwrap()),
            ["child", _, "pid", p] => workload = p.parse().unwrap(),
            ["READY"] => break,
            _ => {}
        }
    }
    assert_eq!(inodes.len(), 4);
    assert!(workload > 0);
    Run {
        child,
        inodes,
        workload,
        lines,
    }
}

fn assert_clean(run: &Run, before: &(Vec<String>, Vec<String>)) {
    wait_until("workload gone", || !pid_alive(run.workload));
    wait_until("namespaces released", || {
        let live = live_net_namespaces();
        run.inodes.iter().all(|i| !live.contains(i))
    });
    assert_eq!(&visible_state(), before);
}

#[test]
fn sigkill_halfway_leaves_nothing_behind() {
    if !privileged() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = visible_state();
    let dir = tempfile::tempdir().unwrap();
    let mut run = start_binary(&dir.path().join("results"));
    let live = live_net_namespaces();
    assert!(run.inodes.iter().all(|i| live.contains(i)));
    assert!(pid_alive(run.workload));
    let ns = std::fs::read_link(format!("/proc/{}/ns/net", run.workload)).unwrap();
    assert!(
        run.inodes
            .iter()
            .any(|i| ns.to_string_lossy() == format!("net:[{i}]")),
        "the workload runs in a host's namespace"
    );
    std::thread::sleep(Duration::from_millis(200));
    run.child.kill().unwrap(); // SIGKILL
    let _ = run.child.wait();
    assert_clean(&run, &before);
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "no file was left (results are written only on a clean stop)"
    );
}

#[test]
fn ctrl_c_stops_cleanly_and_writes_results() {
    if !privileged() {
        return;
    }
    let _g = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let before = visible_state();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results");
    let mut run = start_binary(&out);
    std::thread::sleep(Duration::from_millis(200));
    // SAFETY: signals a child process this test started.
    unsafe { libc::kill(run.child.id() as i32, libc::SIGINT) };
    let status = run.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(run.lines.any(|l| l.is_ok_and(|l| l.starts_with("stopped"))));
    assert_clean(&run, &before);
    assert!(out.join("ports.csv").exists());
}
