//! The keys that open sealed event values (`sealed_grants`, `sealed_field_keys`), kept apart from
//! the log, and their erasure (`erasures`): see `ledger::sealed` and the ledger README.

use deadpool_postgres::GenericClient as _;
use ledger::LeafIndex;
use ledger::sealed::{Commitment, Envelope, FieldKey, RecipientKey};

use crate::{ReadError, Reader, Writer};

/// What the store holds for one sealed value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldKeys {
    /// Its field key and the batch key's envelopes, one per recipient.
    Kept {
        field_key: FieldKey,
        envelopes: Vec<Envelope>,
    },
    /// Its keys were destroyed at this time (milliseconds since the epoch).
    Erased { at_unix_ms: u64 },
    /// The store never held keys for it (a commitment-only value, or not a sealed value of ours).
    Unknown,
}

/// Why sealed values were not erased.
#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error(
        "the keys of the sealed value {} belong to entry {holder}, which logged it first (this \
         entry carries a copy): erase it through entry {holder}",
        commitment.to_hex()
    )]
    HeldByAnotherEntry { commitment: Commitment, holder: u64 },
    #[error(transparent)]
    Store(#[from] ReadError),
}

impl From<tokio_postgres::Error> for EraseError {
    fn from(error: tokio_postgres::Error) -> Self {
        Self::Store(error.into())
    }
}

impl From<deadpool_postgres::PoolError> for EraseError {
    fn from(error: deadpool_postgres::PoolError) -> Self {
        Self::Store(error.into())
    }
}

/// One commitment's erasure, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    pub commitment: Commitment,
    /// Whether keys were destroyed now (`false`: there were none, or an earlier erasure took them).
    pub keys_destroyed: bool,
    /// When the erasure was recorded (the earlier one's time, if it was erased before).
    pub erased_at_unix_ms: u64,
    /// Whether an earlier erasure had recorded it already.
    pub already_erased: bool,
}

const SELECT_FIELD_KEYS: &str = "
    SELECT f.wrapped, g.recipient, g.sealed_key
    FROM sealed_field_keys f JOIN sealed_grants g USING (grant_id)
    WHERE f.commitment = $1
    ORDER BY g.recipient";

const SELECT_ERASURE: &str = "
    SELECT (extract(epoch FROM erased_at) * 1000)::bigint FROM erasures WHERE commitment = $1";

// Appenders keep field keys in their group transactions while they hold the turn lock: taking it
// (for the transaction) waits for every group in flight, and keeps new ones out until the erasure
// commits, so a commitment erased is never given keys again.
const LOCK_APPENDERS: &str = "SELECT pg_advisory_xact_lock($1)";

// Keys another entry holds (the first to log the value; `-1`: kept before V22, by no entry).
const HELD_ELSEWHERE: &str = "
    SELECT commitment, leaf_index FROM sealed_field_keys
    WHERE commitment = ANY($1::bytea[]) AND leaf_index NOT IN ($2, -1)";

const DELETE_FIELD_KEYS: &str = "
    DELETE FROM sealed_field_keys WHERE commitment = ANY($1::bytea[]) AND leaf_index IN ($2, -1)
    RETURNING commitment, grant_id";

const DELETE_ORPHAN_GRANTS: &str = "
    DELETE FROM sealed_grants g WHERE g.grant_id = ANY($1::bytea[])
    AND NOT EXISTS (SELECT 1 FROM sealed_field_keys f WHERE f.grant_id = g.grant_id)";

const RECORD_ERASURES: &str = "
    INSERT INTO erasures (leaf_index, commitment, request)
    SELECT $1, commitment, $3 FROM unnest($2::bytea[]) AS t (commitment)
    ON CONFLICT (commitment) DO NOTHING RETURNING commitment";

const SELECT_ERASURES: &str = "
    SELECT commitment, (extract(epoch FROM erased_at) * 1000)::bigint FROM erasures WHERE commitment = ANY($1::bytea[])";

impl Writer {
    /// Erases sealed values of the entry at `leaf`: destroys their field keys (and the envelopes
    /// of batch keys no other field needs), and records each erasure with the operator's
    /// reference for the request, in one transaction. Keys belong to the entry that logged the
    /// value first: named through a later entry that carries a copy of it, nothing is erased and
    /// the answer names the entry to erase through ([`EraseError::HeldByAnotherEntry`]). Erasing again changes nothing and says
    /// when it was first done. The tables are then vacuumed, so that the space the destroyed
    /// keys took is reused (PostgreSQL does not zero it: until it is overwritten, the bytes stay
    /// on disk, as they do in backups and WAL archives). A failed vacuum is logged and does not
    /// undo or hide the erasure, which was committed before it.
    pub async fn erase(
        &self,
        leaf: LeafIndex,
        commitments: &[Commitment],
        request: &str,
    ) -> Result<Vec<Erasure>, EraseError> {
        let leaf = i64::try_from(leaf.get()).map_err(|_| ReadError::Corrupt {
            what: "leaf index",
            reason: "beyond 2^63".to_owned(),
        })?;
        let wanted: Vec<&[u8]> = commitments
            .iter()
            .map(|c| c.as_bytes().as_slice())
            .collect();
        let mut client = self.pool().get().await?;
        let transaction = client.transaction().await?;
        transaction
            .execute(LOCK_APPENDERS, &[&crate::locks::TURN])
            .await?;
        let elsewhere = transaction.query(HELD_ELSEWHERE, &[&wanted, &leaf]).await?;
        if let Some(row) = elsewhere.first() {
            let commitment = row.get::<_, &[u8]>(0).try_into().map_err(|_| {
                EraseError::from(ReadError::Corrupt {
                    what: "sealed field key",
                    reason: "a commitment is not 32 bytes".to_owned(),
                })
            })?;
            return Err(EraseError::HeldByAnotherEntry {
                commitment: Commitment::from_bytes(commitment),
                holder: u64::try_from(row.get::<_, i64>(1)).unwrap_or_default(),
            });
        }
        let deleted = transaction
            .query(DELETE_FIELD_KEYS, &[&wanted, &leaf])
            .await?;
        let destroyed: Vec<Vec<u8>> = deleted.iter().map(|row| row.get(0)).collect();
        let grants: Vec<Vec<u8>> = deleted.iter().map(|row| row.get(1)).collect();
        transaction
            .execute(DELETE_ORPHAN_GRANTS, &[&grants])
            .await?;
        let recorded = transaction
            .query(RECORD_ERASURES, &[&leaf, &wanted, &request])
            .await?;
        let fresh: Vec<Vec<u8>> = recorded.iter().map(|row| row.get(0)).collect();
        let rows = transaction.query(SELECT_ERASURES, &[&wanted]).await?;
        transaction.commit().await?;
        if let Err(error) = client
            .batch_execute("VACUUM sealed_field_keys, sealed_grants")
            .await
        {
            tracing::warn!(
                error = %crate::indexer::error_chain(&error),
                "the erasure is committed, but vacuuming the key tables failed: run VACUUM on them"
            );
        }
        let mut erasures = Vec::with_capacity(rows.len());
        for commitment in commitments {
            let row = rows
                .iter()
                .find(|row| row.get::<_, &[u8]>(0) == commitment.as_bytes())
                .ok_or_else(|| ReadError::Corrupt {
                    what: "erasure",
                    reason: format!("no record of {}", commitment.to_hex()),
                })?;
            erasures.push(Erasure {
                commitment: *commitment,
                keys_destroyed: destroyed
                    .iter()
                    .any(|d| d.as_slice() == commitment.as_bytes()),
                erased_at_unix_ms: millis(row.get(1))?,
                already_erased: !fresh.iter().any(|f| f.as_slice() == commitment.as_bytes()),
            });
        }
        Ok(erasures)
    }
}

impl Reader {
    /// What the store holds for the sealed value with this commitment.
    pub async fn field_keys(&self, commitment: &Commitment) -> Result<FieldKeys, ReadError> {
        let client = self.pool().get().await?;
        let key = commitment.as_bytes().as_slice();
        let rows = client.query(SELECT_FIELD_KEYS, &[&key]).await?;
        if let Some(first) = rows.first() {
            let corrupt = |reason: &str| ReadError::Corrupt {
                what: "sealed field key",
                reason: reason.to_owned(),
            };
            let field_key = FieldKey::from_parts(*commitment, first.get(0))
                .ok_or_else(|| corrupt("a wrapped key is not 48 bytes"))?;
            let envelopes = rows
                .iter()
                .map(|row| {
                    let recipient: [u8; 32] = row
                        .get::<_, &[u8]>(1)
                        .try_into()
                        .map_err(|_| corrupt("a recipient key is not 32 bytes"))?;
                    Envelope::from_parts(RecipientKey::from_bytes(recipient), row.get(2))
                        .ok_or_else(|| corrupt("an envelope is not 80 bytes"))
                })
                .collect::<Result<_, _>>()?;
            return Ok(FieldKeys::Kept {
                field_key,
                envelopes,
            });
        }
        match client.query_opt(SELECT_ERASURE, &[&key]).await? {
            Some(row) => Ok(FieldKeys::Erased {
                at_unix_ms: millis(row.get(0))?,
            }),
            None => Ok(FieldKeys::Unknown),
        }
    }
}

impl Reader {
    /// The decoys of the secret this database keeps for them (`ledger::sealed::Decoys`; V26).
    pub async fn decoys(&self) -> Result<ledger::sealed::Decoys, ReadError> {
        let client = self.pool().get().await?;
        let row = client
            .query_opt("SELECT secret FROM sealed_decoy_secret", &[])
            .await?
            .ok_or_else(|| ReadError::Corrupt {
                what: "sealed decoy secret",
                reason: "the database holds none (V26 makes it)".to_owned(),
            })?;
        let secret: &[u8; ledger::sealed::DECOY_SECRET_LEN] = row
            .get::<_, &[u8]>(0)
            .try_into()
            .map_err(|_| ReadError::Corrupt {
                what: "sealed decoy secret",
                reason: "it is not 32 bytes".to_owned(),
            })?;
        Ok(ledger::sealed::Decoys::new(secret))
    }
}

fn millis(value: i64) -> Result<u64, ReadError> {
    u64::try_from(value).map_err(|_| ReadError::Corrupt {
        what: "erasure",
        reason: "a time before 1970".to_owned(),
    })
}
