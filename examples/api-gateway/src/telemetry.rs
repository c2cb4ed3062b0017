//! Logs on stderr, and, when `OTEL_EXPORTER_OTLP_ENDPOINT` is set, spans exported over
//! OTLP/gRPC with W3C trace context carried across the gateway -> inventory hop in gRPC
//! metadata (`traceparent`), so both processes' spans are one trace.

use allframe::http::HeaderMap;
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The exporter, if on: shut it down at exit so the last spans are sent.
#[derive(Debug)]
pub struct Telemetry(Option<SdkTracerProvider>);

impl Telemetry {
    /// Installs the process's subscriber as `service` (the spans' `service.name`).
    pub fn init(service: &'static str) -> Result<Self, Box<dyn std::error::Error>> {
        let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
        let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
        if endpoint.is_empty() {
            tracing_subscriber::registry().with(logs).try_init()?;
            return Ok(Self(None));
        }
        global::set_text_map_propagator(TraceContextPropagator::new());
        // The builder reads the endpoint (and OTEL_EXPORTER_OTLP_TIMEOUT...) itself.
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        let traces = tracing_opentelemetry::layer().with_tracer(provider.tracer(service));
        tracing_subscriber::registry()
            .with(logs)
            .with(traces)
            .try_init()?;
        eprintln!("{service}: spans to {endpoint} over OTLP");
        Ok(Self(Some(provider)))
    }

    /// Sends what is left and stops the exporter (it blocks: run off the async threads).
    pub async fn shutdown(self) {
        if let Some(provider) = self.0 {
            let stopped = tokio::task::spawn_blocking(move || provider.shutdown()).await;
            if let Ok(Err(err)) = stopped {
                eprintln!("the span exporter did not shut down cleanly: {err}");
            }
        }
    }
}

/// Continues the trace of the caller whose context is in `headers` (none: a new trace).
pub fn continue_trace(span: &Span, headers: &HeaderMap) {
    let parent = global::get_text_map_propagator(|p| p.extract(&HeaderExtractor(headers)));
    // Fails only when no OpenTelemetry layer is installed: then there is nothing to join.
    let _ = span.set_parent(parent);
}

/// Writes `span`'s context into `headers` for the next hop.
pub fn propagate(span: &Span, headers: &mut HeaderMap) {
    let context = span.context();
    global::get_text_map_propagator(|p| p.inject_context(&context, &mut HeaderInjector(headers)));
}
