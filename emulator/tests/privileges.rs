//! Missing privileges and bad configurations fail before anything is created, with messages
//! that say which privilege or field. Runs the emulator binary with capabilities dropped by
//! `setpriv` (needs root and util-linux's setpriv; skipped with the reason otherwise).

use std::process::Command;

fn setpriv_available() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: not root (cannot drop a capability we do not have)");
        return false;
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("skipped: setpriv is not installed");
        return false;
    }
    true
}

/// Runs the emulator with `drop` removed from the capability bounding set.
fn run_without(drop: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new("setpriv")
        .arg(format!("--bounding-set=-{drop}"))
        .arg("--inh-caps=-all")
        .arg(env!("CARGO_BIN_EXE_emulator"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn missing_capabilities_are_named() {
    if !setpriv_available() {
        return;
    }
    let (ok, err) = run_without("sys_admin", &["run", "--seconds", "1"]);
    assert!(!ok);
    assert!(err.contains("missing privilege: CAP_SYS_ADMIN"), "{err}");
    let (ok, err) = run_without("net_admin", &["run", "--seconds", "1"]);
    assert!(!ok);
    assert!(err.contains("missing privilege: CAP_NET_ADMIN"), "{err}");
}

#[test]
fn configuration_errors_come_before_privilege_checks() {
    if !setpriv_available() {
        return;
    }
    let (ok, err) = run_without(
        "sys_admin",
        &["run", "--rate-mbps", "5000", "--seconds", "1"],
    );
    assert!(!ok);
    assert!(
        err.contains("topology.bottleneck.link.rate_mbps"),
        "the field is named: {err}"
    );
    let (ok, err) = run_without("sys_admin", &["run", "--hosts", "40", "--seconds", "1"]);
    assert!(!ok);
    assert!(err.contains("topology.pairs"), "{err}");
}
