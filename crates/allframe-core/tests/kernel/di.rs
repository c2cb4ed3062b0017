use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use allframe_core::di::{Inject, Provide};
use allframe_core::routing::get;
use allframe_core::{Router, provide};
use allframe_test::TestServer;

#[derive(Clone)]
struct Greeter {
    greeting: &'static str,
}

#[derive(Clone, Default)]
struct Visits(Arc<AtomicU64>);

#[derive(Clone)]
struct AppState {
    greeter: Greeter,
    visits: Visits,
}

provide!(AppState {
    greeter: Greeter,
    visits: Visits
});

/// A provider computed from other providers, written by hand.
struct Banner(String);

impl Provide<Banner> for AppState {
    fn provide(&self) -> Banner {
        Banner(format!("{}!", self.greeter.greeting))
    }
}

async fn greet(Inject(greeter): Inject<Greeter>, Inject(visits): Inject<Visits>) -> String {
    let n = visits.0.fetch_add(1, Ordering::SeqCst) + 1;
    format!("{} #{n}", greeter.greeting)
}

async fn banner(Inject(Banner(text)): Inject<Banner>) -> String {
    text
}

#[tokio::test]
async fn handlers_receive_injected_dependencies() {
    let state = AppState {
        greeter: Greeter { greeting: "hello" },
        visits: Visits::default(),
    };
    let app = Router::new()
        .route("/", get(greet))
        .route("/banner", get(banner))
        .with_state(state);
    let server = TestServer::start(app).await;
    assert_eq!(server.get("/").await.text(), "hello #1");
    assert_eq!(server.get("/").await.text(), "hello #2");
    assert_eq!(server.get("/banner").await.text(), "hello!");
}
