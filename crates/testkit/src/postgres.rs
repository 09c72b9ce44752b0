//! A real PostgreSQL server (and streaming replicas of it) in a temporary directory on a free port.
//! As root, `initdb` and `postgres` run through `runuser -u postgres`; fsync is off for speed.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{Guarded, command_as, free_port, is_root, pg_binary, run_ok, wait_until};

pub struct Postgres {
    pub port: u16,
    data: PathBuf,
    user: Option<&'static str>,
    server: Option<Guarded>,
    _dir: TempDir,
}

const SETTINGS: &[&str] = &[
    "listen_addresses=127.0.0.1",
    "fsync=off",
    "synchronous_commit=off",
    "full_page_writes=off",
    "wal_level=replica",
    "max_wal_senders=10",
    "hot_standby=on",
    "max_connections=200",
    "shared_buffers=32MB",
    "log_min_messages=warning",
];

fn owned_tempdir(user: Option<&str>) -> (TempDir, PathBuf) {
    let dir = tempfile::Builder::new()
        .prefix("tinct-pg-")
        .tempdir()
        .expect("temporary directory");
    let data = dir.path().join("data");
    std::fs::create_dir(&data).expect("data directory");
    if let Some(user) = user {
        run_ok(
            Command::new("chmod").arg("755").arg(dir.path()),
            "chmod tempdir",
        );
        run_ok(
            Command::new("chown")
                .arg(format!("{user}:{user}"))
                .arg(&data),
            "chown data directory",
        );
    }
    run_ok(Command::new("chmod").arg("700").arg(&data), "chmod data");
    (dir, data)
}

impl Postgres {
    /// initdb + start a primary.
    pub fn start() -> Postgres {
        let user = is_root().then_some("postgres");
        let (dir, data) = owned_tempdir(user);
        run_ok(
            command_as(user, &pg_binary("initdb"))
                .args(["-D"])
                .arg(&data)
                .args(["-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"]),
            "initdb",
        );
        let mut pg = Postgres {
            port: free_port(),
            data,
            user,
            server: None,
            _dir: dir,
        };
        pg.launch();
        pg
    }

    /// A streaming replica of this server (`pg_basebackup -R -c fast`), started and ready.
    pub fn start_replica(&self) -> Postgres {
        let (dir, data) = owned_tempdir(self.user);
        run_ok(
            command_as(self.user, &pg_binary("pg_basebackup"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                    "-D",
                ])
                .arg(&data)
                .args(["-R", "-c", "fast", "-X", "stream"]),
            "pg_basebackup",
        );
        let mut replica = Postgres {
            port: free_port(),
            data,
            user: self.user,
            server: None,
            _dir: dir,
        };
        replica.launch();
        replica
    }

    fn launch(&mut self) {
        let mut cmd = command_as(self.user, &pg_binary("postgres"));
        cmd.arg("-D")
            .arg(&self.data)
            .args(["-p", &self.port.to_string(), "-k"])
            .arg(&self.data);
        for setting in SETTINGS {
            cmd.args(["-c", setting]);
        }
        cmd.stdout(Stdio::null()).stderr(Stdio::null());
        self.server = Some(Guarded(cmd.spawn().expect("spawn postgres")));
        let port = self.port.to_string();
        wait_until("postgres", Duration::from_secs(30), || {
            Command::new(pg_binary("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &port, "-U", "postgres", "-q"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        });
    }

    /// `postgres://postgres@127.0.0.1:PORT/postgres`
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs SQL through psql and returns its unaligned output.
    pub fn sql(&self, sql: &str) -> String {
        let out = run_ok(
            Command::new(pg_binary("psql"))
                .args([
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &self.port.to_string(),
                    "-U",
                    "postgres",
                ])
                .args(["-d", "postgres", "-At", "-v", "ON_ERROR_STOP=1", "-c", sql]),
            "psql",
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Waits until `replica` has replayed everything written here so far.
    pub fn wait_replayed_by(&self, replica: &Postgres) {
        let lsn = self.sql("SELECT pg_current_wal_insert_lsn()");
        let done = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
        wait_until("replica catch-up", Duration::from_secs(30), || {
            replica.sql(&done) == "t"
        });
    }

    /// Pauses WAL replay on this replica and waits until it has taken effect: the request alone
    /// lets replay run on for a moment, so a commit right after it could still arrive.
    pub fn pause_replay(&self) {
        self.sql("SELECT pg_wal_replay_pause()");
        wait_until("replay pause", Duration::from_secs(10), || {
            self.sql("SELECT pg_get_wal_replay_pause_state()") == "paused"
        });
    }

    /// Stops the server at once (as a crash would); `restart` brings it back on the same port.
    pub fn stop(&mut self) {
        if self.server.is_some() {
            let _ = command_as(self.user, &pg_binary("pg_ctl"))
                .args(["stop", "-m", "immediate", "-w", "-D"])
                .arg(&self.data)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            self.server = None;
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}
