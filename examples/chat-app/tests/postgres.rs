//! The chat on PostgreSQL (`DATABASE_URL`, else the local default), in a schema of its own
//! removed at the end. Without a reachable database the test says SKIPPED and why;
//! `cargo xtask test` then counts it as skipped.

mod scenario;

use allframe::auth::JwtKeys;
use allframe_test::{Contract, TestPostgres};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contract_scenario_on_postgres() {
    let Some(storage) = TestPostgres::connect("chat_contract_on_postgres", &["events"]).await
    else {
        return;
    };
    let keys = JwtKeys::hs256(&[7; 32]).expect("a 32-byte secret");
    let app = async {
        chat_app::app(&storage, keys, chat_app::Limits::default())
            .await
            .expect("the chat opens on PostgreSQL")
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
}
