//! With the `postgres` feature: an application's storage in PostgreSQL (`DATABASE_URL`,
//! else the local default) under schemas of its own, removed when the test ends.

use std::ops::Deref;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use allframe_cqrs::Storage;

/// The database tests use when `DATABASE_URL` is not set.
pub const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// A PostgreSQL [`Storage`] whose stores are this test's alone and are removed when it is
/// dropped, even after a failed assertion.
#[derive(Debug)]
pub struct TestPostgres {
    storage: Storage,
    stores: Vec<String>,
}

impl TestPostgres {
    /// Storage for test `test` whose stores are called `stores`; `None`, having printed
    /// `SKIPPED` and why, when no database answers within 5 s.
    pub async fn connect(test: &str, stores: &[&str]) -> Option<Self> {
        let url = std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned());
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let storage = Storage::Postgres {
            url,
            schema_prefix: format!("t{}_{nanos}", std::process::id()),
        };
        // Opening a store is the check that the database answers.
        let probe = storage.open::<allframe_cqrs::SagaEvent>("probe");
        match tokio::time::timeout(Duration::from_secs(5), probe).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                eprintln!("SKIPPED: {test}: {storage} does not answer: {e}");
                return None;
            }
            Err(_) => {
                eprintln!("SKIPPED: {test}: {storage} did not answer within 5 s");
                return None;
            }
        }
        let mut stores: Vec<String> = stores.iter().map(|s| (*s).to_owned()).collect();
        stores.push("probe".to_owned());
        Some(Self { storage, stores })
    }
}

impl Deref for TestPostgres {
    type Target = Storage;

    fn deref(&self) -> &Storage {
        &self.storage
    }
}

/// `Drop` cannot await, and the test's runtime may be the one unwinding: the stores are
/// removed on a thread with a runtime of its own.
impl Drop for TestPostgres {
    fn drop(&mut self) {
        let storage = self.storage.clone();
        let stores = std::mem::take(&mut self.stores);
        let removed = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                for store in &stores {
                    storage.remove(store).await?;
                }
                Ok::<_, allframe_cqrs::StoreError>(())
            })
        });
        match removed.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("could not remove the test's stores: {e}"),
            Err(_) => eprintln!("could not remove the test's stores: the cleanup panicked"),
        }
    }
}
