//! Wakes idle workers when a job is enqueued anywhere in the cluster: listens for the NOTIFY each
//! PostgreSQL enqueue sends (see `pg_queue.rs`) and pokes a `Notify`. Reconnects after errors;
//! workers poll meanwhile, so a lost notification only delays a job.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::pg_queue::JOBS_CHANNEL;

/// Listens on `url` until the returned task is aborted.
pub fn wake_on_enqueue(url: &str, wake: Arc<Notify>) -> JoinHandle<()> {
    let url = url.to_owned();
    tokio::spawn(async move {
        loop {
            match listen(&url, &wake).await {
                Ok(()) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "job wake-ups lost; workers poll until they are back")
                }
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    })
}

async fn listen(url: &str, wake: &Notify) -> Result<(), sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(JOBS_CHANNEL).await?;
    // Whatever was enqueued while not listening is found by the next fetch.
    wake.notify_one();
    loop {
        listener.recv().await?;
        wake.notify_one();
    }
}
