//! Starts moto's server (installed by `scripts/bootstrap.sh` into `.clawless/venv`) on 127.0.0.1
//! and waits until it answers. The process is stopped when the handle is dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum MotoError {
    #[error("moto_server not found at {0} (run scripts/bootstrap.sh, or set CLAWLESS_MOTO_SERVER)")]
    NotInstalled(String),
    #[error("could not start moto_server: {0}")]
    Spawn(String),
    #[error("moto_server did not answer on {0} within 30 s")]
    NotReady(String),
}

pub struct MotoServer {
    pub endpoint: String,
    _child: tokio::process::Child,
}

pub fn moto_binary(repo_root: &Path) -> PathBuf {
    match std::env::var_os("CLAWLESS_MOTO_SERVER") {
        Some(path) => PathBuf::from(path),
        None => repo_root.join(".clawless/venv/bin/moto_server"),
    }
}

impl MotoServer {
    /// Process id of the server (for benchmarks that read its CPU time).
    pub fn pid(&self) -> Option<u32> {
        self._child.id()
    }

    pub async fn start(repo_root: &Path, port: u16) -> Result<MotoServer, MotoError> {
        let binary = moto_binary(repo_root);
        if !binary.exists() {
            return Err(MotoError::NotInstalled(binary.display().to_string()));
        }
        let port = if port == 0 {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .map_err(|e| MotoError::Spawn(e.to_string()))?
        } else {
            port
        };
        let mut child = tokio::process::Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| MotoError::Spawn(e.to_string()))?;
        let endpoint = format!("http://127.0.0.1:{port}");
        let probe = format!("{endpoint}/moto-api/");
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if http.get(&probe).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(MotoServer { endpoint, _child: child });
            }
            if let Ok(Some(status)) = child.try_wait() {
                return Err(MotoError::Spawn(format!("exited with {status} (is port {port} free?)")));
            }
            if started.elapsed() > Duration::from_secs(30) {
                return Err(MotoError::NotReady(endpoint));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
