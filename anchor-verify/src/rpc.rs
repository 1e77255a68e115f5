//! A small Ethereum JSON-RPC client: the dozen methods the worker, the verifier and `tagtrail anchors
//! find` call, over HTTP(S) with timeouts.
//!
//! Blocking (ureq): the worker makes a few calls per chain per tick and runs them on tokio's blocking
//! pool ([`Rpc::run`]); the command-line tools call them directly. The node's URL may carry an API key,
//! so it is never logged or shown whole: [`Rpc::endpoint`] is its scheme and host only.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use alloy_primitives::{Address, B256};
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

/// Why a call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RpcError {
    /// The node could not be reached, or did not answer in time.
    #[error("the node at {endpoint} could not be reached: {reason}")]
    Unreachable { endpoint: String, reason: String },
    /// The node answered with an HTTP error.
    #[error("the node at {endpoint} answered HTTP {status} to {method}")]
    Http {
        endpoint: String,
        method: &'static str,
        status: u16,
    },
    /// The node answered with a JSON-RPC error.
    #[error("{method} failed: {message} (JSON-RPC error {code})")]
    Node {
        method: &'static str,
        code: i64,
        message: String,
    },
    /// The answer is not what the method returns.
    #[error("{method} returned something unexpected: {detail}")]
    Malformed {
        method: &'static str,
        detail: String,
    },
}

impl RpcError {
    /// Whether the node refused the call itself (as opposed to not being reachable): retrying the
    /// same call will not help.
    pub fn is_node_error(&self) -> bool {
        matches!(self, Self::Node { .. })
    }

    /// The node's error message, if it sent one.
    pub fn node_message(&self) -> Option<&str> {
        match self {
            Self::Node { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// A block reference: a number or a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockId {
    Number(u64),
    Latest,
    Finalized,
}

impl BlockId {
    fn param(self) -> Value {
        match self {
            Self::Number(number) => Value::String(quantity(number)),
            Self::Latest => json!("latest"),
            Self::Finalized => json!("finalized"),
        }
    }
}

/// A JSON-RPC client of one node. Cheap to clone.
#[derive(Clone)]
pub struct Rpc {
    inner: Arc<Inner>,
}

struct Inner {
    url: SecretString,
    endpoint: String,
    agent: ureq::Agent,
}

impl fmt::Debug for Rpc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rpc")
            .field("endpoint", &self.inner.endpoint)
            .finish_non_exhaustive()
    }
}

impl Rpc {
    /// A client of the node at `url` (`http://` or `https://`); each call may take `timeout`.
    pub fn new(url: &SecretString, timeout: Duration) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .https_only(url.expose_secret().starts_with("https://"))
            .build()
            .into();
        Self {
            inner: Arc::new(Inner {
                endpoint: endpoint(url.expose_secret()),
                url: url.clone(),
                agent,
            }),
        }
    }

    /// The node's scheme and host, safe to log (a URL's path or query may hold an API key).
    pub fn endpoint(&self) -> &str {
        &self.inner.endpoint
    }

    /// Runs a blocking call on tokio's blocking pool.
    pub async fn run<T, F>(&self, call: F) -> Result<T, RpcError>
    where
        T: Send + 'static,
        F: FnOnce(&Rpc) -> Result<T, RpcError> + Send + 'static,
    {
        let rpc = self.clone();
        let endpoint = self.inner.endpoint.clone();
        tokio::task::spawn_blocking(move || call(&rpc))
            .await
            .unwrap_or_else(|error| {
                Err(RpcError::Unreachable {
                    endpoint,
                    reason: format!("the call's thread failed: {error}"),
                })
            })
    }

    /// Calls `method` with `params` and returns the `result` member.
    pub fn call(&self, method: &'static str, params: Value) -> Result<Value, RpcError> {
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
        let unreachable = |reason: String| RpcError::Unreachable {
            endpoint: self.inner.endpoint.clone(),
            reason,
        };
        let mut response = self
            .inner
            .agent
            .post(self.inner.url.expose_secret())
            .header("Content-Type", "application/json")
            .send(body.to_string().as_bytes())
            .map_err(|error| unreachable(error.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .map_err(|error| unreachable(error.to_string()))?;
        let answer: Value = match serde_json::from_str(&text) {
            Ok(answer) => answer,
            Err(_) if status != 200 => {
                return Err(RpcError::Http {
                    endpoint: self.inner.endpoint.clone(),
                    method,
                    status,
                });
            }
            Err(error) => {
                return Err(RpcError::Malformed {
                    method,
                    detail: format!("not JSON: {error}"),
                });
            }
        };
        if let Some(error) = answer.get("error") {
            return Err(RpcError::Node {
                method,
                code: error.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: error
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message")
                    .to_owned(),
            });
        }
        if status != 200 {
            return Err(RpcError::Http {
                endpoint: self.inner.endpoint.clone(),
                method,
                status,
            });
        }
        answer.get("result").cloned().ok_or(RpcError::Malformed {
            method,
            detail: "no result member".to_owned(),
        })
    }

    /// `eth_chainId`.
    pub fn chain_id(&self) -> Result<u64, RpcError> {
        parse_quantity("eth_chainId", &self.call("eth_chainId", json!([]))?)
    }

    /// `eth_blockNumber`.
    pub fn block_number(&self) -> Result<u64, RpcError> {
        parse_quantity("eth_blockNumber", &self.call("eth_blockNumber", json!([]))?)
    }

    /// `eth_getBlockByNumber` without transactions; `None` if the node has no such block.
    pub fn block(&self, id: BlockId) -> Result<Option<Value>, RpcError> {
        let block = self.call("eth_getBlockByNumber", json!([id.param(), false]))?;
        Ok((!block.is_null()).then_some(block))
    }

    /// The hash and number of a block; `None` if the node has no such block.
    pub fn block_head(&self, id: BlockId) -> Result<Option<(u64, B256)>, RpcError> {
        const METHOD: &str = "eth_getBlockByNumber";
        let Some(block) = self.block(id)? else {
            return Ok(None);
        };
        Ok(Some((
            parse_quantity(METHOD, field(METHOD, &block, "number")?)?,
            parse_b256(METHOD, field(METHOD, &block, "hash")?)?,
        )))
    }

    /// `eth_getBlockReceipts`: every receipt of a block, in order.
    pub fn block_receipts(&self, number: u64) -> Result<Vec<Value>, RpcError> {
        const METHOD: &str = "eth_getBlockReceipts";
        match self.call(METHOD, json!([quantity(number)]))? {
            Value::Array(receipts) => Ok(receipts),
            other => Err(RpcError::Malformed {
                method: METHOD,
                detail: format!("expected a list of receipts, got {other}"),
            }),
        }
    }

    /// `eth_getTransactionCount` at a block tag (`latest` or `pending`).
    pub fn transaction_count(&self, address: &Address, tag: &str) -> Result<u64, RpcError> {
        const METHOD: &str = "eth_getTransactionCount";
        parse_quantity(
            METHOD,
            &self.call(METHOD, json!([hex(address.as_slice()), tag]))?,
        )
    }

    /// `eth_getBalance` at `latest`, in wei.
    pub fn balance(&self, address: &Address) -> Result<u128, RpcError> {
        const METHOD: &str = "eth_getBalance";
        parse_u128(
            METHOD,
            &self.call(METHOD, json!([hex(address.as_slice()), "latest"]))?,
        )
    }

    /// `eth_getCode` at `latest`.
    pub fn code(&self, address: &Address) -> Result<Vec<u8>, RpcError> {
        const METHOD: &str = "eth_getCode";
        parse_bytes(
            METHOD,
            &self.call(METHOD, json!([hex(address.as_slice()), "latest"]))?,
        )
    }

    /// `eth_sendRawTransaction`: the transaction's hash.
    pub fn send_raw_transaction(&self, raw: &[u8]) -> Result<B256, RpcError> {
        const METHOD: &str = "eth_sendRawTransaction";
        parse_b256(METHOD, &self.call(METHOD, json!([hex(raw)]))?)
    }

    /// `eth_getTransactionReceipt`; `None` while the transaction is not in a block.
    pub fn receipt(&self, hash: &B256) -> Result<Option<Value>, RpcError> {
        let receipt = self.call("eth_getTransactionReceipt", json!([hex(hash.as_slice())]))?;
        Ok((!receipt.is_null()).then_some(receipt))
    }

    /// `eth_getTransactionByHash`; `None` when the node knows no such transaction (neither in a block
    /// nor in its pool).
    pub fn transaction(&self, hash: &B256) -> Result<Option<Value>, RpcError> {
        let transaction = self.call("eth_getTransactionByHash", json!([hex(hash.as_slice())]))?;
        Ok((!transaction.is_null()).then_some(transaction))
    }

    /// `eth_maxPriorityFeePerGas`, in wei.
    pub fn max_priority_fee(&self) -> Result<u128, RpcError> {
        const METHOD: &str = "eth_maxPriorityFeePerGas";
        parse_u128(METHOD, &self.call(METHOD, json!([]))?)
    }

    /// `eth_getLogs` with a filter object.
    pub fn logs(&self, filter: Value) -> Result<Vec<Value>, RpcError> {
        const METHOD: &str = "eth_getLogs";
        match self.call(METHOD, json!([filter]))? {
            Value::Array(logs) => Ok(logs),
            other => Err(RpcError::Malformed {
                method: METHOD,
                detail: format!("expected a list of logs, got {other}"),
            }),
        }
    }
}

/// The scheme and host of a URL, without user, path or query.
fn endpoint(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if scheme.is_empty() {
        host.to_owned()
    } else {
        format!("{scheme}://{host}")
    }
}

/// A JSON-RPC quantity: `0x` and hex digits without leading zeros.
pub fn quantity(value: impl Into<u128>) -> String {
    format!("{:#x}", value.into())
}

/// `0x` and the bytes in lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(2 + bytes.len() * 2);
    text.push_str("0x");
    for byte in bytes {
        text.push_str(&format!("{byte:02x}"));
    }
    text
}

/// A member of a JSON object, or a malformed-answer error naming it.
pub fn field<'a>(
    method: &'static str,
    value: &'a Value,
    name: &str,
) -> Result<&'a Value, RpcError> {
    value.get(name).ok_or_else(|| RpcError::Malformed {
        method,
        detail: format!("no member {name:?}"),
    })
}

/// A quantity that fits 64 bits.
pub fn parse_quantity(method: &'static str, value: &Value) -> Result<u64, RpcError> {
    let wide = parse_u128(method, value)?;
    u64::try_from(wide).map_err(|_| RpcError::Malformed {
        method,
        detail: format!("{value} does not fit 64 bits"),
    })
}

/// A quantity that fits 128 bits (fees and balances in wei).
pub fn parse_u128(method: &'static str, value: &Value) -> Result<u128, RpcError> {
    let malformed = || RpcError::Malformed {
        method,
        detail: format!("{value} is not a hex quantity"),
    };
    let text = value.as_str().ok_or_else(malformed)?;
    let digits = text.strip_prefix("0x").ok_or_else(malformed)?;
    if digits.is_empty() || digits.len() > 32 {
        return Err(malformed());
    }
    u128::from_str_radix(digits, 16).map_err(|_| malformed())
}

/// `0x`-prefixed hex data.
pub fn parse_bytes(method: &'static str, value: &Value) -> Result<Vec<u8>, RpcError> {
    let malformed = || RpcError::Malformed {
        method,
        detail: format!("{value} is not hex data"),
    };
    let text = value.as_str().ok_or_else(malformed)?;
    let digits = text.strip_prefix("0x").ok_or_else(malformed)?;
    alloy_primitives::hex::decode(digits).map_err(|_| malformed())
}

/// A 32-byte hash.
pub fn parse_b256(method: &'static str, value: &Value) -> Result<B256, RpcError> {
    let bytes = parse_bytes(method, value)?;
    B256::try_from(bytes.as_slice()).map_err(|_| RpcError::Malformed {
        method,
        detail: format!("{value} is not a 32-byte hash"),
    })
}

/// A 20-byte address.
pub fn parse_address(method: &'static str, value: &Value) -> Result<Address, RpcError> {
    let bytes = parse_bytes(method, value)?;
    Address::try_from(bytes.as_slice()).map_err(|_| RpcError::Malformed {
        method,
        detail: format!("{value} is not a 20-byte address"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_keeps_no_credentials_path_or_query() {
        assert_eq!(
            endpoint("https://user:secret@rpc.example:8545/v3/API-KEY?x=1"),
            "https://rpc.example:8545"
        );
        assert_eq!(endpoint("http://127.0.0.1:8545"), "http://127.0.0.1:8545");
    }

    #[test]
    fn quantities_are_read_strictly() {
        assert_eq!(parse_quantity("m", &json!("0x1f")).ok(), Some(31));
        assert!(parse_quantity("m", &json!("1f")).is_err());
        assert!(parse_quantity("m", &json!("0x")).is_err());
        assert!(parse_quantity("m", &json!(31)).is_err());
        assert!(parse_quantity("m", &json!("0x10000000000000000")).is_err());
        assert_eq!(quantity(0u64), "0x0");
        assert_eq!(quantity(255u64), "0xff");
    }
}
