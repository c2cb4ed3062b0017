//! The database side of the tests: a pool, one prepared statement per query, and the cache of
//! worlds.

use std::sync::Arc;
use std::time::Duration;

use quick_cache::sync::Cache;
use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::model::{Fortune, World};

/// Rows of `world`; ids are 1..=WORLD_ROWS.
const WORLD_ROWS: i32 = 10_000;

/// Pool size when `TFB_POOL_SIZE` is unset: enough connections to keep a server pinned to one
/// core busy while others wait on PostgreSQL.
const DEFAULT_POOL_SIZE: u32 = 16;

const SELECT_WORLD: &str = "SELECT id, randomnumber FROM world WHERE id = $1";

/// `DATABASE_URL`, when set: the servers add the database routes only then.
pub fn database_url() -> Option<String> {
    std::env::var("DATABASE_URL").ok()
}

/// The database at `DATABASE_URL`, connected and its worlds cached; `None` when it is unset.
/// A server told to use a database it cannot reach must not run without it: this exits with
/// the reason.
pub async fn db_from_env() -> Option<Db> {
    let url = database_url()?;
    match Db::connect(&url).await {
        Ok(db) => Some(db),
        Err(err) => {
            eprintln!(
                "cannot use the database at DATABASE_URL={url}: {err}\n\
                 (is PostgreSQL running, and was benches/techempower/hello_world.sql loaded into it?)"
            );
            std::process::exit(1);
        }
    }
}

/// The pool and the cache of worlds; cheap to clone.
///
/// Every query is a `&'static str` run through sqlx's statement cache, so each connection
/// prepares it once and then only binds and executes.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
    cache: Arc<Cache<i32, World>>,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("pool", &self.pool)
            .field("cached_worlds", &self.cache.len())
            .finish()
    }
}

impl Db {
    /// Connects (`TFB_POOL_SIZE` connections at most, default 16) and preloads the cache with
    /// every row of `world`. Fails when the database cannot be reached within a few seconds
    /// or has no `world` table.
    pub async fn connect(url: &str) -> sqlx::Result<Self> {
        let pool_size = std::env::var("TFB_POOL_SIZE")
            .ok()
            .and_then(|size| size.parse().ok())
            .unwrap_or(DEFAULT_POOL_SIZE);
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .acquire_timeout(Duration::from_secs(5))
            .connect(url)
            .await?;
        // Room beyond the row count: the cache's shards are equal in size and the ids do not
        // spread over them evenly, so an exact fit would evict some worlds.
        let cache = Cache::new(WORLD_ROWS as usize * 5 / 4);
        let worlds: Vec<World> = sqlx::query_as("SELECT id, randomnumber FROM world")
            .fetch_all(&pool)
            .await?;
        for world in worlds {
            cache.insert(world.id, world);
        }
        Ok(Self {
            pool,
            cache: Arc::new(cache),
        })
    }

    /// One random world (the single-query test).
    pub async fn random_world(&self) -> sqlx::Result<World> {
        sqlx::query_as(SELECT_WORLD)
            .bind(one_to_10000())
            .fetch_one(&self.pool)
            .await
    }

    /// `count` random worlds, each read by its own query on one connection.
    pub async fn random_worlds(&self, count: usize) -> sqlx::Result<Vec<World>> {
        let mut conn = self.pool.acquire().await?;
        let mut worlds = Vec::with_capacity(count);
        for _ in 0..count {
            let world = sqlx::query_as(SELECT_WORLD)
                .bind(one_to_10000())
                .fetch_one(&mut *conn)
                .await?;
            worlds.push(world);
        }
        Ok(worlds)
    }

    /// `count` random worlds given new random numbers, written back with one bulk `UPDATE`
    /// before returning. The worlds come back sorted by id, the order the rows are written in
    /// so that concurrent updates do not deadlock; a world drawn twice gets one new number.
    pub async fn update_worlds(&self, count: usize) -> sqlx::Result<Vec<World>> {
        let mut worlds = self.random_worlds(count).await?;
        worlds.sort_unstable_by_key(|world| world.id);
        let mut previous: Option<World> = None;
        for world in &mut worlds {
            world.random_number = match previous {
                Some(previous) if previous.id == world.id => previous.random_number,
                _ => one_to_10000(),
            };
            previous = Some(*world);
        }
        let ids: Vec<i32> = worlds.iter().map(|world| world.id).collect();
        let numbers: Vec<i32> = worlds.iter().map(|world| world.random_number).collect();
        sqlx::query(
            "UPDATE world SET randomnumber = new.randomnumber \
             FROM (SELECT unnest($1::int[]) AS id, unnest($2::int[]) AS randomnumber) AS new \
             WHERE world.id = new.id",
        )
        .bind(ids)
        .bind(numbers)
        .execute(&self.pool)
        .await?;
        Ok(worlds)
    }

    /// Every row of `fortune`, in table order.
    pub async fn fortunes(&self) -> sqlx::Result<Vec<Fortune>> {
        sqlx::query_as("SELECT id, message FROM fortune")
            .fetch_all(&self.pool)
            .await
    }

    /// `count` random worlds from the cache; a world the cache lost is read again and kept.
    pub async fn cached_worlds(&self, count: usize) -> sqlx::Result<Vec<World>> {
        let mut worlds = Vec::with_capacity(count);
        for _ in 0..count {
            let id = one_to_10000();
            let world = self
                .cache
                .get_or_insert_async(&id, async {
                    sqlx::query_as(SELECT_WORLD)
                        .bind(id)
                        .fetch_one(&self.pool)
                        .await
                })
                .await?;
            worlds.push(world);
        }
        Ok(worlds)
    }

    /// How many worlds the cache holds.
    pub fn cached_len(&self) -> usize {
        self.cache.len()
    }
}

/// A random id of `world`, or a new random number for one: both are 1..=10000.
fn one_to_10000() -> i32 {
    fastrand::i32(1..=WORLD_ROWS)
}
