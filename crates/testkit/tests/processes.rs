//! The testkit's own processes start, replicate and stop.

use tinct_testkit::{Postgres, Redis};

#[test]
fn postgres_primary_streams_to_a_replica() {
    let primary = Postgres::start();
    let replica = primary.start_replica();
    primary.sql("CREATE TABLE t (v int); INSERT INTO t VALUES (42)");
    let lsn = primary.sql("SELECT pg_current_wal_insert_lsn()");
    let caught_up = format!("SELECT pg_last_wal_replay_lsn() >= '{lsn}'::pg_lsn");
    for _ in 0..400 {
        if replica.sql(&caught_up) == "t" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(25));
    }
    assert_eq!(replica.sql("SELECT v FROM t"), "42");
    assert_eq!(replica.sql("SELECT pg_is_in_recovery()"), "t");
    assert_eq!(primary.sql("SELECT pg_is_in_recovery()"), "f");
}

#[test]
fn redis_answers_and_restarts_on_its_port() {
    let mut redis = Redis::start();
    let port = redis.port;
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    redis.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    redis.restart();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
}

#[test]
fn nginx_proxies_to_its_upstreams() {
    use std::io::{Read, Write};
    // A one-shot upstream that answers any request with a fixed body.
    let upstream = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = upstream.local_addr().unwrap().to_string();
    let server = std::thread::spawn(move || {
        let (mut conn, _) = upstream.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf).unwrap();
        conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            .unwrap();
    });
    let nginx = tinct_testkit::Nginx::start(&[addr]);
    let mut client = std::net::TcpStream::connect(("127.0.0.1", nginx.port)).unwrap();
    client
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    client.read_to_string(&mut answer).unwrap();
    server.join().unwrap();
    assert!(
        answer.starts_with("HTTP/1.1 200"),
        "{answer}\n{}",
        nginx.error_log()
    );
    assert!(answer.ends_with("hello"));
}

#[test]
fn nginx_stops_with_its_workers() {
    let nginx = tinct_testkit::Nginx::start(&["127.0.0.1:9".to_owned()]);
    let port = nginx.port;
    let group = nginx.pid().to_string();
    // An open client connection must not hold the shutdown up.
    let _client = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    let members = || {
        let out = std::process::Command::new("pgrep")
            .args(["-g", &group])
            .output()
            .expect("pgrep");
        String::from_utf8_lossy(&out.stdout).lines().count()
    };
    assert!(members() >= 2, "a master and at least one worker run");
    drop(nginx);
    assert_eq!(members(), 0, "no nginx process is left");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on nginx's port any more"
    );
}
