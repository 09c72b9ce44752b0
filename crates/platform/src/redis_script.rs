//! Lua scripts on Redis without the `redis` crate's `script` feature: `SCRIPT LOAD` once for the
//! SHA1 (so no hashing crate is needed), then `EVALSHA`, and `EVAL` when a restarted Redis has
//! forgotten the script (which caches it again). Used by the rate limiter and the leases.

use std::sync::OnceLock;

use redis::FromRedisValue;
use redis::aio::ConnectionManager;

pub(crate) struct Script {
    source: &'static str,
    /// The SHA1 of the source: the same on every server, so it is asked for once.
    sha: OnceLock<String>,
}

impl Script {
    pub(crate) const fn new(source: &'static str) -> Self {
        Script {
            source,
            sha: OnceLock::new(),
        }
    }

    pub(crate) async fn run<T: FromRedisValue>(
        &self,
        conn: &mut ConnectionManager,
        keys: &[&str],
        args: &[String],
    ) -> redis::RedisResult<T> {
        let sha = match self.sha.get() {
            Some(sha) => sha.clone(),
            None => {
                let sha: String = redis::cmd("SCRIPT")
                    .arg("LOAD")
                    .arg(self.source)
                    .query_async(conn)
                    .await?;
                self.sha.get_or_init(|| sha).clone()
            }
        };
        let call = |command: &str, body: &str| {
            let mut cmd = redis::cmd(command);
            cmd.arg(body).arg(keys.len()).arg(keys).arg(args);
            cmd
        };
        match call("EVALSHA", &sha).query_async(conn).await {
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                call("EVAL", self.source).query_async(conn).await
            }
            other => other,
        }
    }
}
