//! The `ccp` binary: `compile` prints instructions or the first error; `agent` rejects unknown
//! algorithms.

use std::process::Command;

fn ccp() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ccp"))
}

fn write(name: &str, src: &str) -> std::path::PathBuf {
    let p = std::env::temp_dir().join(format!("ccp-cli-{}-{name}", std::process::id()));
    std::fs::write(&p, src).unwrap();
    p
}

#[test]
fn compile_prints_instructions() {
    let f = write(
        "ok.ccp",
        "(def (Report (volatile acked 0)))\n(when true (:= Report.acked (+ Report.acked Ack.bytes_acked)) (report))\n",
    );
    let out = ccp().arg("compile").arg(&f).output().unwrap();
    assert!(out.status.success());
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.starts_with("1 clauses, 5 instructions"), "{s}");
    assert!(
        s.contains("tmp[0] <- add vreport[0], Ack.bytes_acked"),
        "{s}"
    );
    let _ = std::fs::remove_file(f);
}

#[test]
fn compile_reports_first_error_with_position() {
    let f = write(
        "bad.ccp",
        "(def (Report (acked 0)))\n(when true\n  (:= Report.nope 1))\n",
    );
    let out = ccp().arg("compile").arg(&f).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let e = String::from_utf8(out.stderr).unwrap();
    assert!(e.contains("line 3"), "{e}");
    let _ = std::fs::remove_file(f);
}

#[test]
fn agent_rejects_unknown_algorithm() {
    let out = ccp()
        .args(["agent", "--alg", "nope", "--ipc-name", "unused-cli-test"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("const, reno"));
}
