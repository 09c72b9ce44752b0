//! The Blob port: files the service produces (export artifacts, published snapshots), kept in the
//! database beside the data — never on one instance's disk, so any instance serves what another
//! produced.
//!
//! A blob has a key (`export/42`, `snapshot/acme/17/tokens.css`), a content type, its bytes, a
//! strong ETag (a digest of the bytes) and an optional expiry. An expired blob is gone for every
//! reader at once; `delete_expired` reclaims its space later. Times are milliseconds since the Unix
//! epoch by the database's clock.

use async_trait::async_trait;
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::error::StoreError;

pub type BlobResult<T> = std::result::Result<T, BlobError>;

/// What can go wrong with a blob operation.
#[derive(Debug, Error)]
pub enum BlobError {
    /// The caller passed something the port refuses; nothing was changed.
    #[error("invalid blob request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for BlobError {
    fn from(e: sqlx::Error) -> Self {
        BlobError::Store(e.into())
    }
}

/// Longest key accepted.
pub const MAX_BLOB_KEY: usize = 1024;
/// Most blobs one `list` returns.
pub const MAX_BLOB_LIST: u32 = 1000;
/// Expired blobs deleted per statement by `delete_expired`.
pub(crate) const DELETE_BATCH: i64 = 1000;

/// What is known of a blob without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobMeta {
    pub key: String,
    pub content_type: String,
    /// Length of the content in bytes.
    pub size: i64,
    /// A strong validator of the bytes, quoted as an HTTP ETag.
    pub etag: String,
    pub created_at: i64,
    /// `None`: kept until deleted.
    pub expires_at: Option<i64>,
}

/// A blob with its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    pub meta: BlobMeta,
    pub bytes: Vec<u8>,
}

/// How `put` treats a key that is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutMode {
    /// The new content replaces the old.
    Replace,
    /// The existing blob stays; nothing is written (immutable, published content).
    KeepExisting,
}

#[async_trait]
pub trait Blobs: Send + Sync {
    /// Stores `bytes` under `key`, expiring at `expires_at` (ms since the epoch) when given.
    /// Returns the stored blob's description, or `None` when `mode` is `KeepExisting` and a live
    /// blob holds the key already (an expired one is replaced).
    async fn put(
        &self,
        key: &str,
        content_type: &str,
        bytes: &[u8],
        expires_at: Option<i64>,
        mode: PutMode,
    ) -> BlobResult<Option<BlobMeta>>;
    /// The blob under `key`, unless there is none or it has expired.
    async fn get(&self, key: &str) -> BlobResult<Option<Blob>>;
    /// What `get` would return, without the bytes.
    async fn head(&self, key: &str) -> BlobResult<Option<BlobMeta>>;
    /// What `head` would return for each of `keys` (at most 1000) that holds a live blob, in one
    /// query and in no particular order.
    async fn heads(&self, keys: &[String]) -> BlobResult<Vec<BlobMeta>>;
    /// Live blobs whose key starts with `prefix`, in key order after `after`, at most `limit`
    /// (1–1000).
    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> BlobResult<Vec<BlobMeta>>;
    /// Deletes every expired blob; returns how many.
    async fn delete_expired(&self) -> BlobResult<u64>;
}

/// Refuses keys the port does not store.
pub(crate) fn check_key(key: &str) -> BlobResult<()> {
    if key.is_empty() {
        return Err(BlobError::Invalid(
            "the blob key is empty; name the blob, e.g. export/42".into(),
        ));
    }
    if key.len() > MAX_BLOB_KEY {
        return Err(BlobError::Invalid(format!(
            "the blob key is {} bytes long; use at most {MAX_BLOB_KEY}",
            key.len()
        )));
    }
    if key.chars().any(char::is_control) {
        return Err(BlobError::Invalid(
            "the blob key holds a control character; use printable characters only".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_put(key: &str, content_type: &str) -> BlobResult<()> {
    check_key(key)?;
    if content_type.trim().is_empty() {
        return Err(BlobError::Invalid(
            "the content type is empty; give one such as text/css".into(),
        ));
    }
    Ok(())
}

pub(crate) fn check_keys(keys: &[String]) -> BlobResult<()> {
    if keys.len() > MAX_BLOB_LIST as usize {
        return Err(BlobError::Invalid(format!(
            "{} keys asked for at once; ask for at most {MAX_BLOB_LIST}",
            keys.len()
        )));
    }
    keys.iter().try_for_each(|key| check_key(key))
}

pub(crate) fn check_list(prefix: &str, limit: u32) -> BlobResult<()> {
    if prefix.len() > MAX_BLOB_KEY {
        return Err(BlobError::Invalid(format!(
            "the prefix is {} bytes long; use at most {MAX_BLOB_KEY}",
            prefix.len()
        )));
    }
    if !(1..=MAX_BLOB_LIST).contains(&limit) {
        return Err(BlobError::Invalid(format!(
            "limit must be between 1 and {MAX_BLOB_LIST}, got {limit}"
        )));
    }
    Ok(())
}

/// The upper bound of keys that start with `prefix` (for an index range scan): no key we store
/// holds U+10FFFF, the greatest character, right after a prefix.
pub(crate) fn prefix_end(prefix: &str) -> String {
    format!("{prefix}\u{10FFFF}")
}

/// The strong ETag of `bytes`: 128 bits of SHA-256, quoted.
pub fn blob_etag(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_keys_and_listings_are_refused_with_a_reason() {
        for (key, says) in [
            ("", "key is empty"),
            ("a\nb", "control character"),
            (&"k".repeat(MAX_BLOB_KEY + 1), "at most 1024"),
        ] {
            let err = check_key(key).unwrap_err();
            assert!(err.to_string().contains(says), "{err}");
        }
        assert!(check_key("export/1").is_ok());
        assert!(check_put("export/1", " ").is_err());
        assert!(check_list("export/", 0).is_err());
        assert!(check_list("export/", MAX_BLOB_LIST + 1).is_err());
        assert!(check_list("", 1).is_ok());
    }

    #[test]
    fn etags_follow_the_bytes() {
        assert_eq!(blob_etag(b"a"), blob_etag(b"a"));
        assert_ne!(blob_etag(b"a"), blob_etag(b"b"));
        assert_eq!(blob_etag(b"").len(), 34);
    }
}
