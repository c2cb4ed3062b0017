//! Where an application keeps its events, chosen when it starts rather than when it is
//! written: memory, a data directory, or PostgreSQL, behind one backend type, so the same
//! code runs on a laptop, on one server and on several servers sharing a database.

use std::fmt;
#[cfg(feature = "wal")]
use std::path::PathBuf;
use std::time::Duration;

use crate::backend::{
    Appended, Backend, BackendStats, ExpectedVersion, Snapshot, StoreError, Wakeup,
};
use crate::event::{Envelope, Event, NewEvent};
use crate::memory::InMemoryBackend;
use crate::store::EventStore;
use crate::upcast::RawEvent;

/// The backend [`Storage::open`] picked: whichever the storage names, one type for all.
///
/// Non-exhaustive because its variants follow the crate's features.
#[derive(Debug)]
#[non_exhaustive]
pub enum AnyBackend<E> {
    /// [`InMemoryBackend`].
    Memory(InMemoryBackend<E>),
    /// [`crate::WalBackend`].
    #[cfg(feature = "wal")]
    Wal(crate::WalBackend<E>),
    /// [`crate::PostgresBackend`].
    #[cfg(feature = "postgres")]
    Postgres(crate::PostgresBackend<E>),
}

/// Calls `$call` on whichever backend `$self` holds.
macro_rules! each_backend {
    ($self:ident, $backend:ident => $call:expr) => {
        match $self {
            AnyBackend::Memory($backend) => $call,
            #[cfg(feature = "wal")]
            AnyBackend::Wal($backend) => $call,
            #[cfg(feature = "postgres")]
            AnyBackend::Postgres($backend) => $call,
        }
    };
}

impl<E: Event> Backend<E> for AnyBackend<E> {
    async fn append(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<NewEvent<E>>,
    ) -> Result<Appended, StoreError> {
        each_backend!(self, b => b.append(stream, expected, events).await)
    }

    async fn append_raw(
        &self,
        stream: &str,
        expected: ExpectedVersion,
        events: Vec<RawEvent>,
    ) -> Result<Appended, StoreError> {
        each_backend!(self, b => b.append_raw(stream, expected, events).await)
    }

    async fn read_stream(
        &self,
        stream: &str,
        after_version: u64,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        each_backend!(self, b => b.read_stream(stream, after_version).await)
    }

    async fn read_all(
        &self,
        after_position: u64,
        limit: usize,
    ) -> Result<Vec<Envelope<E>>, StoreError> {
        each_backend!(self, b => b.read_all(after_position, limit).await)
    }

    async fn save_snapshot(&self, stream: &str, snapshot: Snapshot) -> Result<(), StoreError> {
        each_backend!(self, b => b.save_snapshot(stream, snapshot).await)
    }

    async fn load_snapshot(&self, stream: &str) -> Result<Option<Snapshot>, StoreError> {
        each_backend!(self, b => b.load_snapshot(stream).await)
    }

    async fn flush(&self) -> Result<(), StoreError> {
        each_backend!(self, b => b.flush().await)
    }

    async fn stats(&self) -> Result<BackendStats, StoreError> {
        each_backend!(self, b => b.stats().await)
    }

    fn poll_interval(&self) -> Option<Duration> {
        each_backend!(self, b => Backend::<E>::poll_interval(b))
    }

    fn appended_elsewhere(&self) -> Wakeup {
        each_backend!(self, b => Backend::<E>::appended_elsewhere(b))
    }
}

/// Where an application's event stores live. An application opens each of its stores by
/// name (`"orders"`, `"sagas"`): a subdirectory of the data directory, or a schema of the
/// database named `<prefix>_<name>`.
///
/// ```
/// use allframe_cqrs::{SagaEvent, Storage};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let storage = Storage::Memory; // or Storage::from_env("shop")?
/// let sagas = storage.open::<SagaEvent>("sagas").await?;
/// assert_eq!(sagas.stats().await?.events, 0);
/// # Ok::<(), allframe_cqrs::StoreError>(()) }).unwrap();
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Storage {
    /// In memory: gone when the process ends.
    Memory,
    /// Durable files ([`crate::WalBackend`]) under this directory.
    #[cfg(feature = "wal")]
    Directory(PathBuf),
    /// PostgreSQL ([`crate::PostgresBackend`]), shared by every process given the same URL.
    #[cfg(feature = "postgres")]
    Postgres {
        /// The connection URL.
        url: String,
        /// Each store's schema is `<schema_prefix>_<name>`.
        schema_prefix: String,
    },
}

impl Storage {
    /// The storage the environment names for application `app` (`shop`, `my-shop`):
    /// PostgreSQL when `DATABASE_URL` is set (schemas prefixed with `ALLFRAME_SCHEMA_PREFIX`,
    /// else with `app`, `-` written `_`: two deployments share a database under two
    /// prefixes), else the directory `ALLFRAME_DATA`, else `./<app>-data`. Without the
    /// `wal` feature, memory stands in for the directory.
    /// `DATABASE_URL` set in a build without the `postgres` feature is an error, not
    /// silently ignored.
    pub fn from_env(app: &str) -> Result<Self, StoreError> {
        let database_url = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty());
        if let Some(url) = database_url {
            #[cfg(feature = "postgres")]
            return Ok(Self::Postgres {
                url,
                schema_prefix: std::env::var("ALLFRAME_SCHEMA_PREFIX")
                    .ok()
                    .filter(|p| !p.is_empty())
                    .unwrap_or_else(|| app.replace('-', "_")),
            });
            #[cfg(not(feature = "postgres"))]
            return Err(StoreError::Backend(format!(
                "DATABASE_URL is set ({}), but this build has no PostgreSQL backend: \
                 enable the `cqrs-postgres` feature or unset DATABASE_URL",
                redact(&url)
            )));
        }
        #[cfg(feature = "wal")]
        {
            let dir = std::env::var_os("ALLFRAME_DATA")
                .filter(|d| !d.is_empty())
                .map_or_else(|| PathBuf::from(format!("{app}-data")), PathBuf::from);
            Ok(Self::Directory(dir))
        }
        #[cfg(not(feature = "wal"))]
        {
            let _ = app;
            Ok(Self::Memory)
        }
    }

    /// Opens (creating if needed) the store called `name`, a plain name: lowercase ASCII
    /// letters, digits and `_`.
    pub async fn open<E: Event>(
        &self,
        name: &str,
    ) -> Result<EventStore<E, AnyBackend<E>>, StoreError> {
        check_name(name)?;
        let backend = match self {
            Self::Memory => AnyBackend::Memory(InMemoryBackend::new()),
            #[cfg(feature = "wal")]
            Self::Directory(dir) => AnyBackend::Wal(crate::WalBackend::open(dir.join(name))?),
            #[cfg(feature = "postgres")]
            Self::Postgres { url, schema_prefix } => AnyBackend::Postgres(
                crate::PostgresBackend::connect_in_schema(url, &format!("{schema_prefix}_{name}"))
                    .await?,
            ),
        };
        Ok(EventStore::with_backend(backend))
    }

    /// Deletes the store called `name` and every event in it (a tenant removed, a test's
    /// data); a store that does not exist is no error.
    pub async fn remove(&self, name: &str) -> Result<(), StoreError> {
        check_name(name)?;
        match self {
            Self::Memory => Ok(()),
            #[cfg(feature = "wal")]
            Self::Directory(dir) => match std::fs::remove_dir_all(dir.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Backend(
                    format!("removing {}: {e}", dir.join(name).display()),
                )),
                _ => Ok(()),
            },
            #[cfg(feature = "postgres")]
            Self::Postgres { url, schema_prefix } => {
                crate::postgres::drop_schema(url, &format!("{schema_prefix}_{name}")).await
            }
        }
    }
}

/// A store's name: lowercase ASCII letters, digits and `_`.
fn check_name(name: &str) -> Result<(), StoreError> {
    let plain = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !plain {
        return Err(StoreError::Backend(format!(
            "`{name}` is not a plain store name (lowercase letters, digits, `_`)"
        )));
    }
    Ok(())
}

impl fmt::Display for Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("memory (nothing kept after exit)"),
            #[cfg(feature = "wal")]
            Self::Directory(dir) => write!(f, "files in {}", dir.display()),
            #[cfg(feature = "postgres")]
            Self::Postgres { url, schema_prefix } => {
                write!(
                    f,
                    "PostgreSQL at {} (schemas {schema_prefix}_*)",
                    redact(url)
                )
            }
        }
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            let user = credentials.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_password_in_messages() {
        assert_eq!(
            redact("postgres://ann:secret@db:5432/app"),
            "postgres://ann:***@db:5432/app"
        );
        assert_eq!(redact("postgres://db/app"), "postgres://db/app");
    }

    #[cfg(feature = "wal")]
    #[tokio::test]
    async fn a_removed_store_opens_empty_and_removing_one_that_is_gone_is_fine() {
        use crate::{ExpectedVersion, NewEvent, SagaEvent};
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::Directory(dir.path().to_owned());
        let store = storage.open::<SagaEvent>("sagas").await.unwrap();
        let event = NewEvent::new(SagaEvent::Completed);
        store
            .append("s", ExpectedVersion::Any, vec![event])
            .await
            .unwrap();
        drop(store);
        storage.remove("sagas").await.unwrap();
        let reopened = storage.open::<SagaEvent>("sagas").await.unwrap();
        assert_eq!(reopened.stats().await.unwrap().events, 0);
        drop(reopened);
        storage.remove("sagas").await.unwrap();
        storage.remove("never_opened").await.unwrap();
        assert!(storage.remove("../up").await.is_err(), "names stay plain");
    }

    #[tokio::test]
    async fn store_names_must_be_plain() {
        let err = Storage::Memory
            .open::<crate::SagaEvent>("Orders/..")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("not a plain store name"), "{err}");
    }
}
