//! The in-memory backend passes the conformance suite.

use allframe_cqrs::{InMemoryBackend, conformance};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_memory_backend_conforms() {
    conformance::run(|| async { InMemoryBackend::new() }).await;
}

mod broken {
    //! A backend that forgets optimistic concurrency: the suite must catch it.

    use allframe_cqrs::conformance::TestEvent;
    use allframe_cqrs::{
        Appended, Backend, BackendStats, Envelope, ExpectedVersion, InMemoryBackend, NewEvent,
        RawEvent, Snapshot, StoreError,
    };

    #[derive(Default)]
    pub(crate) struct IgnoresExpectedVersion(InMemoryBackend<TestEvent>);

    impl Backend<TestEvent> for IgnoresExpectedVersion {
        async fn append(
            &self,
            stream: &str,
            _: ExpectedVersion,
            events: Vec<NewEvent<TestEvent>>,
        ) -> Result<Appended, StoreError> {
            self.0.append(stream, ExpectedVersion::Any, events).await
        }
        async fn append_raw(
            &self,
            stream: &str,
            _: ExpectedVersion,
            events: Vec<RawEvent>,
        ) -> Result<Appended, StoreError> {
            self.0
                .append_raw(stream, ExpectedVersion::Any, events)
                .await
        }
        async fn read_stream(
            &self,
            s: &str,
            v: u64,
        ) -> Result<Vec<Envelope<TestEvent>>, StoreError> {
            self.0.read_stream(s, v).await
        }
        async fn read_all(&self, p: u64, l: usize) -> Result<Vec<Envelope<TestEvent>>, StoreError> {
            self.0.read_all(p, l).await
        }
        async fn save_snapshot(&self, s: &str, snapshot: Snapshot) -> Result<(), StoreError> {
            self.0.save_snapshot(s, snapshot).await
        }
        async fn load_snapshot(&self, s: &str) -> Result<Option<Snapshot>, StoreError> {
            self.0.load_snapshot(s).await
        }
        async fn flush(&self) -> Result<(), StoreError> {
            self.0.flush().await
        }
        async fn stats(&self) -> Result<BackendStats, StoreError> {
            self.0.stats().await
        }
    }
}

#[tokio::test]
async fn the_suite_fails_a_backend_without_optimistic_concurrency() {
    let run = tokio::spawn(conformance::expected_versions_guard_every_append(
        broken::IgnoresExpectedVersion::default(),
    ));
    let err = run.await.expect_err("the suite must fail this backend");
    assert!(err.is_panic());
}
