use allframe_core::di::Inject;
use allframe_core::routing::get;
use allframe_core::{Router, provide};

#[derive(Clone)]
struct Database;
#[derive(Clone)]
struct Mailer;

#[derive(Clone)]
struct AppState {
    db: Database,
}

provide!(AppState { db: Database });

async fn signup(Inject(_db): Inject<Database>, Inject(_mailer): Inject<Mailer>) -> &'static str {
    "welcome"
}

fn main() {
    let _app = Router::new().route("/signup", get(signup)).with_state(AppState { db: Database });
}
