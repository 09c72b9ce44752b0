//! A real Redis server on a free loopback port, without persistence.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{Guarded, free_port, wait_until};

pub struct Redis {
    pub port: u16,
    server: Option<Guarded>,
    dir: TempDir,
}

impl Redis {
    pub fn start() -> Redis {
        let dir = tempfile::Builder::new()
            .prefix("tinct-redis-")
            .tempdir()
            .expect("temporary directory");
        let mut redis = Redis {
            port: free_port(),
            server: None,
            dir,
        };
        redis.launch();
        redis
    }

    fn launch(&mut self) {
        let child = Command::new(redis_binary())
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--dir"])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        self.server = Some(Guarded(child));
        let addr = format!("127.0.0.1:{}", self.port);
        wait_until("redis", Duration::from_secs(15), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
    }

    /// `redis://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Starts again on the same port (after `stop`).
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

fn redis_binary() -> PathBuf {
    PathBuf::from("redis-server")
}
