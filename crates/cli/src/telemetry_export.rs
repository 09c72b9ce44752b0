//! OpenTelemetry span export over OTLP/HTTP, compiled in only with the `otel` cargo feature so
//! the default binary carries no OpenTelemetry crates. `start` runs before logging is set up;
//! `layer` is what `serve::init_logging` adds to the subscriber (nothing when export is off).

use tinct_service::Config;
use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

/// Keeps the exporter alive; dropping it flushes the spans still buffered.
pub struct Export {
    #[cfg(feature = "otel")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

/// Starts the exporter when `otlp_endpoint` is set; an error when it is set but this binary
/// cannot export.
pub fn start(config: &Config) -> Result<Export, String> {
    imp::start(config)
}

/// The layer that exports spans, or none when export is off.
pub fn layer<S>() -> Option<impl Layer<S>>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    imp::layer::<S>()
}

#[cfg(not(feature = "otel"))]
mod imp {
    use super::*;

    pub fn start(config: &Config) -> Result<Export, String> {
        match &config.otlp_endpoint {
            Some(_) => Err(
                "otlp_endpoint (TINCT_OTLP_ENDPOINT) is set, but this tinct was built \
                 without OpenTelemetry; rebuild it with `cargo build --release --features otel`, \
                 or unset TINCT_OTLP_ENDPOINT"
                    .to_owned(),
            ),
            None => Ok(Export {}),
        }
    }

    // Generic like the `otel` build's, so callers are the same in both.
    #[allow(clippy::extra_unused_type_parameters)]
    pub fn layer<S>() -> Option<tracing_subscriber::layer::Identity>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        None
    }
}

#[cfg(feature = "otel")]
mod imp {
    use std::sync::OnceLock;

    use opentelemetry::KeyValue;
    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};
    use tracing::Level;
    use tracing_subscriber::filter::Targets;

    use super::*;

    static TRACER: OnceLock<SdkTracer> = OnceLock::new();

    pub fn start(config: &Config) -> Result<Export, String> {
        let Some(endpoint) = &config.otlp_endpoint else {
            return Ok(Export { provider: None });
        };
        let url = traces_url(endpoint)?;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(url.clone())
            .build()
            .map_err(|e| {
                format!(
                    "cannot export spans to {url}: {e}; check otlp_endpoint (TINCT_OTLP_ENDPOINT)"
                )
            })?;
        let resource = Resource::builder()
            .with_service_name("tinct")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .with_attribute(KeyValue::new("service.instance.id", config.instance_name()))
            .build();
        // The batch processor exports on its own thread, with the blocking client (what the
        // exporter recommends for it), so request handling never waits for the collector.
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource)
            .build();
        let _ = TRACER.set(provider.tracer("tinct"));
        Ok(Export {
            provider: Some(provider),
        })
    }

    /// `http://collector:4318` → `http://collector:4318/v1/traces`; a URL that already names
    /// the traces path is kept.
    pub(super) fn traces_url(endpoint: &str) -> Result<String, String> {
        let endpoint = endpoint.trim().trim_end_matches('/');
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(format!(
                "otlp_endpoint '{endpoint}' is not an http(s) URL; set TINCT_OTLP_ENDPOINT to the \
                 collector's OTLP/HTTP address, e.g. http://otel-collector:4318"
            ));
        }
        Ok(if endpoint.ends_with("/v1/traces") {
            endpoint.to_owned()
        } else {
            format!("{endpoint}/v1/traces")
        })
    }

    pub fn layer<S>() -> Option<impl Layer<S>>
    where
        S: Subscriber + for<'span> LookupSpan<'span>,
    {
        let tracer = TRACER.get()?.clone();
        // Its own filter, independent of the log filter: the per-request spans are at debug
        // level so they stay out of the logs, but they are what a trace is made of.
        let spans = Targets::new()
            .with_target("tinct_surfaces", Level::DEBUG)
            .with_target("tower_http", Level::DEBUG)
            .with_default(Level::INFO);
        Some(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_filter(spans),
        )
    }

    impl Drop for Export {
        fn drop(&mut self) {
            if let Some(provider) = self.provider.take()
                && let Err(e) = provider.shutdown()
            {
                eprintln!("warning: could not flush the last spans to the OTLP collector: {e}");
            }
        }
    }

    #[cfg(test)]
    mod tests {
        use super::traces_url;

        #[test]
        fn the_traces_path_is_added_once() {
            assert_eq!(
                traces_url("http://c:4318/").unwrap(),
                "http://c:4318/v1/traces"
            );
            assert_eq!(
                traces_url("http://c:4318/v1/traces").unwrap(),
                "http://c:4318/v1/traces"
            );
            assert!(traces_url("c:4318").unwrap_err().contains("http(s) URL"));
        }
    }
}
