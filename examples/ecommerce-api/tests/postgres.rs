//! The contract scenario on PostgreSQL (`DATABASE_URL`, else the local default), in schemas
//! of its own dropped at the end. Without a reachable database the test says SKIPPED and
//! why; `cargo xtask test` then leaves this binary out and counts it as skipped.

mod scenario;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use allframe::cqrs::Storage;
use allframe_test::Contract;
use sqlx::{Connection, Executor, PgConnection};

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

#[tokio::test]
async fn contract_scenario_on_postgres() {
    let url = std::env::var("DATABASE_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| DEFAULT_URL.to_owned());
    let connected = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&url)).await;
    let mut admin = match connected {
        Ok(Ok(connection)) => connection,
        Ok(Err(e)) => {
            return eprintln!(
                "SKIPPED: contract_scenario_on_postgres: no PostgreSQL at {url}: {e}"
            );
        }
        Err(_) => {
            return eprintln!(
                "SKIPPED: contract_scenario_on_postgres: PostgreSQL at {url} did not answer in 5 s"
            );
        }
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("ecommerce_test_{}_{nanos}", std::process::id());
    let storage = Storage::Postgres {
        url,
        schema_prefix: prefix.clone(),
    };
    let app = async {
        ecommerce_api::app(&storage)
            .await
            .expect("the shop opens on PostgreSQL")
    };
    let mut contract = Contract::start(app).await;
    scenario::run(&mut contract).await;
    drop(contract);
    for store in ["events", "sagas"] {
        admin
            .execute(format!("drop schema if exists {prefix}_{store} cascade").as_str())
            .await
            .unwrap();
    }
}
