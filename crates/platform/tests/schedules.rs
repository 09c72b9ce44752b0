//! The Schedules conformance suite: the SQLite and PostgreSQL adapters pass the same checks, and
//! a firing enqueues its job at most once however many schedulers try.

use serde_json::json;
use tinct_platform::{
    JobFilter, MissedPolicy, NewJob, NewSchedule, PgQueue, PgSchedules, PgStore, Queue,
    ScheduleSource, Schedules, SqliteQueue, SqliteSchedules, SqliteStore,
};

fn schedule(name: &str, cron: &str) -> NewSchedule {
    NewSchedule {
        name: name.to_owned(),
        cron: cron.to_owned(),
        kind: "noop".to_owned(),
        args: json!({"n": 1}),
        missed: MissedPolicy::Skip,
        source: ScheduleSource::Api,
    }
}

fn job(name: &str, at: i64) -> NewJob {
    NewJob::new("noop", json!({}))
        .queue("schedules")
        .unique(format!("schedule:{name}:{at}"))
        .run_at(at)
}

async fn run(schedules: &dyn Schedules, queue: &dyn Queue) {
    create_list_get_and_delete(schedules).await;
    a_firing_is_made_once(schedules, queue).await;
    a_changed_cron_counts_from_now(schedules).await;
}

async fn create_list_get_and_delete(schedules: &dyn Schedules) {
    let made = schedules
        .create(&schedule("nightly", "0 3 * * *"))
        .await
        .unwrap()
        .expect("created");
    assert_eq!(
        (made.name.as_str(), made.cron.as_str(), made.missed),
        ("nightly", "0 3 * * *", MissedPolicy::Skip)
    );
    assert_eq!(
        (made.source, made.last_fire_at),
        (ScheduleSource::Api, None)
    );
    assert_eq!(made.args, json!({"n": 1}));
    let now = schedules.now().await.unwrap();
    assert!((made.created_at - now).abs() < 60_000, "{made:?} vs {now}");
    assert!(
        schedules
            .create(&schedule("nightly", "0 4 * * *"))
            .await
            .unwrap()
            .is_none(),
        "the name is taken"
    );
    assert_eq!(
        schedules.get("nightly").await.unwrap().unwrap().cron,
        "0 3 * * *",
        "unchanged by the refused create"
    );
    schedules
        .create(&schedule("hourly", "0 * * * *"))
        .await
        .unwrap();
    let names: Vec<String> = schedules
        .list()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["hourly", "nightly"], "by name");
    assert!(schedules.delete("hourly").await.unwrap());
    assert!(!schedules.delete("hourly").await.unwrap());
    assert!(schedules.get("hourly").await.unwrap().is_none());
}

async fn a_firing_is_made_once(schedules: &dyn Schedules, queue: &dyn Queue) {
    schedules
        .create(&schedule("tick", "* * * * *"))
        .await
        .unwrap();
    let at = 1_000_000;
    let first = schedules.fire("tick", at, &job("tick", at)).await.unwrap();
    assert!(first.is_some_and(|e| !e.duplicate));
    // Another scheduler (or the same one again) fires the same time: nothing more is enqueued.
    assert!(
        schedules
            .fire("tick", at, &job("tick", at))
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        schedules
            .fire("tick", at - 60_000, &job("tick", at - 60_000))
            .await
            .unwrap()
            .is_none(),
        "an older firing after a newer one"
    );
    assert_eq!(
        schedules.get("tick").await.unwrap().unwrap().last_fire_at,
        Some(at)
    );
    // Skipping moves forward only.
    assert!(!schedules.skip_to("tick", at).await.unwrap());
    assert!(schedules.skip_to("tick", at + 60_000).await.unwrap());
    assert!(
        schedules
            .fire("tick", at + 60_000, &job("tick", at + 60_000))
            .await
            .unwrap()
            .is_none(),
        "a skipped firing is not made later"
    );
    let next = at + 120_000;
    assert!(
        schedules
            .fire("tick", next, &job("tick", next))
            .await
            .unwrap()
            .is_some()
    );
    // A gone schedule fires nothing; a bad job is refused and advances nothing.
    assert!(
        schedules
            .fire("gone", at, &job("gone", at))
            .await
            .unwrap()
            .is_none()
    );
    let bad = NewJob::new("", json!({}));
    assert!(schedules.fire("tick", next + 60_000, &bad).await.is_err());
    assert_eq!(
        schedules.get("tick").await.unwrap().unwrap().last_fire_at,
        Some(next)
    );
    let filter = JobFilter {
        queue: Some("schedules".into()),
        ..JobFilter::default()
    };
    let keys: Vec<String> = queue
        .list(&filter, None, 100)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|j| j.unique_key)
        .collect();
    assert_eq!(
        keys,
        [
            format!("schedule:tick:{at}"),
            format!("schedule:tick:{next}")
        ]
    );
}

async fn a_changed_cron_counts_from_now(schedules: &dyn Schedules) {
    let mut config = schedule("configured", "0 * * * *");
    config.source = ScheduleSource::Config;
    let stored = schedules.upsert(&config).await.unwrap();
    assert_eq!(
        (stored.source, stored.last_fire_at),
        (ScheduleSource::Config, None)
    );
    schedules.skip_to("configured", 7_200_000).await.unwrap();
    // Same cron, other args: the last firing is kept.
    config.args = json!({"n": 2});
    let kept = schedules.upsert(&config).await.unwrap();
    assert_eq!(
        (kept.last_fire_at, kept.args.clone()),
        (Some(7_200_000), json!({"n": 2}))
    );
    // Another cron: firings count from now, so a time the old cron fired is not fired again.
    config.cron = "0 */2 * * *".to_owned();
    let changed = schedules.upsert(&config).await.unwrap();
    let now = schedules.now().await.unwrap();
    let from = changed.last_fire_at.expect("set to now");
    assert!((from - now).abs() < 60_000, "{changed:?} vs {now}");
    assert_eq!(changed.cron, "0 */2 * * *");
}

#[tokio::test]
async fn sqlite_schedules_pass_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open_file(&dir.path().join("t.db"))
        .await
        .unwrap();
    run(&SqliteSchedules::new(&store), &SqliteQueue::new(&store)).await;
}

#[tokio::test]
async fn postgres_schedules_pass_the_conformance_suite() {
    let pg = tinct_testkit::Postgres::start();
    let store = PgStore::open_primary(&pg.url(), 4).await.unwrap();
    run(&PgSchedules::new(&store), &PgQueue::new(&store)).await;
}
