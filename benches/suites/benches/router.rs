//! Routing over a realistic table: 40 routes of a shop's REST API (static paths, path
//! parameters, a wildcard, several methods per path), each request matched and its handler
//! run to a response, without a socket.

use std::hint::black_box;

use allframe::http::Method;
use allframe::routing::{get, post};
use allframe::{Body, Path, Request, Router, RouterService};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

async fn ok() -> &'static str {
    "ok"
}

async fn by_id(Path(id): Path<u64>) -> String {
    id.to_string()
}

async fn nested(Path((order, line)): Path<(u64, u32)>) -> String {
    format!("{order}/{line}")
}

/// The route table: what a mid-sized service looks like.
fn shop() -> RouterService<()> {
    let mut router = Router::new();
    for resource in [
        "products",
        "orders",
        "customers",
        "carts",
        "invoices",
        "reviews",
    ] {
        router = router
            .route(&format!("/api/v1/{resource}"), get(ok).post(ok))
            .route(
                &format!("/api/v1/{resource}/{{id}}"),
                get(by_id).put(by_id).delete(by_id),
            )
            .route(&format!("/api/v1/{resource}/{{id}}/history"), get(by_id))
            .route(&format!("/api/v1/{resource}/search"), post(ok))
            .route(&format!("/api/v2/{resource}/{{id}}"), get(by_id));
    }
    router = router
        .route("/api/v1/orders/{order}/lines/{line}", get(nested))
        .route("/health", get(ok))
        .route("/ready", get(ok))
        .route("/metrics", get(ok))
        .route("/static/{*path}", get(ok))
        .route("/", get(ok))
        .route("/login", post(ok))
        .route("/logout", post(ok))
        .route("/openapi.json", get(ok))
        .route("/docs", get(ok));
    router.with_state(())
}

fn request(method: Method, path: &str) -> Request {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("a request")
}

fn router(c: &mut Criterion) {
    let runtime = allframe_benches::runtime();
    let service = shop();
    let mut group = c.benchmark_group("router");
    group.throughput(Throughput::Elements(1));
    for (id, method, path) in [
        ("static", Method::GET, "/health"),
        ("param", Method::GET, "/api/v1/reviews/12345"),
        ("two_params", Method::GET, "/api/v1/orders/42/lines/7"),
        ("wildcard", Method::GET, "/static/css/site/main.css"),
        ("not_found", Method::GET, "/api/v3/nothing"),
        ("method_not_allowed", Method::PATCH, "/api/v1/products"),
    ] {
        group.bench_function(id, |b| {
            b.to_async(&runtime).iter(|| {
                let response = service.handle(request(method.clone(), path));
                async { black_box(response.await) }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, router);
criterion_main!(benches);
