//! Blobs on PostgreSQL, in the primary (a blob written by one instance's worker is read at once
//! by any instance; a lagging replica would answer "not there yet").

use async_trait::async_trait;
use sqlx::postgres::PgRow;
use sqlx::{PgPool, Row};

use crate::blob::{
    Blob, BlobMeta, BlobResult, Blobs, DELETE_BATCH, PutMode, blob_etag, check_key, check_keys,
    check_list, check_put, prefix_end,
};
use crate::postgres::PgStore;

/// Milliseconds since the Unix epoch at the start of the statement, by the server's clock.
macro_rules! now {
    () => {
        "(extract(epoch FROM statement_timestamp()) * 1000)::bigint"
    };
}

macro_rules! meta_columns {
    () => {
        "key, content_type, size, etag, created_at, expires_at"
    };
}

macro_rules! live {
    () => {
        concat!("(expires_at IS NULL OR expires_at > ", now!(), ")")
    };
}

pub struct PgBlobs {
    pool: PgPool,
}

impl PgBlobs {
    /// Blobs on the store's primary.
    pub fn new(store: &PgStore) -> Self {
        PgBlobs {
            pool: store.pool().clone(),
        }
    }
}

fn meta_from(row: &PgRow) -> BlobResult<BlobMeta> {
    Ok(BlobMeta {
        key: row.try_get("key")?,
        content_type: row.try_get("content_type")?,
        size: row.try_get("size")?,
        etag: row.try_get("etag")?,
        created_at: row.try_get("created_at")?,
        expires_at: row.try_get("expires_at")?,
    })
}

#[async_trait]
impl Blobs for PgBlobs {
    async fn put(
        &self,
        key: &str,
        content_type: &str,
        bytes: &[u8],
        expires_at: Option<i64>,
        mode: PutMode,
    ) -> BlobResult<Option<BlobMeta>> {
        check_put(key, content_type)?;
        // A taken key is replaced, or under KeepExisting only when its blob has expired.
        let only_expired = match mode {
            PutMode::Replace => "",
            PutMode::KeepExisting => concat!(
                " WHERE blobs.expires_at IS NOT NULL AND blobs.expires_at <= ",
                now!()
            ),
        };
        let sql = format!(
            concat!(
                "INSERT INTO blobs (key, content_type, bytes, size, etag, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, ",
                now!(),
                ", $6) ON CONFLICT (key) DO UPDATE SET content_type = excluded.content_type, \
                 bytes = excluded.bytes, size = excluded.size, etag = excluded.etag, \
                 created_at = excluded.created_at, expires_at = excluded.expires_at{} \
                 RETURNING ",
                meta_columns!()
            ),
            only_expired
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(key)
            .bind(content_type)
            .bind(bytes)
            .bind(i64::try_from(bytes.len()).unwrap_or(i64::MAX))
            .bind(blob_etag(bytes))
            .bind(expires_at)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(meta_from).transpose()
    }

    async fn get(&self, key: &str) -> BlobResult<Option<Blob>> {
        check_key(key)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            meta_columns!(),
            ", bytes FROM blobs WHERE key = $1 AND ",
            live!()
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        match row {
            None => Ok(None),
            Some(row) => Ok(Some(Blob {
                meta: meta_from(&row)?,
                bytes: row.try_get("bytes")?,
            })),
        }
    }

    async fn head(&self, key: &str) -> BlobResult<Option<BlobMeta>> {
        check_key(key)?;
        let row = sqlx::query(concat!(
            "SELECT ",
            meta_columns!(),
            " FROM blobs WHERE key = $1 AND ",
            live!()
        ))
        .bind(key)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(meta_from).transpose()
    }

    async fn heads(&self, keys: &[String]) -> BlobResult<Vec<BlobMeta>> {
        check_keys(keys)?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(concat!(
            "SELECT ",
            meta_columns!(),
            " FROM blobs WHERE key = ANY($1) AND ",
            live!()
        ))
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(meta_from).collect()
    }

    async fn list(
        &self,
        prefix: &str,
        after: Option<&str>,
        limit: u32,
    ) -> BlobResult<Vec<BlobMeta>> {
        check_list(prefix, limit)?;
        let rows = sqlx::query(concat!(
            "SELECT ",
            meta_columns!(),
            " FROM blobs WHERE key >= $1 AND key < $2 AND starts_with(key, $1) \
             AND ($3::text IS NULL OR key > $3) AND ",
            live!(),
            " ORDER BY key LIMIT $4"
        ))
        .bind(prefix)
        .bind(prefix_end(prefix))
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(meta_from).collect()
    }

    async fn delete_expired(&self) -> BlobResult<u64> {
        let mut total = 0;
        loop {
            let done = sqlx::query(concat!(
                "DELETE FROM blobs WHERE key IN (SELECT key FROM blobs \
                 WHERE expires_at IS NOT NULL AND expires_at <= ",
                now!(),
                " LIMIT $1 FOR UPDATE SKIP LOCKED)"
            ))
            .bind(DELETE_BATCH)
            .execute(&self.pool)
            .await?
            .rows_affected();
            total += done;
            if done < DELETE_BATCH as u64 {
                return Ok(total);
            }
        }
    }
}
