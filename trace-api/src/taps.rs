//! NFC taps (`[scans]`): a scan whose URL carries an NTAG 424 DNA Secure Unique NFC message is
//! checked with the keys of the NFC key file (`ledger::nfc`), then the tag's counter is checked
//! and moved on the primary in one statement (`registry::nfc::accept_tap`). The verdict weighs
//! what came of it (`ledger::verdict`, the `nfc_tap_*` rules).

use std::path::Path;
use std::str::FromStr as _;
use std::sync::Arc;

use anyhow::Context as _;
use ledger::nfc::{Keys, Sun, TapCheck};
use secrecy::ExposeSecret as _;

use crate::config::{DatabaseConfig, ScansConfig};
use crate::metrics::Metrics;

/// The default size of the primary's pool for taps.
const DEFAULT_POOL_SIZE: usize = 4;

/// What checks taps: the keys and the primary's pool.
#[derive(Clone)]
pub struct Taps {
    keys: Arc<Keys>,
    pool: deadpool_postgres::Pool,
}

impl std::fmt::Debug for Taps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Taps")
            .field("key_versions", &self.keys.versions().len())
            .finish_non_exhaustive()
    }
}

impl Taps {
    /// From `[scans]`, when it is set: the key file read now, the pool opened lazily (with the
    /// `[database]` timeouts).
    pub fn load(scans: &ScansConfig, database: &DatabaseConfig) -> anyhow::Result<Option<Self>> {
        let (Some(url), Some(keys)) = (&scans.url, &scans.nfc_keys) else {
            return Ok(None);
        };
        let keys = read_keys(keys)?;
        let mut pg_config = tokio_postgres::Config::from_str(url.expose_secret())
            .context("scans.url is not a PostgreSQL connection URL")?;
        let options = format!(
            "{} -c statement_timeout={}",
            pg_config.get_options().unwrap_or_default(),
            database.statement_timeout.as_millis()
        );
        pg_config.options(options.trim());
        pg_config.application_name("tagtrail-trace-api-scans");
        let manager = deadpool_postgres::Manager::from_config(
            pg_config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig {
                recycling_method: deadpool_postgres::RecyclingMethod::Fast,
            },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(scans.pool_size.unwrap_or(DEFAULT_POOL_SIZE))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .create_timeout(Some(database.connect_timeout))
            .wait_timeout(Some(database.connect_timeout))
            .build()
            .context("Failed to set up the scans database pool")?;
        Ok(Some(Self {
            keys: Arc::new(keys),
            pool,
        }))
    }

    /// Checks the tap in a scan's query string, if it carries one: `None` when it does not.
    /// `taps` is `None` when the service has no `[scans]`.
    pub async fn check(
        taps: Option<&Self>,
        query: &str,
        names: &[String],
        metrics: &Metrics,
    ) -> Option<TapCheck> {
        let check = match Sun::from_query(query) {
            Ok(None) => return None,
            Err(error) => TapCheck::Malformed(error),
            Ok(Some(sun)) => match taps {
                None => TapCheck::Unchecked("this service holds no NFC keys"),
                Some(taps) => taps.accept(&sun, names).await,
            },
        };
        metrics.nfc_tap(&check);
        Some(check)
    }

    async fn accept(&self, sun: &Sun, names: &[String]) -> TapCheck {
        let tap = match self.keys.verify(sun) {
            Ok(tap) => tap,
            Err(refusal) => return TapCheck::Refused(refusal),
        };
        let accepted = async {
            let client = self.pool.get().await?;
            anyhow::Ok(registry::nfc::accept_tap(&**client, &tap, names).await?)
        };
        match accepted.await {
            Ok(check) => check,
            Err(error) => {
                tracing::warn!(error = %format!("{error:#}"), "an NFC tap could not be recorded");
                TapCheck::Unchecked("the tap could not be recorded (the database failed)")
            }
        }
    }
}

/// The NFC key file at `path`, its text zeroed once read.
fn read_keys(path: &Path) -> anyhow::Result<Keys> {
    let text = zeroize::Zeroizing::new(
        std::fs::read_to_string(path)
            .with_context(|| format!("Failed to read the NFC key file {}", path.display()))?,
    );
    Keys::parse(&text).with_context(|| format!("The NFC key file {}", path.display()))
}
