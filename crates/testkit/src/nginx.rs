//! A real nginx in front of tinct instances, with the production shape: least_conn, upstream
//! keepalive, WebSocket upgrade, and `proxy_next_upstream` for idempotent requests.

use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{GuardedGroup, free_port, is_root, run_ok, wait_until};

pub struct Nginx {
    pub port: u16,
    dir: TempDir,
    server: GuardedGroup,
}

impl Nginx {
    /// Proxies `127.0.0.1:PORT` to the given upstream addresses (`host:port`).
    pub fn start(upstreams: &[String]) -> Nginx {
        let dir = tempfile::Builder::new()
            .prefix("tinct-nginx-")
            .tempdir()
            .expect("temporary directory");
        let port = free_port();
        let conf = config(dir.path().to_str().expect("utf-8 path"), port, upstreams);
        let conf_path = dir.path().join("nginx.conf");
        std::fs::write(&conf_path, conf).expect("write nginx.conf");
        run_ok(
            Command::new(nginx_binary())
                .arg("-t")
                .arg("-q")
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path),
            "nginx -t",
        );
        let server = GuardedGroup::spawn(
            Command::new(nginx_binary())
                .arg("-p")
                .arg(dir.path())
                .arg("-c")
                .arg(&conf_path)
                .stdout(Stdio::null())
                .stderr(Stdio::null()),
        )
        .expect("spawn nginx");
        let addr = format!("127.0.0.1:{port}");
        wait_until("nginx", Duration::from_secs(15), || {
            std::net::TcpStream::connect(&addr).is_ok()
        });
        Nginx { port, dir, server }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The master's process id, which is also the id of the process group of master and workers.
    pub fn pid(&self) -> u32 {
        self.server.id()
    }

    /// nginx's error log, for diagnosing a failed test.
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

fn nginx_binary() -> &'static str {
    if std::path::Path::new("/usr/sbin/nginx").exists() {
        "/usr/sbin/nginx"
    } else {
        "nginx"
    }
}

fn config(dir: &str, port: u16, upstreams: &[String]) -> String {
    let servers: String = upstreams
        .iter()
        .map(|u| format!("        server {u} max_fails=1 fail_timeout=2s;\n"))
        .collect();
    let user = if is_root() { "user root;\n" } else { "" };
    // Keepalive of at least the client count, so the proxy does not reconnect per request.
    let keepalive = 128;
    format!(
        r#"{user}worker_processes 1;
daemon off;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 2048; }}
http {{
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    map $http_upgrade $connection_upgrade {{
        default upgrade;
        ''      '';
    }}
    upstream tinct {{
        least_conn;
{servers}        keepalive {keepalive};
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://tinct;
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_next_upstream error timeout http_502 http_503;
            proxy_next_upstream_tries 3;
            proxy_connect_timeout 2s;
            proxy_read_timeout 3600s;
        }}
    }}
}}
"#
    )
}
