//! What is appended: [`NewBatch`]es of [`NewEntry`]s, each an event's JSON with its leaf record,
//! and the device's signed batch they came in; and what an append returns, [`AppendResult`].
//!
//! Every entry has a key, by which duplicates are found and the lookup by hash finds it: an event's
//! CBV 2.0 hash, or, for an error declaration (an event carrying `errorDeclaration`, which the CBV
//! hash leaves out so that it names the event it corrects), the [`declaration_key`] of that hash
//! and the declaration's content. So a declaration is never taken for a duplicate of the event it
//! declares erroneous, the same declaration sent twice is, and looking an event up by its hash
//! finds the event, never one of its declarations.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use epcis::EventHash;
use ledger::UnixMillis;
use ledger::batch::{BatchStatement, DeviceSignature, EventBatch};
use ledger::record::{Attestation, EventBinding, LeafRecord, RecordError};
use ledger::sealed::KeySet;
use ledger::size::LeafIndex;

use super::keys::LookupKeys;

/// The standard EPCIS 2.0 JSON-LD context is implied for every stored event, so not repeated in
/// each one.
use epcis::EPCIS_CONTEXT_URL;

/// One event to append: its leaf record and its JSON text.
///
/// The JSON must be the event object as hashed, self-contained: `epcis::hash::event_hash` of it
/// with `HashContext::new()` must give the record's event hash (see [`self_contained_event`]). The
/// sequencer does not re-hash it (the audit does). A version 2 record must commit to exactly these
/// bytes (checked here).
///
/// An appender that has parsed the event attaches its lookup keys
/// ([`with_lookup_keys`](Self::with_lookup_keys)): the indexer then does not read the event back
/// and parse it again. The keys must be [`LookupKeys::of_event`] of this very event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEntry {
    record: LeafRecord,
    event: String,
    keys: Option<LookupKeys>,
    /// The event hash, or the declaration key of an error declaration.
    key: [u8; 32],
    declaration: bool,
}

impl NewEntry {
    /// Pairs a leaf record with the JSON text of an event without `errorDeclaration`.
    pub fn new(record: LeafRecord, event: String) -> Result<Self, EntryError> {
        check_binding(&record, &event)?;
        Ok(Self {
            key: *record.event_hash().as_bytes(),
            record,
            event,
            keys: None,
            declaration: false,
        })
    }

    /// Pairs a (version 2) leaf record with the JSON text of an error declaration: an event whose
    /// `errorDeclaration` member is `declaration`. It is appended as an entry of its own, which
    /// declares erroneous the entry holding the event of the same CBV 2.0 hash, if the log holds
    /// that event (or it comes earlier in the same batch); a declaration of an event the log does
    /// not hold is appended too ([`Declares::Unheld`]), and applies to that event if it comes later.
    pub fn declaration(
        record: LeafRecord,
        event: String,
        declaration: &Value,
    ) -> Result<Self, EntryError> {
        if record.event_digest().is_none() {
            return Err(EntryError::DeclarationInVersion1);
        }
        check_binding(&record, &event)?;
        Ok(Self {
            key: declaration_key(record.event_hash(), declaration),
            record,
            event,
            keys: None,
            declaration: true,
        })
    }

    /// Builds the version 2 leaf record of an event's JSON text and pairs the two, hashing the
    /// bytes once (the record binds them by construction, so there is nothing to check). With
    /// `declaration`, the event's `errorDeclaration` member, the entry is an error declaration (see
    /// [`declaration`](Self::declaration)).
    pub fn recorded(
        event: String,
        event_hash: EventHash,
        captured_at: UnixMillis,
        attestation: Attestation,
        declaration: Option<&Value>,
    ) -> Result<Self, EntryError> {
        let record = LeafRecord::new(event_hash, event.as_bytes(), captured_at, attestation)?;
        let (key, declaration) = match declaration {
            Some(declaration) => (declaration_key(record.event_hash(), declaration), true),
            None => (*record.event_hash().as_bytes(), false),
        };
        Ok(Self {
            key,
            record,
            event,
            keys: None,
            declaration,
        })
    }

    /// The key duplicates are found by: the event hash, or a declaration's [`declaration_key`].
    pub fn key(&self) -> &[u8; 32] {
        &self.key
    }

    /// Whether the entry is an error declaration.
    pub fn is_declaration(&self) -> bool {
        self.declaration
    }

    /// The same entry with the event's lookup keys attached.
    pub fn with_lookup_keys(mut self, keys: LookupKeys) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The event's lookup keys, if attached.
    pub fn lookup_keys(&self) -> Option<&LookupKeys> {
        self.keys.as_ref()
    }

    /// The leaf record.
    pub fn record(&self) -> &LeafRecord {
        &self.record
    }

    /// The event's JSON text.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// The event's CBV 2.0 hash (from the record).
    pub fn event_hash(&self) -> &EventHash {
        self.record.event_hash()
    }
}

/// What a device signed over the capture batch: its statement, its signature and every event hash
/// of the batch in order (including events the log already has), so that each event's path to the
/// batch root can be recomputed later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedBatch {
    statement: BatchStatement,
    signature: DeviceSignature,
    event_hashes: Vec<EventHash>,
}

impl SignedBatch {
    /// Checks that the event hashes are the batch the statement commits to (its size and root).
    /// The signature is not checked here: ingest checks it against the device's registered key.
    pub fn new(
        statement: BatchStatement,
        signature: DeviceSignature,
        event_hashes: Vec<EventHash>,
    ) -> Result<Self, BatchError> {
        let size_matches = u32::try_from(event_hashes.len()).is_ok_and(|n| n == statement.size());
        if !size_matches {
            return Err(BatchError::WrongBatchSize {
                stated: statement.size(),
                found: event_hashes.len(),
            });
        }
        let tree = EventBatch::new(&event_hashes).map_err(|_| BatchError::WrongBatchSize {
            stated: statement.size(),
            found: event_hashes.len(),
        })?;
        if tree.root() != *statement.root() {
            return Err(BatchError::WrongBatchRoot);
        }
        Ok(Self {
            statement,
            signature,
            event_hashes,
        })
    }

    /// The statement the device signed.
    pub fn statement(&self) -> &BatchStatement {
        &self.statement
    }

    /// The device's signature over the statement.
    pub fn signature(&self) -> &DeviceSignature {
        &self.signature
    }

    /// Every event hash of the batch, in batch order.
    pub fn event_hashes(&self) -> &[EventHash] {
        &self.event_hashes
    }
}

/// Entries to append together, with the signed batch they came in if a device reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewBatch {
    signed: Option<SignedBatch>,
    entries: Vec<NewEntry>,
    field_keys: Vec<EntryKeys>,
}

/// The keys that open sealed values of a batch's entries (`ledger::sealed`): one key set of the
/// capture document, and for each of its field keys the position (in the batch) of the entry
/// whose event holds that sealed value. The sequencer keeps them in the transaction that appends
/// the entries, each bound to its entry's leaf, and only for entries it appends (a duplicate's
/// keys were kept with it the first time): an acknowledged event's sealed values can always be
/// opened, and no key is kept for a value no entry holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryKeys {
    set: KeySet,
    entries: Vec<usize>,
}

impl EntryKeys {
    /// `entries[k]` is the position of the entry holding the value of `set.field_keys()[k]`.
    pub fn new(set: KeySet, entries: Vec<usize>) -> Result<Self, BatchError> {
        if entries.len() != set.field_keys().len() {
            return Err(BatchError::FieldKeysUnplaced {
                keys: set.field_keys().len(),
                entries: entries.len(),
            });
        }
        Ok(Self { set, entries })
    }

    /// The key set.
    pub fn set(&self) -> &KeySet {
        &self.set
    }

    /// The position of the entry holding each field key's value.
    pub fn entries(&self) -> &[usize] {
        &self.entries
    }
}

impl NewBatch {
    /// Entries reported by a device in `signed`: each record must name this batch (statement hash
    /// and device) and an index whose event hash is the record's.
    pub fn from_device(signed: SignedBatch, entries: Vec<NewEntry>) -> Result<Self, BatchError> {
        let statement_hash = signed.statement.hash();
        for (position, entry) in entries.iter().enumerate() {
            let Attestation::Device {
                device,
                statement,
                index,
            } = entry.record.attestation()
            else {
                return Err(BatchError::NotFromThisBatch { position });
            };
            let in_batch = usize::try_from(*index)
                .ok()
                .and_then(|index| signed.event_hashes.get(index));
            let matches = *statement == statement_hash
                && device == signed.statement.device()
                && in_batch == Some(entry.event_hash());
            if !matches {
                return Err(BatchError::NotFromThisBatch { position });
            }
        }
        Ok(Self {
            signed: Some(signed),
            entries,
            field_keys: Vec::new(),
        })
    }

    /// Entries accepted with a site token, no device signature: every record must be unattested.
    pub fn unattested(entries: Vec<NewEntry>) -> Result<Self, BatchError> {
        if let Some(position) = entries
            .iter()
            .position(|entry| !matches!(entry.record.attestation(), Attestation::Unattested { .. }))
        {
            return Err(BatchError::AttestedEntryWithoutBatch { position });
        }
        Ok(Self {
            signed: None,
            entries,
            field_keys: Vec::new(),
        })
    }

    /// The signed batch, if a device reported the entries.
    pub fn signed(&self) -> Option<&SignedBatch> {
        self.signed.as_ref()
    }

    /// The entries, in the order they are to be appended.
    pub fn entries(&self) -> &[NewEntry] {
        &self.entries
    }

    /// The batch with the keys of its entries' sealed values, kept with the entries that hold
    /// them; each key must name an entry of the batch.
    pub fn with_field_keys(mut self, keys: Vec<EntryKeys>) -> Result<Self, BatchError> {
        for set in &keys {
            if let Some(&position) = set.entries.iter().find(|&&p| p >= self.entries.len()) {
                return Err(BatchError::FieldKeyOutside { position });
            }
        }
        self.field_keys = keys;
        Ok(self)
    }

    /// The keys of the entries' sealed values.
    pub fn field_keys(&self) -> &[EntryKeys] {
        &self.field_keys
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Why entries cannot form a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("the batch statement states {stated} events, {found} event hashes were given")]
    WrongBatchSize { stated: u32, found: usize },
    #[error("the event hashes do not have the batch root the statement commits to")]
    WrongBatchRoot,
    #[error(
        "entry {position}: its leaf record does not name this batch, its device, or its event hash at that index"
    )]
    NotFromThisBatch { position: usize },
    #[error("entry {position}: a device-attested record needs the device's signed batch")]
    AttestedEntryWithoutBatch { position: usize },
    #[error("a key set holds {keys} field keys, but {entries} entries were named for them")]
    FieldKeysUnplaced { keys: usize, entries: usize },
    #[error("a field key names entry {position}, which the batch does not have")]
    FieldKeyOutside { position: usize },
}

/// Where an event is in the log after an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendResult {
    /// The event's leaf index.
    pub leaf_index: LeafIndex,
    /// Whether the event was already in the log (or earlier in the same append), so that this
    /// entry appended nothing.
    pub existing: bool,
    /// For an error declaration: what it declares erroneous.
    pub declares: Option<Declares>,
}

/// What an error declaration declares erroneous: the event of its CBV 2.0 hash, which is
/// either an earlier entry of the log or not in the log when the declaration was appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Declares {
    /// The entry holding the declared event.
    Entry(LeafIndex),
    /// The log did not hold the declared event when the declaration was appended (an event of
    /// that hash appended later is the declared one: readers find declarations by event hash).
    Unheld,
}

impl Declares {
    /// What a row of `error_declarations` says, if the entry has one (`is_declaration`): the
    /// declared entry (`declared`, NULL when the log did not hold it).
    pub(crate) fn of_row(is_declaration: bool, declared: Option<LeafIndex>) -> Option<Self> {
        is_declaration.then_some(match declared {
            Some(leaf) => Self::Entry(leaf),
            None => Self::Unheld,
        })
    }

    /// The declared entry, if the log held it.
    pub fn entry(self) -> Option<LeafIndex> {
        match self {
            Self::Entry(leaf) => Some(leaf),
            Self::Unheld => None,
        }
    }
}

/// Why an event and its record cannot be appended together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error(
        "the leaf record commits to event bytes with SHA-256 {committed}, the event's are {found}"
    )]
    EventNotBound {
        committed: ledger::record::EventDigest,
        found: ledger::record::EventDigest,
    },
    #[error("an error declaration needs a version 2 leaf record, which binds its bytes")]
    DeclarationInVersion1,
    #[error(transparent)]
    Record(#[from] RecordError),
}

fn check_binding(record: &LeafRecord, event: &str) -> Result<(), EntryError> {
    match record.binds_event(event.as_bytes()) {
        EventBinding::Exact | EventBinding::HashOnly => Ok(()),
        EventBinding::Differs { committed, found } => {
            Err(EntryError::EventNotBound { committed, found })
        }
    }
}

/// The domain of the declaration key, so that it can never be a CBV 2.0 event hash.
const DECLARATION_KEY_DOMAIN: &[u8] = b"tagtrail/error-declaration/v1\n";

/// The key of an error declaration: `SHA-256("tagtrail/error-declaration/v1\n" || event hash ||
/// canonical JSON of the errorDeclaration member)`, where the canonical JSON has every object's
/// members sorted by key (bytewise), no whitespace, and strings and numbers as `serde_json` writes
/// them. The same declaration sent again, in any member order, has the same key; another
/// declaration of the same event (another reason, other corrective events) has another.
pub fn declaration_key(event_hash: &EventHash, declaration: &Value) -> [u8; 32] {
    let mut canonical = Vec::with_capacity(256);
    write_canonical(declaration, &mut canonical);
    let mut hasher = Sha256::new();
    hasher.update(DECLARATION_KEY_DOMAIN);
    hasher.update(event_hash.as_bytes());
    hasher.update(&canonical);
    hasher.finalize().into()
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(members) => {
            let mut keys: Vec<&String> = members.keys().collect();
            keys.sort_unstable();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend_from_slice(Value::String(key.clone()).to_string().as_bytes());
                out.push(b':');
                if let Some(member) = members.get(key) {
                    write_canonical(member, out);
                }
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend_from_slice(scalar.to_string().as_bytes()),
    }
}

/// The self-contained form of an event from a document, as stored: the event object with the
/// document's `@context` (and then the event's own) as its `@context`, so that it hashes alone with
/// `HashContext::new()` to the same CBV 2.0 event hash as within its document. The standard EPCIS
/// 2.0 context URL is left out (it is implied).
///
/// Documents with an `ignoreFields` list are refused: the list cannot travel with one event.
pub fn self_contained_event(
    event: &Map<String, Value>,
    document: &Value,
) -> Result<Map<String, Value>, SelfContainedError> {
    let root = document.as_object();
    let ignores = root.is_some_and(|root| {
        root.keys()
            .any(|key| key.rsplit(':').next() == Some("ignoreFields"))
    });
    if ignores {
        return Err(SelfContainedError::IgnoreFields);
    }
    let mut contexts = Vec::new();
    for declared in [
        root.and_then(|root| root.get("@context")),
        event.get("@context"),
    ]
    .into_iter()
    .flatten()
    {
        match declared {
            Value::Array(items) => contexts.extend(items.iter().cloned()),
            other => contexts.push(other.clone()),
        }
    }
    contexts.retain(|context| context.as_str() != Some(EPCIS_CONTEXT_URL) && !context.is_null());
    let mut out = Map::with_capacity(event.len() + 1);
    match contexts.len() {
        0 => {}
        1 => {
            out.insert("@context".to_owned(), contexts.remove(0));
        }
        _ => {
            out.insert("@context".to_owned(), Value::Array(contexts));
        }
    }
    for (key, value) in event {
        if key != "@context" {
            out.insert(key.clone(), value.clone());
        }
    }
    Ok(out)
}

/// Why an event cannot be made self-contained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SelfContainedError {
    #[error("the document has an ignoreFields list, which a single stored event cannot carry")]
    IgnoreFields,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use epcis::hash::{HashContext, document_hashes, event_hash};

    #[test]
    fn a_self_contained_event_hashes_alone_as_in_its_document() {
        let document = json!({
            "@context": [EPCIS_CONTEXT_URL, {"example": "https://ns.example.com/epcis/"}],
            "type": "EPCISDocument",
            "schemaVersion": "2.0",
            "creationDate": "2024-01-01T00:00:00Z",
            "epcisBody": {"eventList": [{
                "@context": {"other": "https://other.example/"},
                "type": "ObjectEvent",
                "eventTime": "2024-01-01T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
                "epcList": ["urn:epc:id:sgtin:4012345.011111.1"],
                "action": "OBSERVE",
                "example:myField": "a",
                "other:field": {"example:nested": "b"}
            }]}
        });
        let in_document = document_hashes(&document).unwrap()[0].1;
        let event = document["epcisBody"]["eventList"][0].as_object().unwrap();
        let alone = self_contained_event(event, &document).unwrap();
        assert_eq!(
            event_hash(&alone, &HashContext::new()).unwrap(),
            in_document
        );
        assert_eq!(
            alone["@context"],
            json!([{"example": "https://ns.example.com/epcis/"}, {"other": "https://other.example/"}])
        );
        // Without the context, the extension fields would hash differently.
        let mut bare = alone.clone();
        bare.remove("@context");
        assert_ne!(event_hash(&bare, &HashContext::new()).unwrap(), in_document);
    }

    #[test]
    fn an_event_of_a_document_with_only_the_standard_context_gets_none() {
        let document = json!({"@context": EPCIS_CONTEXT_URL, "type": "EPCISDocument"});
        let event = json!({"type": "ObjectEvent"});
        let alone = self_contained_event(event.as_object().unwrap(), &document).unwrap();
        assert!(!alone.contains_key("@context"));
    }

    #[test]
    fn the_declaration_key_ignores_member_order_and_not_content() {
        let hash = EventHash::from_bytes([7; 32]);
        let one = json!({"declarationTime": "2020-01-01T00:00:00Z", "reason": "incorrect_data",
                         "correctiveEventIDs": ["urn:uuid:a", "urn:uuid:b"]});
        let reordered = json!({"correctiveEventIDs": ["urn:uuid:a", "urn:uuid:b"],
                               "reason": "incorrect_data", "declarationTime": "2020-01-01T00:00:00Z"});
        assert_eq!(
            declaration_key(&hash, &one),
            declaration_key(&hash, &reordered)
        );
        let other_reason = json!({"declarationTime": "2020-01-01T00:00:00Z", "reason": "did_not_occur",
                                  "correctiveEventIDs": ["urn:uuid:a", "urn:uuid:b"]});
        let other_order = json!({"declarationTime": "2020-01-01T00:00:00Z", "reason": "incorrect_data",
                                 "correctiveEventIDs": ["urn:uuid:b", "urn:uuid:a"]});
        for other in [other_reason, other_order] {
            assert_ne!(declaration_key(&hash, &one), declaration_key(&hash, &other));
        }
        assert_ne!(
            declaration_key(&hash, &one),
            declaration_key(&EventHash::from_bytes([8; 32]), &one)
        );
        assert_ne!(&declaration_key(&hash, &one), hash.as_bytes());
    }

    // Golden: the documented construction, computed independently with sha256sum over
    // "tagtrail/error-declaration/v1\n", 32 bytes 0x07 and `{"a":1,"b":["x"]}`.
    #[test]
    fn the_declaration_key_is_the_documented_hash() {
        let key = declaration_key(
            &EventHash::from_bytes([7; 32]),
            &json!({"b": ["x"], "a": 1}),
        );
        let mut input = b"tagtrail/error-declaration/v1\n".to_vec();
        input.extend_from_slice(&[7; 32]);
        input.extend_from_slice(br#"{"a":1,"b":["x"]}"#);
        let expected: [u8; 32] = Sha256::digest(&input).into();
        assert_eq!(key, expected);
    }

    #[test]
    fn an_entry_whose_record_binds_other_bytes_is_refused() {
        let record = LeafRecord::new(
            EventHash::from_bytes([1; 32]),
            b"{}",
            ledger::UnixMillis::from_millis(1),
            Attestation::Unattested {
                site: ledger::SiteId::parse("s").unwrap(),
            },
        )
        .unwrap();
        assert!(NewEntry::new(record.clone(), "{}".to_owned()).is_ok());
        assert!(matches!(
            NewEntry::new(record.clone(), "{ }".to_owned()),
            Err(EntryError::EventNotBound { .. })
        ));
        let old = LeafRecord::version_1(
            *record.event_hash(),
            record.captured_at(),
            record.attestation().clone(),
        )
        .unwrap();
        assert_eq!(
            NewEntry::declaration(old, "{}".to_owned(), &json!({})),
            Err(EntryError::DeclarationInVersion1)
        );
    }

    #[test]
    fn a_recorded_entry_is_the_entry_of_its_record() {
        let hash = EventHash::from_bytes([1; 32]);
        let at = ledger::UnixMillis::from_millis(1);
        let site = Attestation::Unattested {
            site: ledger::SiteId::parse("s").unwrap(),
        };
        let event = r#"{"type":"ObjectEvent"}"#.to_owned();
        let record = LeafRecord::new(hash, event.as_bytes(), at, site.clone()).unwrap();
        let recorded = NewEntry::recorded(event.clone(), hash, at, site.clone(), None).unwrap();
        assert_eq!(
            recorded,
            NewEntry::new(record.clone(), event.clone()).unwrap()
        );
        assert_eq!(recorded.key(), hash.as_bytes());
        let declaration = json!({"reason": "incorrect_data"});
        let declared =
            NewEntry::recorded(event.clone(), hash, at, site.clone(), Some(&declaration)).unwrap();
        assert_eq!(
            declared,
            NewEntry::declaration(record, event.clone(), &declaration).unwrap()
        );
        assert!(declared.is_declaration());
        assert_eq!(declared.key(), &declaration_key(&hash, &declaration));
        let device = Attestation::Device {
            device: ledger::DeviceId::parse("d").unwrap(),
            statement: ledger::batch::StatementHash::from_bytes([0; 32]),
            index: 1 << 20,
        };
        assert!(matches!(
            NewEntry::recorded(event, hash, at, device, None),
            Err(EntryError::Record(RecordError::BatchIndexTooLarge(_)))
        ));
    }

    #[test]
    fn a_document_with_ignore_fields_is_refused() {
        let document = json!({"example:ignoreFields": ["example:x"]});
        let event = json!({"type": "ObjectEvent"});
        assert_eq!(
            self_contained_event(event.as_object().unwrap(), &document),
            Err(SelfContainedError::IgnoreFields)
        );
    }
}
