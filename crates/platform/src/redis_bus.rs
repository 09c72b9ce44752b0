//! The bus over Redis pub/sub. The payload is the sender's instance id.

use std::time::Duration;

use async_trait::async_trait;
use futures::StreamExt;
use redis::AsyncCommands;
use redis::aio::{ConnectionManager, PubSubStream};
use tokio::sync::Mutex;

use crate::bus::Bus;

const CHANNEL: &str = "tinct:events";

pub struct RedisBus {
    client: redis::Client,
    publisher: Mutex<Option<ConnectionManager>>,
    messages: Mutex<Option<PubSubStream>>,
    instance: String,
}

impl RedisBus {
    /// Never fails on an unreachable Redis: announcements are retried, and the event feed's polling
    /// covers the gap.
    pub fn new(url: &str, instance: &str) -> Result<Self, redis::RedisError> {
        Ok(RedisBus {
            client: redis::Client::open(url)?,
            publisher: Mutex::new(None),
            messages: Mutex::new(None),
            instance: instance.to_owned(),
        })
    }

    async fn subscribe(&self) -> redis::RedisResult<PubSubStream> {
        let mut pubsub = self.client.get_async_pubsub().await?;
        pubsub.subscribe(CHANNEL).await?;
        Ok(pubsub.into_on_message())
    }
}

#[async_trait]
impl Bus for RedisBus {
    async fn announce(&self) {
        let mut slot = self.publisher.lock().await;
        if slot.is_none() {
            *slot = self.client.get_connection_manager().await.ok();
        }
        let Some(conn) = slot.as_mut() else {
            tracing::warn!("could not announce events over redis; other instances will poll");
            return;
        };
        let sent: redis::RedisResult<i64> = conn.publish(CHANNEL, &self.instance).await;
        if let Err(e) = sent {
            tracing::warn!(error = %e, "could not announce events over redis; other instances will poll");
        }
    }

    async fn next_announcement(&self) {
        let mut slot = self.messages.lock().await;
        loop {
            let Some(stream) = slot.as_mut() else {
                match self.subscribe().await {
                    Ok(stream) => {
                        *slot = Some(stream);
                        // Freshly (re)subscribed: anything may have been missed.
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "event bus: cannot subscribe to redis; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
            };
            match stream.next().await {
                Some(message) => {
                    let from: String = message.get_payload().unwrap_or_default();
                    if from != self.instance {
                        return;
                    }
                }
                // Subscription lost: resubscribe, then catch up.
                None => *slot = None,
            }
        }
    }

    fn describe(&self) -> String {
        "redis pub/sub".to_owned()
    }
}
