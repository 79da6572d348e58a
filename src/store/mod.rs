//! Durable state behind narrow traits ([`UserStore`], [`SessionStore`]), with one SQL
//! implementation that runs on the embedded SQLite file (the zero-set-up default, WAL journal)
//! and on PostgreSQL (`[storage] url = "postgres://..."`) for several instances. Migrations are
//! embedded in the binary and applied at start. No check talks to the database driver directly.

mod alerts;
mod api_keys;
mod attempts;
mod audit;
mod bans;
mod mfa;
mod postgres_audit;
mod sessions;
mod sla;
mod sqlite_audit;
mod tokens;
mod users;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor, SqlStr};

pub use alerts::{AlertRecord, AlertStore};
pub use api_keys::{ApiKey, ApiKeyStore};
pub use attempts::{AttemptStore, Failures};
pub use audit::{
    AuditFilter, AuditHead, AuditRecord, AuditStore, Checkpoint, Durable, RecordView, Seal,
    SealedBatch, Visit,
};
pub use bans::{BanRecord, BanStore};
pub use mfa::{MfaStore, TotpRecord};
pub use sessions::{Session, SessionStore};
pub use sla::{RouteMinute, SlaStore};
pub use tokens::{RefreshToken, RefreshTokenStore, RefreshUse, SigningKey, SigningKeyStore};
pub use users::{NewUser, User, UserStore};

/// Why the store failed; callers map it to a 5xx without showing the cause to clients.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("`{0}` is not a supported store URL; use sqlite://PATH or postgres://USER@HOST/DB")]
    UnsupportedUrl(String),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("making the write durable failed: {0}")]
    Flush(String),
    #[error("the database task stopped: {0}")]
    Stopped(String),
    #[error("applying migrations failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("{0} already exists")]
    Conflict(String),
    #[error("{0} not found")]
    NotFound(String),
}

/// Schema changes, oldest first, embedded so the binary carries its own schema.
const MIGRATIONS: [(i64, &str, &str); 10] = [
    (
        1,
        "identity",
        include_str!("../../migrations/0001_identity.sql"),
    ),
    (
        2,
        "tokens",
        include_str!("../../migrations/0002_tokens.sql"),
    ),
    (
        3,
        "login attempts",
        include_str!("../../migrations/0003_login_attempts.sql"),
    ),
    (4, "mfa", include_str!("../../migrations/0004_mfa.sql")),
    (
        5,
        "api keys",
        include_str!("../../migrations/0005_api_keys.sql"),
    ),
    (
        6,
        "session nudge",
        include_str!("../../migrations/0006_session_nudge.sql"),
    ),
    (7, "bans", include_str!("../../migrations/0007_bans.sql")),
    (8, "audit", include_str!("../../migrations/0008_audit.sql")),
    (
        9,
        "alerts",
        include_str!("../../migrations/0009_alerts.sql"),
    ),
    (10, "sla", include_str!("../../migrations/0010_sla.sql")),
];

/// The SQL store: SQLite or PostgreSQL, chosen by URL.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// The database file, for SQLite.
    file: Option<std::path::PathBuf>,
    /// The audit log's own connections, for SQLite.
    sqlite_audit: Option<std::sync::Arc<sqlite_audit::SqliteAudit>>,
    /// A native pool for reading the audit log in place, for PostgreSQL: the `Any` driver
    /// copies every value of every row, which made verification four times slower. Opened on
    /// first use.
    postgres_reader: Option<sqlx::PgPool>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Store {
    /// Connects (creating an SQLite file and its directory when needed) and applies pending
    /// migrations.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let mut database_file = None;
        let (backend, url) = if let Some(path) = url.strip_prefix("sqlite://") {
            let file = path.split('?').next().unwrap_or(path);
            database_file = Some(std::path::PathBuf::from(file));
            if let Some(dir) = Path::new(file)
                .parent()
                .filter(|d| !d.as_os_str().is_empty())
            {
                std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            let url = if path.contains('?') {
                url.to_owned()
            } else {
                format!("{url}?mode=rwc")
            };
            (Backend::Sqlite, url)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            (Backend::Postgres, url.to_owned())
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        let options = AnyConnectOptions::from_str(&url)?;
        let pool = AnyPoolOptions::new()
            // SQLite serialises writers anyway; a few connections serve concurrent readers.
            .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
            .acquire_timeout(Duration::from_secs(5))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // WAL: readers never block the writer. synchronous=FULL: a
                        // committed write survives a crash or power loss. busy_timeout: wait
                        // for the writer lock instead of failing.
                        conn.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;")
                            .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let migrations = MIGRATIONS
            .iter()
            .map(|(version, name, sql)| {
                Migration::new(
                    *version,
                    (*name).into(),
                    MigrationType::Simple,
                    SqlStr::from_static(sql),
                    false,
                )
            })
            .collect();
        Migrator::with_migrations(migrations).run(&pool).await?;
        let sqlite_audit = match &database_file {
            Some(file) => Some(std::sync::Arc::new(sqlite_audit::SqliteAudit::open(file)?)),
            None => None,
        };
        let postgres_reader = match backend {
            Backend::Postgres => Some(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(5))
                    .connect_lazy(&url)?,
            ),
            Backend::Sqlite => None,
        };
        Ok(Self {
            pool,
            backend,
            file: database_file,
            sqlite_audit,
            postgres_reader,
        })
    }

    /// Connections the pool holds, and how many of them are idle.
    pub fn pool_connections(&self) -> (usize, usize) {
        (self.pool.size() as usize, self.pool.num_idle())
    }

    /// Bytes of the SQLite database and its write-ahead log; 0 for PostgreSQL.
    pub fn file_bytes(&self) -> u64 {
        let Some(file) = &self.file else {
            return 0;
        };
        let size = |path: &Path| std::fs::metadata(path).map_or(0, |m| m.len());
        let mut wal = file.clone().into_os_string();
        wal.push("-wal");
        size(file) + size(Path::new(&wal))
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The default store for a data directory: `DATA_DIR/rampart.db`.
    pub fn default_url(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("rampart.db").display())
    }
}

/// Current Unix time in seconds; stores take times as arguments so tests can pass any clock.
pub fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Current Unix time in milliseconds, for records ordered within a second (audit, bans).
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Maps a unique-constraint violation to [`StoreError::Conflict`].
fn conflict(err: sqlx::Error, what: impl FnOnce() -> String) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what()),
        _ => StoreError::Database(err),
    }
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::Store;

    /// The user most store tests need: `ana`, created at time 0.
    pub(crate) async fn ana(store: &Store) -> crate::store::User {
        use crate::store::{NewUser, UserStore};
        let user = NewUser {
            username: "ana",
            password_hash: "h",
            roles: &[],
            now: 0,
        };
        store.create_user(user).await.unwrap()
    }

    /// Runs raw SQL against a store: tests that play an attacker editing the database.
    pub(crate) async fn execute(store: &Store, sql: &str) -> u64 {
        use sqlx::Executor;
        store
            .pool
            .execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .unwrap()
            .rows_affected()
    }

    /// Stores to run a test against: a fresh SQLite file always, and PostgreSQL when
    /// `RAMPART_TEST_POSTGRES_URL` names a server (the test script starts one). Each
    /// PostgreSQL test gets its own schema-less database, so tests can run in parallel.
    pub(crate) async fn stores() -> Vec<(Store, Option<tempfile::TempDir>)> {
        let dir = tempfile::tempdir().unwrap();
        let sqlite = Store::open(&Store::default_url(dir.path())).await.unwrap();
        let mut stores = vec![(sqlite, Some(dir))];
        if let Ok(admin_url) = std::env::var("RAMPART_TEST_POSTGRES_URL") {
            stores.push((fresh_postgres(&admin_url).await, None));
        }
        stores
    }

    async fn fresh_postgres(admin_url: &str) -> Store {
        use sqlx::Executor;
        sqlx::any::install_default_drivers();
        let name = format!("rampart_test_{}", uuid::Uuid::now_v7().simple());
        let admin = sqlx::AnyPool::connect(admin_url)
            .await
            .expect("the test PostgreSQL server is reachable");
        // The name is made here from a UUID, never from input.
        admin
            .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map_or(admin_url, |(base, _)| base);
        Store::open(&format!("{base}/{name}")).await.unwrap()
    }
}
