//! The CMS on PostgreSQL (`DATABASE_URL`, else the local default), in a schema of its own
//! removed at the end. Without a reachable database the test says SKIPPED and why;
//! `cargo xtask test` then leaves this binary out and counts it as skipped.

mod scenario;

use allframe::auth::JwtKeys;
use allframe_test::{Contract, TestPostgres};

#[tokio::test]
async fn contract_scenario_on_postgres() {
    let Some(storage) =
        TestPostgres::connect("cms_contract_on_postgres", &["events", "names"]).await
    else {
        return;
    };
    let keys = JwtKeys::hs256(&[7; 32])
        .expect("a 32-byte secret")
        .scheme("Token");
    let media = tempfile::tempdir().expect("a temporary directory");
    let app = async {
        cms::app(&storage, keys, media.path())
            .await
            .expect("the CMS opens on PostgreSQL")
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
}
