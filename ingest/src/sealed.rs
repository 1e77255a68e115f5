//! Sealed fields at capture (`ledger::sealed`): every sealed value of a document must read, and
//! the document must carry exactly one key for each value sealed for recipients and no other
//! key, so that no acknowledged event holds a ciphertext nobody can ever open. The keys go with
//! the batch (`NewBatch::with_field_keys`): the sequencer keeps them in the transaction that
//! appends their events, bound to each event's entry. They never enter the log.

use std::collections::{BTreeMap, HashMap};

use epcis::document::Document;
use ledger::sealed::{Commitment, Envelope, KEYS_MEMBER, KeySet, RecipientKey, sealed_fields};
use ledger_store::{BatchError, EntryKeys};
use registry::RecipientKeyInfo;
use serde_json::Value;

use crate::error::ProblemViolation;

/// The most key sets one capture document may carry (a capturer batches by it too).
pub use ledger::sealed::MAX_KEY_SETS;

/// The key sets of a document, and which event's values each commitment seals.
#[derive(Debug, Default)]
pub struct SealedKeys {
    sets: Vec<KeySet>,
    /// Each set's place in the document's `sealed:keys`.
    places: Vec<usize>,
    /// The event each commitment with a key belongs to.
    owner: HashMap<Commitment, usize>,
}

impl SealedKeys {
    /// Every recipient the key sets send a batch key to.
    pub fn recipients(&self) -> Vec<RecipientKey> {
        let mut keys: Vec<RecipientKey> = self
            .sets
            .iter()
            .flat_map(|set| set.envelopes().iter().map(Envelope::recipient))
            .collect();
        keys.sort_unstable_by_key(|key| *key.as_bytes());
        keys.dedup();
        keys
    }

    /// Refuses the document for each key set that sends a batch key to one of the `retired`
    /// registered keys: its organisation retired it (rotated, or compromised), and nothing new
    /// is sealed to it.
    pub fn refuse_retired(
        &self,
        retired: &[RecipientKeyInfo],
        violations: &mut BTreeMap<Option<usize>, Vec<ProblemViolation>>,
    ) {
        for (set, place) in self.sets.iter().zip(&self.places) {
            for envelope in set.envelopes() {
                let Some(info) = retired.iter().find(|info| info.key == envelope.recipient())
                else {
                    continue;
                };
                let at = info
                    .retired_at
                    .map(ledger::UnixMillis::to_rfc3339)
                    .unwrap_or_default();
                violations
                    .entry(None)
                    .or_default()
                    .push(ProblemViolation::new(
                        None,
                        format!("/{KEYS_MEMBER}/{place}"),
                        "retiredRecipient",
                        format!(
                            "the key set seals to recipient key {} of organisation {}, retired at \
                             {at}: seal to the organisation's current keys",
                            envelope.recipient().to_base64(),
                            info.organisation.as_str()
                        ),
                    ));
            }
        }
    }

    /// The key sets for the values of the events that become entries of a batch, each field key
    /// with the position of its event's entry (`entry_of` gives it for a document event index,
    /// `None` for an event not appended).
    pub fn for_entries(
        &self,
        entry_of: impl Fn(usize) -> Option<usize>,
    ) -> Result<Vec<EntryKeys>, BatchError> {
        let position = |commitment: &Commitment| {
            self.owner
                .get(commitment)
                .and_then(|&event| entry_of(event))
        };
        self.sets
            .iter()
            .filter_map(|set| set.retain_fields(|commitment| position(commitment).is_some()))
            .map(|set| {
                let entries = set
                    .field_keys()
                    .iter()
                    .filter_map(|key| position(key.commitment()))
                    .collect();
                EntryKeys::new(set, entries)
            })
            .collect()
    }
}

/// Checks the sealed values and key sets of a document; records what is wrong as violations
/// (per event where an event is at fault, for the document otherwise).
pub fn check(
    document: &Document,
    violations: &mut BTreeMap<Option<usize>, Vec<ProblemViolation>>,
) -> SealedKeys {
    let mut keys = SealedKeys::default();
    // Which set holds the key of each commitment.
    let mut held: HashMap<Commitment, bool> = HashMap::new();
    match document.root().get(KEYS_MEMBER) {
        None => {}
        Some(Value::Array(items)) if items.len() <= MAX_KEY_SETS => {
            for (i, item) in items.iter().enumerate() {
                let pointer = format!("/{KEYS_MEMBER}/{i}");
                let parsed = match item {
                    Value::String(text) => KeySet::parse_base64(text).map_err(|e| e.to_string()),
                    _ => Err("a key set is a string of standard base64".to_owned()),
                };
                match parsed {
                    Ok(set) => {
                        for key in set.field_keys() {
                            if held.insert(*key.commitment(), false).is_some() {
                                document_violation(
                                    violations,
                                    pointer.clone(),
                                    format!(
                                        "two key sets hold a key for the sealed value {}",
                                        key.commitment().to_hex()
                                    ),
                                );
                            }
                        }
                        keys.sets.push(set);
                        keys.places.push(i);
                    }
                    Err(message) => document_violation(violations, pointer, message),
                }
            }
        }
        Some(Value::Array(items)) => document_violation(
            violations,
            format!("/{KEYS_MEMBER}"),
            format!(
                "the document carries {} key sets; at most {MAX_KEY_SETS} are accepted",
                items.len()
            ),
        ),
        Some(_) => document_violation(
            violations,
            format!("/{KEYS_MEMBER}"),
            "`sealed:keys` is a list of key sets".to_owned(),
        ),
    }
    for event in document.events() {
        for found in sealed_fields(event.raw()) {
            let pointer = format!("{}{}", event.pointer(), found.pointer);
            let mut violation = |message: String| {
                violations
                    .entry(Some(event.index()))
                    .or_default()
                    .push(ProblemViolation::new(
                        Some(event.index()),
                        pointer.clone(),
                        "sealedField",
                        message,
                    ));
            };
            match found.field {
                Err(error) => violation(error.to_string()),
                Ok(field) if field.is_encrypted() => match held.get_mut(field.commitment()) {
                    Some(used) if !*used => {
                        *used = true;
                        keys.owner.insert(*field.commitment(), event.index());
                    }
                    Some(_) => violation(format!(
                        "the sealed value {} appears twice in the document",
                        field.commitment().to_hex()
                    )),
                    None => violation(
                        "the value is sealed for recipients, but the document carries no key \
                         for it in `sealed:keys`: nobody could ever open it"
                            .to_owned(),
                    ),
                },
                Ok(_) => {}
            }
        }
    }
    let mut unused: Vec<String> = held
        .iter()
        .filter(|(_, used)| !**used)
        .map(|(commitment, _)| commitment.to_hex())
        .collect();
    unused.sort_unstable();
    for commitment in unused {
        document_violation(
            violations,
            format!("/{KEYS_MEMBER}"),
            format!(
                "a key set holds a key for {commitment}, which no value of the document sealed \
                 for recipients has"
            ),
        );
    }
    keys
}

fn document_violation(
    violations: &mut BTreeMap<Option<usize>, Vec<ProblemViolation>>,
    pointer: String,
    message: String,
) {
    violations
        .entry(None)
        .or_default()
        .push(ProblemViolation::new(None, pointer, "sealedKeys", message));
}
