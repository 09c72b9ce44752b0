//! The registry and its middleware chain, end to end through `execute`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tinct_command::middleware::{Call, CommandCache, Middleware, Step, ValidateInput};
use tinct_command::{
    BatchItem, CacheStatus, CommandDef, CommandError, CommandMetrics, Context, ErrorCode, Registry,
    RegistryError, Surface,
};
use tinct_platform::LocalCache;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct EchoIn {
    text: String,
    times: Option<u32>,
}

#[derive(Serialize, JsonSchema)]
struct EchoOut {
    text: String,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct Empty {}

struct Fixture {
    registry: Arc<Registry>,
    reads: Arc<AtomicUsize>,
    metrics: Arc<CommandMetrics>,
}

fn fixture() -> Fixture {
    let reads = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&reads);
    let metrics = Arc::new(CommandMetrics::new());
    let mut b = Registry::builder();
    b.instance("test-1")
        .metrics(Arc::clone(&metrics))
        .middleware(Arc::new(ValidateInput))
        .middleware(Arc::new(CommandCache::new(Arc::new(LocalCache::new(
            1000,
            Duration::from_secs(60),
        )))));
    b.register(CommandDef::new(
        "echo.read",
        "Echoes text, counting runs.",
        move |i: EchoIn, ctx: Context| {
            let counter = Arc::clone(&counter);
            async move {
                counter.fetch_add(1, Ordering::SeqCst);
                ctx.warn("echoing");
                Ok(EchoOut {
                    text: i.text.repeat(i.times.unwrap_or(1) as usize),
                })
            }
        },
    ))
    .unwrap();
    b.register(
        CommandDef::new(
            "echo.write",
            "A mutation.",
            |_: Empty, ctx: Context| async move {
                ctx.set_revision("7");
                ctx.set_change_seq(1);
                Ok(json!({"written": true}))
            },
        )
        .mutation(&["echo.read"]),
    )
    .unwrap();
    b.register(CommandDef::new(
        "boom.panic",
        "Panics.",
        |_: Empty, _| async move {
            if true {
                panic!("kaboom");
            }
            Ok(json!(null))
        },
    ))
    .unwrap();
    b.register(CommandDef::new(
        "slow.sleep",
        "Sleeps.",
        |_: Empty, _| async move {
            tokio::time::sleep(Duration::from_secs(5)).await;
            Ok(json!(null))
        },
    ))
    .unwrap();
    b.register(CommandDef::new(
        "fail.always",
        "Fails.",
        |_: Empty, _| async move {
            Err::<(), _>(CommandError::not_found("nothing here").suggest("look elsewhere"))
        },
    ))
    .unwrap();
    Fixture {
        registry: b.build(),
        reads,
        metrics,
    }
}

fn ctx() -> Context {
    Context::new(Surface::Internal)
}

#[test]
fn duplicate_names_are_rejected() {
    let mut b = Registry::builder();
    let def = || CommandDef::new("a.b", "x", |_: Empty, _| async { Ok(json!(1)) });
    b.register(def()).unwrap();
    let err = b.register(def()).err().expect("second register must fail");
    assert!(matches!(err, RegistryError::Duplicate(name) if name == "a.b"));
}

#[tokio::test]
async fn success_fills_the_envelope() {
    let f = fixture();
    let r = f
        .registry
        .execute("echo.read", json!({"text": "ab", "times": 2}), ctx())
        .await;
    assert!(r.success, "{r:?}");
    assert_eq!(
        r.data.as_ref().map(|d| d.to_value()),
        Some(json!({"text": "abab"}))
    );
    assert_eq!(r.warnings, vec!["echoing".to_owned()]);
    assert_eq!(r.metadata.instance, "test-1");
    assert_eq!(r.metadata.command, "echo.read");
    assert_eq!(r.metadata.trace_id.len(), 32);
    assert_eq!(r.metadata.cache, Some(CacheStatus::Miss));
    assert_eq!(r.http_status(), 200);
    assert_eq!(r.exit_code(), 0);
}

#[tokio::test]
async fn unknown_command_suggests_close_names() {
    let f = fixture();
    let r = f.registry.execute("echo.raed", json!({}), ctx()).await;
    let e = r.error.expect("must fail");
    assert_eq!(e.code, ErrorCode::CommandNotFound);
    assert!(e.suggestion.unwrap().contains("echo.read"));
    assert_eq!(r.metadata.command_version, None);
}

#[tokio::test]
async fn schema_violations_name_field_and_rule() {
    let f = fixture();
    let r = f
        .registry
        .execute("echo.read", json!({"text": 5}), ctx())
        .await;
    let e = r.error.expect("must fail");
    assert_eq!(e.code, ErrorCode::ValidationError);
    assert!(e.message.contains("text"), "{}", e.message);
    let problems = &e.details.unwrap()["problems"];
    assert_eq!(problems[0]["field"], "text");
    assert_eq!(problems[0]["rule"], "type");

    let r = f.registry.execute("echo.read", json!({}), ctx()).await;
    let e = r.error.unwrap();
    assert!(e.message.contains("required"), "{}", e.message);

    let r = f
        .registry
        .execute("echo.read", json!({"text": "a", "txet": 1}), ctx())
        .await;
    let e = r.error.unwrap();
    assert!(e.message.contains("txet"), "{}", e.message);
    assert!(e.suggestion.unwrap().contains("text, times"));
    assert_eq!(
        f.reads.load(Ordering::SeqCst),
        0,
        "no handler ran on bad input"
    );
}

#[tokio::test]
async fn a_panicking_handler_becomes_internal_error_with_trace_id() {
    let f = fixture();
    let c = ctx().with_trace_id(Some("trace-xyz"));
    let r = f.registry.execute("boom.panic", json!({}), c).await;
    let e = r.error.expect("must fail");
    assert_eq!(e.code, ErrorCode::InternalError);
    assert!(e.message.contains("trace-xyz"));
    assert_eq!(r.metadata.trace_id, "trace-xyz");
}

/// A middleware whose synchronous step panics, for every call.
struct PanicsBefore;

impl Middleware for PanicsBefore {
    fn before(&self, _call: &mut Call) -> Result<Step, CommandError> {
        panic!("before went wrong")
    }
}

#[tokio::test]
async fn a_panicking_middleware_step_becomes_internal_error_and_is_counted() {
    let metrics = Arc::new(CommandMetrics::new());
    let mut b = Registry::builder();
    b.metrics(Arc::clone(&metrics))
        .middleware(Arc::new(PanicsBefore));
    b.register(CommandDef::new("a.b", "x", |_: Empty, _| async {
        Ok(json!(1))
    }))
    .unwrap();
    let registry = b.build();
    let r = registry
        .execute("a.b", json!({}), ctx().with_trace_id(Some("trace-before")))
        .await;
    let e = r.error.expect("must fail");
    assert_eq!(e.code, ErrorCode::InternalError);
    assert!(e.message.contains("trace-before"), "{}", e.message);
    let summary = metrics.summary();
    assert_eq!(summary.commands.by_name.get("a.b"), Some(&1));
    assert_eq!(summary.errors.by_code.get("INTERNAL_ERROR"), Some(&1));
}

#[tokio::test]
async fn every_call_of_a_known_command_is_counted_once_by_outcome() {
    let f = fixture();
    let input = json!({"text": "x"});
    // A miss that runs the handler, then a hit answered before any future is built.
    for _ in 0..2 {
        assert!(
            f.registry
                .execute("echo.read", input.clone(), ctx())
                .await
                .success
        );
    }
    let failed = f.registry.execute("fail.always", json!({}), ctx()).await;
    assert_eq!(failed.error_code(), Some(ErrorCode::NotFound));
    let unknown = f.registry.execute("echo.raed", json!({}), ctx()).await;
    assert_eq!(unknown.error_code(), Some(ErrorCode::CommandNotFound));

    let summary = f.metrics.summary();
    assert_eq!(summary.commands.by_name.get("echo.read"), Some(&2));
    assert_eq!(summary.commands.by_name.get("fail.always"), Some(&1));
    // Unknown names are not counted: label values stay bounded by the catalogue.
    assert_eq!(summary.commands.total, 3);
    assert_eq!(summary.errors.total, 1);
    assert_eq!(summary.errors.by_code.get("NOT_FOUND"), Some(&1));
}

#[tokio::test]
async fn deadline_turns_into_timeout() {
    let f = fixture();
    let c = ctx().with_deadline(Some(Instant::now() + Duration::from_millis(20)));
    let r = f.registry.execute("slow.sleep", json!({}), c).await;
    let e = r.error.expect("must fail");
    assert_eq!(e.code, ErrorCode::Timeout);
    assert!(e.retryable);
}

#[tokio::test]
async fn reads_are_cached_until_a_mutation_invalidates_them() {
    let f = fixture();
    let input = json!({"text": "x"});
    let first = f.registry.execute("echo.read", input.clone(), ctx()).await;
    let second = f.registry.execute("echo.read", input.clone(), ctx()).await;
    assert_eq!(first.metadata.cache, Some(CacheStatus::Miss));
    assert_eq!(second.metadata.cache, Some(CacheStatus::Hit));
    assert_eq!(first.data, second.data);
    assert_eq!(f.reads.load(Ordering::SeqCst), 1);

    let w = f.registry.execute("echo.write", json!({}), ctx()).await;
    assert!(w.success);
    assert_eq!(w.metadata.revision.as_deref(), Some("7"));
    assert_eq!(w.metadata.cache, Some(CacheStatus::Bypass));

    let third = f.registry.execute("echo.read", input, ctx()).await;
    assert_eq!(third.metadata.cache, Some(CacheStatus::Miss));
    assert_eq!(f.reads.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn handler_errors_keep_code_and_suggestion() {
    let f = fixture();
    let r = f.registry.execute("fail.always", json!({}), ctx()).await;
    assert!(!r.success);
    let e = r.error.unwrap();
    assert_eq!(e.code, ErrorCode::NotFound);
    assert_eq!(e.suggestion.as_deref(), Some("look elsewhere"));
    assert!(!e.retryable);
    assert_eq!(r.data, None);
}

#[tokio::test]
async fn batch_stops_on_error_when_asked() {
    let f = fixture();
    let items = || {
        vec![
            BatchItem {
                command: "echo.read".into(),
                input: json!({"text": "a"}),
            },
            BatchItem {
                command: "fail.always".into(),
                input: json!({}),
            },
            BatchItem {
                command: "echo.read".into(),
                input: json!({"text": "b"}),
            },
        ]
    };
    let stop = f.registry.execute_batch(items(), true, ctx()).await;
    assert!(!stop.success);
    assert_eq!(stop.results.len(), 2);
    assert_eq!(stop.skipped, vec![2]);

    let go_on = f.registry.execute_batch(items(), false, ctx()).await;
    assert!(!go_on.success);
    assert_eq!(go_on.results.len(), 3);
    assert!(go_on.results[2].success);
    assert!(go_on.skipped.is_empty());
    assert_eq!(
        go_on.results[0].metadata.trace_id,
        go_on.results[2].metadata.trace_id
    );
}

#[tokio::test]
async fn describe_exposes_schemas_and_flags() {
    let f = fixture();
    let info = f.registry.describe("echo.write").unwrap();
    assert!(info.mutation);
    assert_eq!(info.invalidates, vec!["echo.read".to_owned()]);
    assert_eq!(info.scopes, vec!["tokens:write".to_owned()]);
    let read = f.registry.describe("echo.read").unwrap();
    assert_eq!(read.input_schema["required"], json!(["text"]));
    assert_eq!(f.registry.list().count(), 5);
}
