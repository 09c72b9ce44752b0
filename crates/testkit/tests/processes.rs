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
