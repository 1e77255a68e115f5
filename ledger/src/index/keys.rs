//! The keys of the index: what an entry can be found by, derived from its event alone.

use std::fmt;

use epcis::digital_link::DigitalLink;
use epcis::hash::canonical_identifier;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::history::text_list;

/// The bytes of a key's hash kept in the index.
pub const KEY_HASH_LEN: usize = 8;

/// Nanoseconds in a day.
const DAY_NANOS: i128 = 86_400 * 1_000_000_000;

/// The members of an event that name EPCs.
pub(crate) const EPC_MEMBERS: [&str; 4] = ["epcList", "childEPCs", "inputEPCList", "outputEPCList"];

/// The members of an event that list quantities of a class.
pub(crate) const QUANTITY_MEMBERS: [&str; 4] = [
    "quantityList",
    "childQuantityList",
    "inputQuantityList",
    "outputQuantityList",
];

/// The two spellings of the CBV master data attribute `lotNumber` as an ILMD member name: the
/// standard context's `cbvmda` prefix and the full URI.
pub(crate) const LOT_NUMBER_NAMES: [&str; 2] =
    ["cbvmda:lotNumber", "urn:epcglobal:cbv:mda:lotNumber"];

/// What a key finds. The byte is the first byte of every pair of the kind (`crate::index`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum KeyKind {
    /// An EPC the event names directly: in `epcList`, `childEPCs`, `inputEPCList`,
    /// `outputEPCList` or as `parentID`.
    Epc = 1,
    /// A container: the event's `parentID`.
    Parent = 2,
    /// A class of trade items: the GTIN of an EPC or of a quantity's `epcClass`, or a class
    /// that is not a GS1 identifier as written.
    Class = 3,
    /// A lot of a GTIN: from a quantity's `epcClass` (an LGTIN), or the ILMD `lotNumber` with
    /// the GTIN of each EPC of the event.
    Lot = 4,
    /// A location (`readPoint` or `bizLocation`) on one UTC day of `eventTime`.
    LocationDay = 5,
}

impl KeyKind {
    /// Every kind, in order.
    pub const ALL: [Self; 5] = [
        Self::Epc,
        Self::Parent,
        Self::Class,
        Self::Lot,
        Self::LocationDay,
    ];

    /// The kind's byte.
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The kind of a byte, if it names one.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(Self::Epc),
            2 => Some(Self::Parent),
            3 => Some(Self::Class),
            4 => Some(Self::Lot),
            5 => Some(Self::LocationDay),
            _ => None,
        }
    }

    /// The kind's name, as reports and the command line write it.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Epc => "epc",
            Self::Parent => "parent",
            Self::Class => "class",
            Self::Lot => "lot",
            Self::LocationDay => "location-day",
        }
    }
}

impl fmt::Display for KeyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One key of the index: a kind and the first [`KEY_HASH_LEN`] bytes of
/// `SHA-256(kind byte || name)`, where the name is the kind's canonical bytes for what it finds.
/// The derived order (kind, then hash bytes) is the order of the index.
///
/// Eight bytes keep the index small. Two names with one hash share a key: the index then lists
/// the entries of both, and a complete provenance bundle carries every entry its proofs list (the
/// other name's with no reason), so a collision can hide no entry; finding a second name for
/// someone else's key takes about 2^64 hashes, and gains only a larger bundle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IndexKey {
    kind: KeyKind,
    hash: [u8; KEY_HASH_LEN],
}

impl IndexKey {
    /// A key from its parts, as stored.
    pub const fn from_parts(kind: KeyKind, hash: [u8; KEY_HASH_LEN]) -> Self {
        Self { kind, hash }
    }

    /// The key of a kind's name bytes.
    pub fn of_name(kind: KeyKind, name: &[u8]) -> Self {
        let digest = Sha256::new()
            .chain_update([kind.code()])
            .chain_update(name)
            .finalize();
        let mut hash = [0; KEY_HASH_LEN];
        hash.copy_from_slice(&digest[..KEY_HASH_LEN]);
        Self { kind, hash }
    }

    /// The key of events naming an EPC (any spelling: an EPC URI and its Digital Link are one
    /// key). The name is the event hash's canonical form of the identifier.
    pub fn epc(id: &str) -> Self {
        Self::of_name(KeyKind::Epc, canonical_identifier(id).as_bytes())
    }

    /// The key of events with `id` as their `parentID`.
    pub fn parent(id: &str) -> Self {
        Self::of_name(KeyKind::Parent, canonical_identifier(id).as_bytes())
    }

    /// The key of the trade items of one GTIN; `None` unless it is 14 digits (the Digital Link
    /// form: a shorter GTIN is padded with zeroes on the left first).
    pub fn gtin(gtin: &str) -> Option<Self> {
        is_gtin14(gtin).then(|| Self::of_name(KeyKind::Class, gtin.as_bytes()))
    }

    /// The key of a class that is not a GS1 identifier, by its canonical text.
    pub fn other_class(class: &str) -> Self {
        Self::of_name(KeyKind::Class, canonical_identifier(class).as_bytes())
    }

    /// The key of a class as an event's `epcClass` or a query writes it: the GTIN's key for an
    /// LGTIN, a GTIN class or a GS1 Digital Link of one, the class itself otherwise.
    pub fn class(class: &str) -> Self {
        match gtin_and_lot(class) {
            Some((gtin, _)) => Self::of_name(KeyKind::Class, gtin.as_bytes()),
            None => Self::other_class(class),
        }
    }

    /// The narrowest key of a class as a query asks for it: the lot's for an LGTIN (events with a
    /// quantity of that lot have it), [`IndexKey::class`] otherwise.
    pub fn class_or_lot(class: &str) -> Self {
        match gtin_and_lot(class) {
            Some((gtin, Some(lot))) => Self::lot(&gtin, &lot).unwrap_or_else(|| Self::class(class)),
            _ => Self::class(class),
        }
    }

    /// The key of one lot of a GTIN: the name is the GTIN's 14 digits then the lot's characters;
    /// `None` unless the GTIN is 14 digits (so that no two (GTIN, lot) pairs share a name).
    pub fn lot(gtin: &str, lot: &str) -> Option<Self> {
        if !is_gtin14(gtin) {
            return None;
        }
        let mut name = Vec::with_capacity(gtin.len() + lot.len());
        name.extend_from_slice(gtin.as_bytes());
        name.extend_from_slice(lot.as_bytes());
        Some(Self::of_name(KeyKind::Lot, &name))
    }

    /// The key of the events at a location on one UTC day (days since 1970-01-01, negative
    /// before): the name is the day as a big-endian `i64`, then the location's canonical form.
    pub fn location_day(location: &str, day: i64) -> Self {
        let canonical = canonical_identifier(location);
        let mut name = Vec::with_capacity(8 + canonical.len());
        name.extend_from_slice(&day.to_be_bytes());
        name.extend_from_slice(canonical.as_bytes());
        Self::of_name(KeyKind::LocationDay, &name)
    }

    /// What the key finds.
    pub const fn kind(&self) -> KeyKind {
        self.kind
    }

    /// The hash bytes.
    pub const fn hash(&self) -> &[u8; KEY_HASH_LEN] {
        &self.hash
    }
}

impl fmt::Display for IndexKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.kind)?;
        for byte in self.hash {
            write!(f, "{byte:02x}")?;
        }
        Ok(())
    }
}

/// Why text is not an index key as [`IndexKey`] displays it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{0:?} is not an index key: expected `<kind>:<16 lower-case hex digits>`, the kind one of \
     epc, parent, class, lot, location-day"
)]
pub struct KeyParseError(String);

impl std::str::FromStr for IndexKey {
    type Err = KeyParseError;

    /// Reads the one spelling [`IndexKey`] displays: `epc:0123456789abcdef`.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let refuse = || KeyParseError(text.chars().take(64).collect());
        let (kind, hex) = text.split_once(':').ok_or_else(refuse)?;
        let kind = KeyKind::ALL
            .into_iter()
            .find(|candidate| candidate.name() == kind)
            .ok_or_else(refuse)?;
        let lower_hex = |byte: u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte);
        if hex.len() != 2 * KEY_HASH_LEN || !hex.bytes().all(lower_hex) {
            return Err(refuse());
        }
        let mut hash = [0; KEY_HASH_LEN];
        for (at, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * at..2 * at + 2], 16).map_err(|_| refuse())?;
        }
        Ok(Self { kind, hash })
    }
}

/// The UTC day (days since 1970-01-01) of an instant in nanoseconds since the epoch.
pub fn day_of(unix_nanos: i128) -> i64 {
    i64::try_from(unix_nanos.div_euclid(DAY_NANOS)).unwrap_or(i64::MAX)
}

/// The keys of an event, sorted and without duplicates:
///
/// - [`KeyKind::Epc`] for each identifier of `epcList`, `childEPCs`, `inputEPCList`,
///   `outputEPCList` and `parentID`; [`KeyKind::Parent`] for `parentID`;
/// - [`KeyKind::Class`] for the GTIN of each of those that is a GS1 trade item, and for each
///   `epcClass` of `quantityList`, `childQuantityList`, `inputQuantityList` and
///   `outputQuantityList` (its GTIN, or the class as written when it is not a GS1 class);
/// - [`KeyKind::Lot`] for each such class that names a lot (an LGTIN), and for the ILMD's
///   `lotNumber` (a string) with the GTIN of each EPC of the event;
/// - [`KeyKind::LocationDay`] for `readPoint.id` and `bizLocation.id` on the UTC day of
///   `eventTime` (none when the event has no valid `eventTime`).
///
/// Members of the wrong type are skipped: the index reads what ingest accepted.
pub fn keys_of_event(event: &Map<String, Value>) -> Vec<IndexKey> {
    let classes = QUANTITY_MEMBERS
        .into_iter()
        .flat_map(|member| event.get(member).and_then(Value::as_array))
        .flatten()
        .filter_map(|quantity| quantity.get("epcClass").and_then(Value::as_str));
    let lot_number = event
        .get("ilmd")
        .and_then(Value::as_object)
        .and_then(|ilmd| LOT_NUMBER_NAMES.iter().find_map(|name| ilmd.get(*name)))
        .and_then(Value::as_str);
    let place = |name: &str| {
        event
            .get(name)
            .and_then(|place| place.get("id"))
            .and_then(Value::as_str)
    };
    keys_from(
        EPC_MEMBERS
            .into_iter()
            .flat_map(|member| text_list(event, member)),
        event.get("parentID").and_then(Value::as_str),
        classes,
        lot_number,
        [place("readPoint"), place("bizLocation")],
        crate::history::event_time(event),
    )
}

/// The keys of an event as `epcis` parsed it: the same as [`keys_of_event`] of its JSON object,
/// without building that object.
pub fn keys_of_parsed(event: &epcis::document::Event) -> Vec<IndexKey> {
    keys_from(
        event
            .epc_list()
            .chain(event.child_epcs())
            .chain(event.input_epc_list())
            .chain(event.output_epc_list()),
        event.parent_id(),
        event
            .quantities()
            .filter_map(|(_, quantity)| quantity.epc_class()),
        LOT_NUMBER_NAMES
            .iter()
            .find_map(|name| event.ilmd_str(name)),
        [event.read_point(), event.biz_location()],
        event
            .event_time()
            .map(epcis::document::Timestamp::unix_nanos),
    )
}

/// The keys of an event from the members they come from: the identifiers of its EPC lists, its
/// `parentID`, its quantities' classes, its ILMD lot number, its two places and its event time.
fn keys_from<'a>(
    epcs: impl Iterator<Item = &'a str>,
    parent: Option<&'a str>,
    classes: impl Iterator<Item = &'a str>,
    lot_number: Option<&str>,
    places: [Option<&str>; 2],
    event_nanos: Option<i128>,
) -> Vec<IndexKey> {
    let mut keys = Vec::new();
    let mut gtins = Vec::new();
    for id in epcs.chain(parent) {
        let canonical = canonical_identifier(id);
        keys.push(IndexKey::of_name(KeyKind::Epc, canonical.as_bytes()));
        if let Some((gtin, lot)) = canonical_gtin_and_lot(&canonical) {
            keys.extend(IndexKey::gtin(&gtin));
            if let Some(lot) = lot {
                keys.extend(IndexKey::lot(&gtin, &lot));
            }
            gtins.push(gtin);
        }
    }
    if let Some(parent) = parent {
        keys.push(IndexKey::parent(parent));
    }
    for class in classes {
        match gtin_and_lot(class) {
            Some((gtin, lot)) => {
                keys.extend(IndexKey::gtin(&gtin));
                if let Some(lot) = lot {
                    keys.extend(IndexKey::lot(&gtin, &lot));
                }
            }
            None => keys.push(IndexKey::other_class(class)),
        }
    }
    if let Some(lot) = lot_number {
        keys.extend(gtins.iter().filter_map(|gtin| IndexKey::lot(gtin, lot)));
    }
    if let Some(day) = event_nanos.map(day_of) {
        keys.extend(
            places
                .into_iter()
                .flatten()
                .map(|id| IndexKey::location_day(id, day)),
        );
    }
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The keys of an event's JSON text; `None` when it is not a JSON object.
pub fn keys_of_json(text: &str) -> Option<Vec<IndexKey>> {
    match serde_json::from_str::<Value>(text).ok()? {
        Value::Object(event) => Some(keys_of_event(&event)),
        _ => None,
    }
}

fn is_gtin14(gtin: &str) -> bool {
    gtin.len() == 14 && gtin.bytes().all(|byte| byte.is_ascii_digit())
}

/// The GTIN (14 digits) of an identifier or class that is a GS1 trade item (an SGTIN, an LGTIN,
/// a GTIN class or their Digital Links), with its lot when it names one.
pub(crate) fn gtin_and_lot(id: &str) -> Option<(String, Option<String>)> {
    canonical_gtin_and_lot(&canonical_identifier(id))
}

/// [`gtin_and_lot`] of an identifier already in canonical form. The canonical form of a GS1
/// trade item is `https://id.gs1.org/01/<14 digits>` and its key qualifiers: the GTIN is read off
/// the text, and only a lot (`/10/`, percent-encoded) needs the Digital Link parsed.
fn canonical_gtin_and_lot(canonical: &str) -> Option<(String, Option<String>)> {
    let rest = canonical.strip_prefix("https://id.gs1.org/01/")?;
    let gtin = rest.get(..14)?;
    if !is_gtin14(gtin) || !(rest.len() == 14 || rest[14..].starts_with('/')) {
        return None;
    }
    let lot = if rest[14..].contains("/10/") {
        DigitalLink::parse(canonical)
            .ok()?
            .qualifier("10")
            .map(str::to_owned)
    } else {
        None
    };
    Some((gtin.to_owned(), lot))
}
