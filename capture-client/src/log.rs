//! A blocking client of trace-api's log endpoints, as a monitor reads them: the checkpoint, entry
//! bundles and their events, and the verifiable index's heads and key proofs
//! (`ledger::index::monitor::LogReader`, what `tagtrail index-monitor` runs on).

use std::time::Duration;

use ledger::Hash;
use ledger::index::KeyRange;
use ledger::index::monitor::LogReader;
use ledger::tiles::EntryBundleId;

/// The most bytes of one answer read (an entry bundle's events may be large; nothing else is).
const MAX_ANSWER_BYTES: u64 = 256 * 1024 * 1024;

/// How many times one request refused for the moment (`429`, `503`) is asked again.
pub const MAX_RETRIES: u32 = 60;

/// Why a log endpoint gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum LogClientError {
    #[error("GET {url} failed")]
    Http {
        url: String,
        #[source]
        source: ureq::Error,
    },
    #[error("GET {url} answered {status}: {detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("GET {url} answered what is not {expected}")]
    Malformed { url: String, expected: &'static str },
}

/// A client of one trace-api's log endpoints.
#[derive(Debug)]
pub struct LogClient {
    base: String,
    agent: ureq::Agent,
}

impl LogClient {
    /// A client of the service at `base` (`http://host:port`).
    pub fn new(base: &str) -> Self {
        Self {
            base: base.trim_end_matches('/').to_owned(),
            agent: super::agent(),
        }
    }

    /// The body of `GET path`, which must answer `200`. A `429` or `503` (the service's rate
    /// limits, its byte budget, a busy moment) is asked again after its `Retry-After` (one second
    /// without one, at most a minute), up to [`MAX_RETRIES`] times: a monitor reads the whole log
    /// and must pace itself to the service's limits, not give up at the first.
    fn get(&self, path: &str) -> Result<Vec<u8>, LogClientError> {
        let url = format!("{}{path}", self.base);
        let mut retries = 0;
        loop {
            let http = |source| LogClientError::Http {
                url: url.clone(),
                source,
            };
            let mut response = self.agent.get(&url).call().map_err(http)?;
            let status = response.status().as_u16();
            let retry_after = response
                .headers()
                .get("retry-after")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.trim().parse::<u64>().ok());
            let bytes = response
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_vec()
                .map_err(http)?;
            if matches!(status, 429 | 503) && retries < MAX_RETRIES {
                retries += 1;
                let wait = retry_after.unwrap_or(1).clamp(1, 60);
                std::thread::sleep(Duration::from_secs(wait));
                continue;
            }
            if status != 200 {
                let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|body| body["detail"].as_str().map(str::to_owned))
                    .unwrap_or_default();
                return Err(LogClientError::Status {
                    url,
                    status,
                    detail,
                });
            }
            return Ok(bytes);
        }
    }
}

impl LogReader for LogClient {
    type Error = LogClientError;

    fn checkpoint(&mut self) -> Result<String, Self::Error> {
        let path = "/log/checkpoint";
        String::from_utf8(self.get(path)?).map_err(|_| LogClientError::Malformed {
            url: format!("{}{path}", self.base),
            expected: "UTF-8 text",
        })
    }

    fn entry_bundle(&mut self, id: EntryBundleId) -> Result<Vec<u8>, Self::Error> {
        self.get(&format!("/log/{}", id.path()))
    }

    fn events(&mut self, id: EntryBundleId) -> Result<Vec<String>, Self::Error> {
        let path = id.path().replacen("tile/entries/", "/log/entries/", 1);
        let bytes = self.get(&path)?;
        serde_json::from_slice(&bytes).map_err(|_| LogClientError::Malformed {
            url: format!("{}{path}", self.base),
            expected: "a JSON array of event texts",
        })
    }

    fn index_head(&mut self, root: &Hash) -> Result<Vec<u8>, Self::Error> {
        self.get(&format!("/log/index/{}", root.to_hex()))
    }

    fn key_proof(&mut self, root: &Hash, range: &KeyRange) -> Result<Vec<u8>, Self::Error> {
        self.get(&format!(
            "/log/index/{}/{}?from={}&to={}",
            root.to_hex(),
            range.key,
            range.from,
            range.to
        ))
    }
}
