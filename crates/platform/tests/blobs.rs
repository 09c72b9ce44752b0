//! The Blob conformance suite: the SQLite and PostgreSQL adapters pass the same checks.

use std::time::{SystemTime, UNIX_EPOCH};

use tinct_platform::{
    BlobError, Blobs, MAX_BLOB_KEY, PgBlobs, PgStore, PutMode, SqliteBlobs, SqliteStore, blob_etag,
};

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// Already expired by any clock the database and the test might disagree by.
fn past() -> Option<i64> {
    Some(now_ms() - 3_600_000)
}

fn future() -> Option<i64> {
    Some(now_ms() + 3_600_000)
}

async fn run(blobs: &dyn Blobs) {
    put_get_and_replace(blobs).await;
    keep_existing_never_overwrites_a_live_blob(blobs).await;
    expired_blobs_are_gone_and_deleted(blobs).await;
    list_by_prefix_in_key_order(blobs).await;
    heads_answer_only_live_blobs(blobs).await;
    bad_input_is_refused_and_changes_nothing(blobs).await;
}

async fn put_get_and_replace(blobs: &dyn Blobs) {
    assert!(blobs.get("export/1").await.unwrap().is_none());
    assert!(blobs.head("export/1").await.unwrap().is_none());
    // Bytes that are not UTF-8 survive the round trip.
    let bytes = [0u8, 159, 146, 150, 255, b'\n'];
    let expires = future();
    let meta = blobs
        .put(
            "export/1",
            "application/octet-stream",
            &bytes,
            expires,
            PutMode::Replace,
        )
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(meta.key, "export/1");
    assert_eq!(meta.size, 6);
    assert_eq!(meta.etag, blob_etag(&bytes));
    assert_eq!(meta.expires_at, expires);
    assert!(meta.created_at > 0);
    let blob = blobs.get("export/1").await.unwrap().expect("readable");
    assert_eq!(blob.bytes, bytes);
    assert_eq!(blob.meta, meta);
    assert_eq!(blobs.head("export/1").await.unwrap(), Some(meta.clone()));

    let replaced = blobs
        .put("export/1", "text/css", b":root{}", None, PutMode::Replace)
        .await
        .unwrap()
        .expect("replaced");
    assert_eq!(replaced.content_type, "text/css");
    assert_eq!(replaced.expires_at, None);
    assert_ne!(replaced.etag, meta.etag);
    let blob = blobs.get("export/1").await.unwrap().unwrap();
    assert_eq!(blob.bytes, b":root{}");

    // Empty content is a blob too.
    let empty = blobs
        .put("export/empty", "text/plain", b"", None, PutMode::Replace)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(empty.size, 0);
    assert_eq!(blobs.get("export/empty").await.unwrap().unwrap().bytes, b"");
}

async fn keep_existing_never_overwrites_a_live_blob(blobs: &dyn Blobs) {
    let first = blobs
        .put(
            "snap/a/1/x.css",
            "text/css",
            b"one",
            None,
            PutMode::KeepExisting,
        )
        .await
        .unwrap()
        .expect("a new key is written");
    let again = blobs
        .put(
            "snap/a/1/x.css",
            "text/css",
            b"two",
            None,
            PutMode::KeepExisting,
        )
        .await
        .unwrap();
    assert_eq!(again, None, "a live blob is kept");
    let blob = blobs.get("snap/a/1/x.css").await.unwrap().unwrap();
    assert_eq!((blob.bytes.as_slice(), blob.meta), (&b"one"[..], first));

    // An expired blob under the key is no longer there, so it is replaced.
    blobs
        .put(
            "snap/a/2/x.css",
            "text/css",
            b"old",
            past(),
            PutMode::Replace,
        )
        .await
        .unwrap();
    let fresh = blobs
        .put(
            "snap/a/2/x.css",
            "text/css",
            b"new",
            None,
            PutMode::KeepExisting,
        )
        .await
        .unwrap()
        .expect("an expired blob is replaced");
    assert_eq!(fresh.etag, blob_etag(b"new"));
    assert_eq!(
        blobs.get("snap/a/2/x.css").await.unwrap().unwrap().bytes,
        b"new"
    );
}

async fn expired_blobs_are_gone_and_deleted(blobs: &dyn Blobs) {
    blobs
        .put("gone/1", "text/plain", b"x", past(), PutMode::Replace)
        .await
        .unwrap();
    blobs
        .put("gone/2", "text/plain", b"y", past(), PutMode::Replace)
        .await
        .unwrap();
    blobs
        .put("gone/3", "text/plain", b"z", future(), PutMode::Replace)
        .await
        .unwrap();
    assert!(blobs.get("gone/1").await.unwrap().is_none(), "expired");
    assert!(blobs.head("gone/2").await.unwrap().is_none(), "expired");
    let listed: Vec<String> = blobs
        .list("gone/", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.key)
        .collect();
    assert_eq!(listed, ["gone/3"]);
    assert_eq!(blobs.delete_expired().await.unwrap(), 2);
    assert_eq!(blobs.delete_expired().await.unwrap(), 0);
    assert!(blobs.get("gone/3").await.unwrap().is_some(), "live is kept");

    // More than one delete batch in one call.
    for i in 0..1_205 {
        blobs
            .put(
                &format!("batch/{i:05}"),
                "text/plain",
                b"b",
                past(),
                PutMode::Replace,
            )
            .await
            .unwrap();
    }
    assert_eq!(blobs.delete_expired().await.unwrap(), 1_205);
}

async fn list_by_prefix_in_key_order(blobs: &dyn Blobs) {
    for key in ["l/b/2", "l/a/1", "l/b/1", "l/b", "l/bb/1", "m/a", "l/b/3"] {
        blobs
            .put(key, "text/plain", key.as_bytes(), None, PutMode::Replace)
            .await
            .unwrap();
    }
    let keys = |metas: Vec<tinct_platform::BlobMeta>| -> Vec<String> {
        metas.into_iter().map(|m| m.key).collect()
    };
    assert_eq!(
        keys(blobs.list("l/b/", None, 10).await.unwrap()),
        ["l/b/1", "l/b/2", "l/b/3"]
    );
    assert_eq!(
        keys(blobs.list("l/", None, 100).await.unwrap()),
        ["l/a/1", "l/b", "l/b/1", "l/b/2", "l/b/3", "l/bb/1"]
    );
    // Paging.
    assert_eq!(
        keys(blobs.list("l/b/", None, 2).await.unwrap()),
        ["l/b/1", "l/b/2"]
    );
    assert_eq!(
        keys(blobs.list("l/b/", Some("l/b/2"), 2).await.unwrap()),
        ["l/b/3"]
    );
    // LIKE wildcards in a prefix are plain characters.
    blobs
        .put("w%_/1", "text/plain", b"w", None, PutMode::Replace)
        .await
        .unwrap();
    assert!(blobs.list("w_", None, 10).await.unwrap().is_empty());
    assert_eq!(keys(blobs.list("w%_", None, 10).await.unwrap()), ["w%_/1"]);
    assert!(blobs.list("nothing/", None, 10).await.unwrap().is_empty());
}

async fn heads_answer_only_live_blobs(blobs: &dyn Blobs) {
    blobs
        .put("h/live", "text/css", b"live", None, PutMode::Replace)
        .await
        .unwrap();
    blobs
        .put("h/expired", "text/css", b"old", past(), PutMode::Replace)
        .await
        .unwrap();
    let keys = ["h/live", "h/expired", "h/absent", "h/live"].map(String::from);
    let heads = blobs.heads(&keys).await.unwrap();
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert_eq!(
        Some(&heads[0]),
        blobs.head("h/live").await.unwrap().as_ref()
    );
    assert!(blobs.heads(&[]).await.unwrap().is_empty());
}

async fn bad_input_is_refused_and_changes_nothing(blobs: &dyn Blobs) {
    let long = "k".repeat(MAX_BLOB_KEY + 1);
    for (key, content_type) in [
        ("", "text/plain"),
        (long.as_str(), "text/plain"),
        ("ok/1", ""),
    ] {
        let err = blobs
            .put(key, content_type, b"x", None, PutMode::Replace)
            .await
            .unwrap_err();
        assert!(matches!(err, BlobError::Invalid(_)), "{err}");
    }
    assert!(blobs.get("ok/1").await.unwrap().is_none(), "nothing stored");
    assert!(matches!(
        blobs.get("").await.unwrap_err(),
        BlobError::Invalid(_)
    ));
    for keys in [vec![String::new()], vec!["k".to_owned(); 1001]] {
        let err = blobs.heads(&keys).await.unwrap_err();
        assert!(matches!(err, BlobError::Invalid(_)), "{err}");
    }
    for limit in [0, 1001] {
        let err = blobs.list("l/", None, limit).await.unwrap_err();
        assert!(err.to_string().contains("limit must be between"), "{err}");
    }
}

#[tokio::test]
async fn sqlite_blobs_pass_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db"))
        .await
        .unwrap();
    run(&SqliteBlobs::new(&store)).await;
}

#[tokio::test]
async fn postgres_blobs_pass_the_conformance_suite() {
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 4).await.unwrap();
    run(&PgBlobs::new(&store)).await;
}
