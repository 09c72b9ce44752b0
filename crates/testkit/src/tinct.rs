//! A `tinct serve` process on a free loopback port.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use tempfile::TempDir;

/// A running `tinct serve`. Killed on drop.
pub struct TinctServer {
    pub url: String,
    pub data_dir: PathBuf,
    child: Child,
    _owned_dir: Option<TempDir>,
}

/// A `tinct` command with a clean environment: no `TINCT_*` from the caller leaks in.
pub fn tinct_command(bin: &Path, data_dir: &Path) -> Command {
    let mut cmd = Command::new(bin);
    for (key, _) in std::env::vars() {
        if key.starts_with("TINCT_") {
            cmd.env_remove(key);
        }
    }
    cmd.env("TINCT_DATA_DIR", data_dir).env("NO_COLOR", "1");
    cmd
}

/// `POST {base}/v1/commands/{command}` with `input`; the envelope, whatever its status.
pub async fn post_command(
    base: &str,
    command: &str,
    input: serde_json::Value,
) -> serde_json::Value {
    reqwest::Client::new()
        .post(format!("{base}/v1/commands/{command}"))
        .json(&input)
        .send()
        .await
        .expect("request to tinct")
        .json()
        .await
        .expect("an envelope")
}

/// `GET {base}/metrics`: the Prometheus text.
pub async fn metrics_text(base: &str) -> String {
    reqwest::get(format!("{base}/metrics"))
        .await
        .expect("request to tinct")
        .text()
        .await
        .expect("metrics text")
}

impl TinctServer {
    /// Starts `bin serve` on a fresh temporary data directory.
    pub fn start(bin: &Path) -> TinctServer {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path = dir.path().to_path_buf();
        let mut server = Self::start_in(bin, &path, &[]);
        server._owned_dir = Some(dir);
        server
    }

    /// Starts `bin serve` on `data_dir` with extra environment; waits until it prints its URL.
    pub fn start_in(bin: &Path, data_dir: &Path, env: &[(&str, &str)]) -> TinctServer {
        let mut cmd = tinct_command(bin, data_dir);
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .env("TINCT_LOG", "warn")
            // Tests stop servers often; no load balancer needs the production drain delay here.
            .env("TINCT_SHUTDOWN_DRAIN_SECS", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn tinct serve");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            if let Some(Ok(first)) = lines.next() {
                let _ = tx.send(first);
            }
            // Keep draining so the server never blocks on a full pipe.
            for _ in lines {}
        });
        let banner = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("tinct serve printed no banner within 30 s");
            }
        };
        let url = banner
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no URL in banner: {banner}"))
            .to_owned();
        TinctServer {
            url,
            data_dir: data_dir.to_path_buf(),
            child,
            _owned_dir: None,
        }
    }

    /// The process id, for tests that signal it.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the process (as a crash would) and reaps it.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("wait for tinct")
    }
}

impl Drop for TinctServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
