//! The agent's socket file (issue 10, item 18): `--ipc-name` is a plain name that cannot leave
//! `/tmp/ccp/`; a running agent's socket is never taken over (the refusal names its process);
//! a stale socket is reused; the socket file is removed when the agent stops; `/tmp/ccp/`
//! itself must be a real directory only its user can change.

use datapaths::unix::{
    ccp_path, check_ipc_name, prepare_dir, UnixTransport, CCP_DIR, MAX_IPC_NAME_LEN,
};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Generous: the machine running the suite may be loaded.
const PATIENCE: Duration = Duration::from_secs(60);

fn name(tag: &str) -> String {
    format!("it-sock-{tag}-{}", std::process::id())
}

/// A running `ccp agent`; killed (and its socket file removed) if a test fails midway.
struct Agent {
    child: Child,
    path: PathBuf,
}

impl Agent {
    /// Starts an agent on `name` and waits until it says it is listening.
    fn start(name: &str) -> Agent {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ccp"))
            .args(["agent", "--alg", "reno", "--ipc-name", name])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        err.read_line(&mut line).unwrap();
        // Back into place for `stop`, which reads the rest.
        child.stderr = Some(err.into_inner());
        let a = Agent {
            child,
            path: ccp_path(name),
        };
        assert!(
            line.starts_with(&format!("ccp agent listening on {}", a.path.display())),
            "{line}"
        );
        a
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `sig`, waits for the exit; returns its status and the rest of stderr.
    fn stop(mut self, sig: libc::c_int) -> (ExitStatus, String) {
        // SAFETY: kill has no memory-safety preconditions.
        assert_eq!(unsafe { libc::kill(self.pid() as libc::pid_t, sig) }, 0);
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < deadline, "the agent did not stop on {sig}");
            std::thread::sleep(Duration::from_millis(10));
        };
        let mut rest = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            e.read_to_string(&mut rest).unwrap();
        }
        (status, rest)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Someone is bound to `path` (a datagram connect succeeds).
fn live(path: &Path) -> bool {
    UnixDatagram::unbound().unwrap().connect(path).is_ok()
}

#[test]
fn traversal_and_odd_names_are_rejected_naming_the_flag() {
    let outside = tempfile::tempdir().unwrap();
    let target = outside.path().join("x");
    // From /tmp/ccp/, `../..` is `/`: this names `target` exactly.
    let escape = format!("../..{}", target.display());
    let nested = name("nested");
    let names = [
        escape.clone(),
        format!("{nested}/b"),
        "..".into(),
        ".".into(),
        String::new(),
        ".hidden".into(),
        "a b".into(),
        "x".repeat(MAX_IPC_NAME_LEN + 1),
    ];
    for n in &names {
        let out = Command::new(env!("CARGO_BIN_EXE_ccp"))
            .args(["agent", "--alg", "reno", "--ipc-name", n])
            .output()
            .unwrap();
        let e = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{n:?} accepted: {e}");
        assert!(e.contains("--ipc-name"), "{e}");
        assert!(e.contains("expected a plain socket name"), "{e}");
    }
    assert!(!target.exists(), "a socket was created outside {CCP_DIR}");
    assert!(!ccp_path(&nested).exists(), "a directory was created");

    // The library refuses them too, and what argv cannot carry.
    for n in names.iter().map(String::as_str).chain(["\0", "a\0b"]) {
        assert!(check_ipc_name(n).is_err(), "{n:?}");
        let e = UnixTransport::bind(n).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput, "{n:?}: {e}");
    }
    assert!(!target.exists());
    for ok in ["portus", "a.b_c-1", "x".repeat(MAX_IPC_NAME_LEN).as_str()] {
        assert_eq!(check_ipc_name(ok), Ok(()), "{ok:?}");
    }
    // The longest name fits in a socket address.
    let mut long = name("long");
    long.push_str(&"y".repeat(MAX_IPC_NAME_LEN - long.len()));
    let t = UnixTransport::bind(&long).unwrap();
    assert!(live(t.path()));
}

#[test]
fn second_agent_with_the_same_name_is_refused_naming_the_first() {
    let n = name("twice");
    let first = Agent::start(&n);
    let out = Command::new(env!("CARGO_BIN_EXE_ccp"))
        .args(["agent", "--alg", "const", "--ipc-name", &n])
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{e}");
    assert!(e.contains(&format!("--ipc-name {n}")), "{e}");
    assert!(e.contains("in use"), "{e}");
    assert!(e.contains(&format!("process {} (ccp)", first.pid())), "{e}");
    // The first one still owns and serves its socket.
    assert!(live(&first.path));
    // The library refuses as well.
    let e = UnixTransport::bind(&n).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(live(&first.path));
    let path = first.path.clone();
    let (status, _) = first.stop(libc::SIGTERM);
    assert!(status.success());
    assert!(!path.exists());
}

#[test]
fn stale_socket_is_removed_and_reused() {
    let n = name("stale");
    let path = ccp_path(&n);
    prepare_dir(Path::new(CCP_DIR)).unwrap();
    let _ = std::fs::remove_file(&path);
    // A socket file nobody is bound to, as a killed agent leaves behind.
    drop(UnixDatagram::bind(&path).unwrap());
    assert!(path.exists() && !live(&path));
    let agent = Agent::start(&n);
    assert!(live(&path));
    let (status, _) = agent.stop(libc::SIGINT);
    assert!(status.success());
    assert!(!path.exists());

    // Library: the same, and the directory stays as it was.
    drop(UnixDatagram::bind(&path).unwrap());
    let t = UnixTransport::bind(&n).unwrap();
    assert!(live(t.path()));
    drop(t);
    assert!(!path.exists());
}

#[test]
fn socket_file_is_removed_on_sigint_and_sigterm() {
    for (sig, sig_name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let n = name(sig_name);
        let agent = Agent::start(&n);
        let path = agent.path.clone();
        assert!(live(&path));
        let (status, rest) = agent.stop(sig);
        assert!(status.success(), "{status:?}: {rest}");
        assert!(rest.contains(&format!("stopped by {sig_name}")), "{rest}");
        assert!(
            !path.exists(),
            "{} left behind after {sig_name}",
            path.display()
        );
    }
}

#[test]
fn dropping_the_transport_removes_only_its_own_socket_file() {
    let n = name("drop");
    let a = UnixTransport::bind(&n).unwrap();
    let path = a.path().to_owned();
    assert!(live(&path));
    drop(a);
    assert!(!path.exists());

    // Replaced meanwhile (someone removed ours and bound theirs): theirs stays.
    let a = UnixTransport::bind(&n).unwrap();
    std::fs::remove_file(&path).unwrap();
    let b = UnixTransport::bind(&n).unwrap();
    drop(a);
    assert!(live(&path));
    drop(b);
    assert!(!path.exists());
}

#[test]
fn something_that_is_not_a_socket_is_left_alone() {
    let n = name("file");
    let path = ccp_path(&n);
    prepare_dir(Path::new(CCP_DIR)).unwrap();
    std::fs::write(&path, "keep me").unwrap();
    let e = UnixTransport::bind(&n).unwrap_err();
    assert!(e.to_string().contains("not a socket"), "{e}");
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "keep me");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn socket_directory_is_private_and_checked() {
    let tmp = tempfile::tempdir().unwrap();
    // Missing: created, mode 0700.
    let dir = tmp.path().join("ccp");
    prepare_dir(&dir).unwrap();
    let md = std::fs::symlink_metadata(&dir).unwrap();
    assert!(md.is_dir());
    assert_eq!(md.mode() & 0o777, 0o700);
    // Existing and fine: accepted as is.
    prepare_dir(&dir).unwrap();

    // A symbolic link, even to a good directory: refused.
    let link = tmp.path().join("link");
    std::os::unix::fs::symlink(&dir, &link).unwrap();
    let e = prepare_dir(&link).unwrap_err();
    assert!(e.to_string().contains("symbolic link"), "{e}");

    // Not a directory.
    let file = tmp.path().join("file");
    std::fs::write(&file, "").unwrap();
    let e = prepare_dir(&file).unwrap_err();
    assert!(e.to_string().contains("not a directory"), "{e}");

    // Writable by others.
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let e = prepare_dir(&open).unwrap_err();
    assert!(e.to_string().contains("writable by group or others"), "{e}");

    // Owned by someone else (only root can make one to test with).
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let theirs = tmp.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let e = prepare_dir(&theirs).unwrap_err();
        assert!(e.to_string().contains("owned by uid 65534"), "{e}");
    }
}
