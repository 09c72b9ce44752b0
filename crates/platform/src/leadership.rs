//! Leadership: keeps one named lease in the background. While not leading it tries to acquire
//! every TTL/3; while leading it renews every TTL/3 and stops leading the moment a renewal fails,
//! errors, or has not succeeded by the time the lease would expire — it never goes on leading on
//! a lease that may have lapsed. The current epoch (Some while leading) is on a watch channel.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::lease::{Epoch, Lease, LeaseError, check};

pub struct Leadership {
    state: watch::Receiver<Option<Epoch>>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Leadership {
    /// Starts competing for `name` as `holder` (unique per process, e.g. `host-pid`) with leases of
    /// `ttl`. Must be called inside a Tokio runtime. Dropping the handle stops it and releases the
    /// lease in the background; `shutdown` does the same and waits for the release.
    pub fn start(
        lease: Arc<dyn Lease>,
        name: &str,
        holder: &str,
        ttl: Duration,
    ) -> Result<Leadership, LeaseError> {
        check(name, holder, ttl)?;
        let (tx, state) = watch::channel(None);
        let (stop, stopped) = oneshot::channel();
        let runner = Runner {
            lease,
            name: name.to_owned(),
            holder: holder.to_owned(),
            ttl,
            tx,
        };
        let task = tokio::spawn(runner.run(stopped));
        Ok(Leadership {
            state,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// Some(epoch) while this process leads; the epoch is the fencing token of this tenure.
    pub fn watch(&self) -> watch::Receiver<Option<Epoch>> {
        self.state.clone()
    }

    pub fn epoch(&self) -> Option<Epoch> {
        *self.state.borrow()
    }

    /// Stops leading (the watch turns to None first), releases the lease, and waits for both.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for Leadership {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Runner {
    lease: Arc<dyn Lease>,
    name: String,
    holder: String,
    ttl: Duration,
    tx: watch::Sender<Option<Epoch>>,
}

impl Runner {
    async fn run(self, mut stopped: oneshot::Receiver<()>) {
        let period = (self.ttl / 3).max(Duration::from_millis(1));
        // The epoch held and when it lapses (counted from before the call that set it, so never
        // later than the backend's expiry).
        let mut held: Option<(Epoch, Instant)> = None;
        let mut next = Instant::now();
        let mut failing = false;
        loop {
            tokio::select! {
                biased;
                _ = &mut stopped => break,
                () = tokio::time::sleep_until(next) => {}
            }
            let started = Instant::now();
            next = started + period;
            match held {
                None => {
                    let attempt = tokio::time::timeout(
                        self.ttl,
                        self.lease.acquire(&self.name, &self.holder, self.ttl),
                    )
                    .await;
                    match attempt {
                        Ok(Ok(Some(epoch))) => {
                            held = Some((epoch, started + self.ttl));
                            failing = false;
                            self.tx.send_replace(Some(epoch));
                            tracing::info!(lease = %self.name, holder = %self.holder, %epoch,
                                "leadership gained");
                        }
                        Ok(Ok(None)) => failing = false,
                        Ok(Err(e)) => self.failed(&mut failing, &e.to_string()),
                        Err(_) => self.failed(&mut failing, "the acquire did not answer"),
                    }
                }
                Some((epoch, deadline)) => {
                    let renewal = tokio::time::timeout_at(
                        deadline,
                        self.lease.renew(&self.name, &self.holder, epoch, self.ttl),
                    )
                    .await;
                    let lost = match renewal {
                        Ok(Ok(true)) => {
                            held = Some((epoch, started + self.ttl));
                            continue;
                        }
                        Ok(Ok(false)) => "another holder took over or the lease lapsed".to_owned(),
                        Ok(Err(e)) => e.to_string(),
                        Err(_) => "the renewal did not answer before the lease expired".to_owned(),
                    };
                    held = None;
                    self.tx.send_replace(None);
                    tracing::info!(lease = %self.name, holder = %self.holder, %epoch,
                        reason = %lost, "leadership lost");
                }
            }
        }
        if let Some((epoch, _)) = held {
            // Stop leading before the lease is free, so two never lead at once.
            self.tx.send_replace(None);
            let released = tokio::time::timeout(
                self.ttl,
                self.lease.release(&self.name, &self.holder, epoch),
            )
            .await;
            tracing::info!(lease = %self.name, holder = %self.holder, %epoch,
                released = matches!(released, Ok(Ok(true))), "leadership given up");
        }
    }

    /// Logs a failing backend once per streak (it is retried every TTL/3).
    fn failed(&self, failing: &mut bool, error: &str) {
        if !*failing {
            tracing::warn!(lease = %self.name, holder = %self.holder, %error,
                "cannot acquire the lease; retrying");
        }
        *failing = true;
    }
}
