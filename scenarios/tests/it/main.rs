//! Integration tests of the scenarios crate, one binary (`cargo test -p scenarios --test it`):
//! the `testbed` CLI as a user runs it, fuzzed scenario input, and the shipped scenarios end to
//! end, and the generated scenario-file reference.

mod ccp;
mod cli;
mod emulate;
mod fuzz_input;
mod kv_portability;
mod paths;
mod reference;
mod reproduce;
mod reproduce_bertha;
mod scenarios;
mod sweep;
mod sweep_slurm;

/// A test's output directory under the system temp dir, named by the test's file, process and
/// name. It is emptied when made and removed when the test passes (dropped outside a panic), so
/// runs do not pile up in /tmp (a full run wrote ~280 MB); a failing test's outputs are kept
/// for inspection.
pub struct TestOut(std::path::PathBuf);

impl TestOut {
    pub fn new(kind: &str, name: &str) -> Self {
        let d = std::env::temp_dir().join(format!("testbed-{kind}-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        TestOut(d)
    }
}

impl std::ops::Deref for TestOut {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

// The conversions are on `&TestOut` only: a `TestOut` passed by value (`Command::arg(tmp(..))`)
// would be dropped, and its directory removed, before the command ran; now it does not compile.
impl AsRef<std::path::Path> for &TestOut {
    fn as_ref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TestOut {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl AsRef<std::ffi::OsStr> for &TestOut {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}
