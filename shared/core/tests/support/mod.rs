//! Runs the channels' own Python libraries (installed by `scripts/bootstrap.sh` into
//! `.clawless/venv`) so the tests can check that we agree with them.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::Value;

fn python() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.clawless/venv/bin/python");
    assert!(
        path.exists(),
        "{} is missing: run scripts/bootstrap.sh to install the local tools (slack-sdk, PyNaCl, lark-oapi)",
        path.display()
    );
    path
}

/// Runs `script` with `input` as JSON on stdin and returns its JSON stdout.
pub fn run_python(script: &str, input: &Value) -> Value {
    let mut child = Command::new(python())
        .arg("-c")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python starts");
    child.stdin.take().expect("stdin").write_all(input.to_string().as_bytes()).expect("input written");
    let out = child.wait_with_output().expect("python ran");
    assert!(
        out.status.success(),
        "the Python cross-check failed (run scripts/bootstrap.sh if a library is missing):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}
