//! The shop on PostgreSQL (`DATABASE_URL`, else the local default), in schemas of its own
//! removed at the end: the contract scenario and the races. Without a reachable database
//! each test says SKIPPED and why; `cargo xtask test` then leaves this binary out and
//! counts it as skipped.

mod races;
mod scenario;

use allframe_test::{Contract, TestPostgres, TestServer};

const STORES: &[&str] = &["events", "sagas"];

#[tokio::test]
async fn contract_scenario_on_postgres() {
    let Some(storage) = TestPostgres::connect("contract_scenario_on_postgres", STORES).await else {
        return;
    };
    let app = async {
        ecommerce_api::app(&storage)
            .await
            .expect("the shop opens on PostgreSQL")
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
}

#[tokio::test]
async fn of_two_concurrent_checkouts_on_postgres_one_wins() {
    let Some(storage) = TestPostgres::connect("concurrent_checkouts_on_postgres", STORES).await
    else {
        return;
    };
    let app = ecommerce_api::app(&storage).await.expect("the shop opens");
    let server = TestServer::start(app).await;
    races::concurrent_checkouts(server.addr()).await;
}
