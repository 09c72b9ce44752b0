use async_trait::async_trait;

/// The Bus port: wake-ups between instances. Change events themselves are durable in the store's
/// event table; a bus message only says "there is something new", so a lost message costs a poll
/// interval, never an event. Each message carries the sender's instance id, and a bus drops its
/// own echoes.
#[async_trait]
pub trait Bus: Send + Sync {
    /// Tells the other instances that new events were committed.
    async fn announce(&self);
    /// Waits for another instance's announcement, or for a reconnect (after which announcements
    /// may have been missed, so the caller should catch up either way).
    async fn next_announcement(&self);
    fn describe(&self) -> String;
}
