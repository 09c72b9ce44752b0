//! Small helpers shared by the process starters.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (bound, read, released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

pub fn is_root() -> bool {
    // SAFETY-free: `id -u` avoids a libc dependency for one call.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `program` as `user` when we are root (PostgreSQL refuses to run as root), else as ourselves.
pub fn command_as(user: Option<&str>, program: &Path) -> Command {
    match user {
        Some(user) => {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", user, "--"]).arg(program);
            cmd
        }
        None => Command::new(program),
    }
}

/// Runs to completion; panics with the command's output when it fails.
pub fn run_ok(cmd: &mut Command, what: &str) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: could not start: {e}"));
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Polls `ready` every 50 ms until it holds or `timeout` passes.
pub fn wait_until(what: &str, timeout: Duration, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(
            start.elapsed() < timeout,
            "{what} not ready after {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Finds `name` in the newest `/usr/lib/postgresql/*/bin`, falling back to PATH.
pub fn pg_binary(name: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join(name).exists())
        .collect();
    dirs.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    dirs.pop()
        .map(|d| d.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

/// A child process killed (and reaped) on drop.
pub struct Guarded(pub Child);

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How long a process group gets to stop on SIGTERM before what is left is SIGKILLed.
const GRACE: Duration = Duration::from_secs(3);

/// A child leading its own process group, so that stopping it reaches its children too (nginx's
/// workers outlive a SIGKILLed master, still listening). Stopped on drop: SIGTERM to the group,
/// a short grace, then SIGKILL to whatever of the group is left.
pub struct GuardedGroup(Child);

impl GuardedGroup {
    pub fn spawn(cmd: &mut Command) -> std::io::Result<GuardedGroup> {
        cmd.process_group(0).spawn().map(GuardedGroup)
    }

    /// The leader's process id, which is also the group's id.
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for GuardedGroup {
    fn drop(&mut self) {
        let group = format!("-{}", self.0.id());
        signal("TERM", &group);
        let start = Instant::now();
        while matches!(self.0.try_wait(), Ok(None)) && start.elapsed() < GRACE {
            std::thread::sleep(Duration::from_millis(20));
        }
        // Signal 0 only asks whether any member is left; a live member keeps the group id taken,
        // so the SIGKILL cannot reach an unrelated group that reused it.
        if signal("0", &group) {
            signal("KILL", &group);
        }
        let _ = self.0.wait();
    }
}

/// `kill -SIGNAL -- TARGET`; whether it was delivered.
fn signal(name: &str, target: &str) -> bool {
    Command::new("kill")
        .arg(format!("-{name}"))
        .arg("--")
        .arg(target)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
