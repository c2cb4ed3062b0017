//! The bank on PostgreSQL (`DATABASE_URL`, else the local default), in schemas of its own
//! removed at the end: the contract scenario and 200 concurrent transfers. Without a
//! reachable database each test says SKIPPED and why; `cargo xtask test` then leaves this
//! binary out and counts it as skipped.

mod races;
mod scenario;

use allframe_test::{Contract, TestPostgres, TestServer};
use banking_system::transfer::Rules;

const STORES: &[&str] = &["events", "sagas"];

#[tokio::test]
async fn contract_scenario_on_postgres() {
    let Some(storage) = TestPostgres::connect("contract_scenario_on_postgres", STORES).await else {
        return;
    };
    let app = async {
        banking_system::app(&storage, Rules::default())
            .await
            .expect("the bank opens on PostgreSQL")
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
}

/// On a database shared by every writer, optimistic concurrency is the database's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_concurrent_transfers_on_postgres_conserve_the_money() {
    let Some(storage) = TestPostgres::connect("transfers_on_postgres", STORES).await else {
        return;
    };
    let app = banking_system::app(&storage, Rules::default())
        .await
        .expect("the bank opens");
    let server = TestServer::start(app).await;
    races::two_hundred_transfers(server.addr()).await;
}
