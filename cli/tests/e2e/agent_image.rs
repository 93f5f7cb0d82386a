//! The agent image that `scripts/build-agent-image.sh` builds without Docker. Its contract is read
//! from the OCI archive (arm64, entrypoint, user, port, the shell the `shell` tool runs), and its
//! binary, taken out of the archive, runs under `qemu-aarch64-static`: `GET /ping` answers, and
//! as the local AgentCore stand-in's agent it answers a Telegram message end to end.
//!
//! Skipped, with a message, only when the archive was not built: `scripts/test.sh` builds it
//! first, so CI always runs this. Under qemu-user the agent logs `harden_failed`: qemu does not
//! emulate making a process a child subreaper, which only the `shell` tool's clean-up relies on.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use clawless_agent::tools::shell::READ_ONLY_COMMANDS;
use clawless_local::template::Template;
use clawless_local::{self, LocalOptions, LocalStack};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::support::*;
use crate::telegram::{post_update, sample_update, sent_messages, telegram_stand_in};

const ARCHIVE: &str = "target/agent-image/clawless-agent-arm64.oci.tar";
const QEMU: &str = "/usr/bin/qemu-aarch64-static";
const ENTRYPOINT: &str = "/usr/local/bin/clawless-agent";
/// An emulated process starts and answers more slowly than a native one.
const WAIT: Duration = Duration::from_secs(60);

/// A directory of this test's own, removed when the test ends.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("clawless-e2e-image-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The image in the archive: its configuration and its unpacked root filesystem.
struct Image {
    config: Value,
    rootfs: PathBuf,
}

impl Image {
    fn path(&self, inside: &str) -> PathBuf {
        self.rootfs.join(inside.trim_start_matches('/'))
    }
}

fn run(command: &mut Command) -> String {
    let out = command.output().unwrap_or_else(|e| panic!("{command:?} did not start: {e}"));
    assert!(out.status.success(), "{command:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A blob of the OCI layout, checked against its digest.
fn blob(layout: &Path, descriptor: &Value) -> PathBuf {
    let digest = descriptor["digest"].as_str().expect("a descriptor has a digest");
    let hex = digest.strip_prefix("sha256:").unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
    let path = layout.join("blobs/sha256").join(hex);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(hex::encode(Sha256::digest(&bytes)), hex, "{} does not match its digest", path.display());
    assert_eq!(descriptor["size"].as_u64(), Some(bytes.len() as u64), "size of {digest}");
    path
}

fn json_file(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))).unwrap()
}

/// Unpacks the archive's one image with tar, as a registry client would read it: index, manifest,
/// configuration, then the layers in order.
fn unpack(archive: &Path, into: &Path) -> Image {
    let layout = into.join("layout");
    let rootfs = into.join("rootfs");
    std::fs::create_dir_all(&layout).unwrap();
    std::fs::create_dir_all(&rootfs).unwrap();
    run(Command::new("tar").arg("-xf").arg(archive).arg("-C").arg(&layout));
    let index = json_file(&layout.join("index.json"));
    let manifests = index["manifests"].as_array().expect("index.json lists manifests");
    assert_eq!(manifests.len(), 1, "one image in the archive: {index}");
    let manifest = json_file(&blob(&layout, &manifests[0]));
    let config = json_file(&blob(&layout, &manifest["config"]));
    let layers = manifest["layers"].as_array().expect("the manifest lists layers");
    assert!(!layers.is_empty());
    for layer in layers {
        assert_eq!(layer["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip", "{layer}");
        run(Command::new("tar").arg("-xzf").arg(blob(&layout, layer)).arg("-C").arg(&rootfs));
    }
    Image { config, rootfs }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A directory the local stack takes its binaries from: the workspace's function binaries, and as
/// `clawless-agent` a wrapper that runs the image's agent under qemu.
fn bin_dir_with_emulated_agent(image: &Image, scratch: &Path) -> PathBuf {
    let dir = scratch.join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let template = Template::load(&repo_root().join("template.yaml")).unwrap();
    for function in &template.functions {
        let built = clawless_local::default_bin_dir().join(&function.binary);
        assert!(built.is_file(), "{} is not built (cargo build --workspace)", built.display());
        std::os::unix::fs::symlink(&built, dir.join(&function.binary)).unwrap();
    }
    let wrapper = dir.join("clawless-agent");
    let agent = image.path(ENTRYPOINT);
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec {QEMU} '{}' \"$@\"\n", agent.display())).unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// What the image holds matches agent-container/Dockerfile's contract.
fn check_contract(image: &Image) {
    let c = &image.config;
    assert_eq!((c["architecture"].as_str(), c["os"].as_str()), (Some("arm64"), Some("linux")), "{c}");
    assert_eq!(c["config"]["Entrypoint"], serde_json::json!([ENTRYPOINT]), "{c}");
    assert_eq!(c["config"]["User"], "10001:10001", "a non-root user: {c}");
    assert!(c["config"]["ExposedPorts"].get("8080/tcp").is_some(), "{c}");
    let env: Vec<&str> = c["config"]["Env"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    assert!(env.iter().any(|e| e.starts_with("PATH=") && e.contains("/usr/bin")), "{env:?}");

    let agent = image.path(ENTRYPOINT).metadata().expect("the agent binary is in the image");
    assert!(agent.permissions().mode() & 0o111 != 0, "the agent is executable");
    let tmp = image.path("/tmp").metadata().expect("/tmp is in the image");
    assert_eq!(tmp.permissions().mode() & 0o7777, 0o1777, "the agent (uid 10001) makes its workspaces in /tmp");
    let passwd = std::fs::read_to_string(image.path("/etc/passwd")).unwrap();
    assert!(passwd.lines().any(|l| l.starts_with("clawless:x:10001:10001:")), "{passwd}");
    let roots = std::fs::read_to_string(image.path("/etc/ssl/certs/ca-certificates.crt")).unwrap();
    assert!(roots.matches("BEGIN CERTIFICATE").count() > 100, "the CA bundle for CLAWLESS_TLS_ROOTS=native");

    // The `shell` tool runs /bin/sh, and read-only profiles the commands they allow (`file` is
    // not in busybox: the tool says it is not installed).
    assert_eq!(std::fs::read_link(image.path("/bin/sh")).unwrap(), Path::new("/bin/busybox"));
    for name in READ_ONLY_COMMANDS.iter().filter(|n| **n != "file") {
        let found = ["/bin", "/usr/bin"].iter().any(|d| image.path(&format!("{d}/{name}")).symlink_metadata().is_ok());
        assert!(found, "`{name}` is in the image");
    }
    let busybox = image.path("/bin/busybox");
    let out = run(Command::new(QEMU).arg(&busybox).args(["sh", "-c", "echo $((6 * 7)) | tr 4 x"]));
    assert_eq!(out.trim(), "x2", "the image's shell runs");
}

/// Starts the image's agent alone and asks `GET /ping`, as AgentCore does before routing to it.
async fn check_ping(image: &Image) {
    let port = free_port();
    let mut agent = tokio::process::Command::new(QEMU)
        .arg(image.path(ENTRYPOINT))
        .env_clear()
        .env("PORT", port.to_string())
        .env("CLAWLESS_LISTEN_HOST", "127.0.0.1")
        .env("CLAWLESS_REPLY_QUEUE_URL", "http://127.0.0.1:9/000000000000/reply.fifo")
        .env("CLAWLESS_MODEL_PROVIDER", "offline")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("qemu starts the agent");
    let url = format!("http://127.0.0.1:{port}/ping");
    let http = reqwest::Client::new();
    let started = std::time::Instant::now();
    let ping = loop {
        if let Ok(Some(status)) = agent.try_wait() {
            panic!("the emulated agent exited: {status}");
        }
        if let Ok(response) = http.get(&url).timeout(Duration::from_secs(5)).send().await {
            break (response.status(), response.json::<Value>().await.expect("/ping answers JSON"));
        }
        assert!(started.elapsed() < WAIT, "the emulated agent did not answer /ping within {WAIT:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(ping.0, 200);
    assert_eq!(ping.1["status"], "Healthy", "{}", ping.1);
    assert!(ping.1["time_of_last_update"].as_u64().is_some_and(|t| t > 0), "{}", ping.1);
    let _ = agent.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn image_built_without_docker_runs_the_agent_under_arm64_emulation() {
    let archive = repo_root().join(ARCHIVE);
    if !archive.is_file() {
        eprintln!(
            "SKIPPED image_built_without_docker_runs_the_agent_under_arm64_emulation: {} was not built \
             (run scripts/build-agent-image.sh; scripts/test.sh does)",
            archive.display()
        );
        return;
    }
    assert!(
        Path::new(QEMU).is_file(),
        "{QEMU} runs the arm64 image here: apt-get install qemu-user-static (scripts/test.sh installs it)"
    );
    let scratch = Scratch::new();
    let image = unpack(&archive, &scratch.0);
    check_contract(&image);
    check_ping(&image).await;

    // The same binary as the local AgentCore's microVM: a Telegram message in, the answer out.
    let telegram = telegram_stand_in().await;
    let mut options = LocalOptions::new(repo_root(), bin_dir_with_emulated_agent(&image, &scratch.0));
    options.channel_apis = [("telegram".to_owned(), telegram.uri())].into();
    let stack = LocalStack::start(options).await.unwrap_or_else(|e| panic!("local stack did not start: {e}"));
    let bot = onboard_telegram_bot(&stack, TEST_SECRET);
    let response = post_update(&bot.webhook_url, Some(TEST_SECRET), &sample_update()).await;
    assert_eq!(response.status(), 200);
    let sent = eventually(WAIT, "the emulated agent's answer at the Telegram stand-in", || async {
        let sent = sent_messages(&telegram).await;
        (!sent.is_empty()).then_some(sent)
    })
    .await;
    assert_eq!(sent[0]["chat_id"], 4242);
    assert_eq!(sent[0]["text"], "Hello Ada! You said: hello bot");
    assert_eq!(stack.agentcore.running_sessions().await, 1, "one microVM for the conversation");
}
