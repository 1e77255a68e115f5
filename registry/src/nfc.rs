//! NFC tags (`nfc_tags`, V16): which NTAG 424 DNA tag is attached to which item under which key
//! version, registered by an administrator (`tagtrail nfc register`), and the counter of the last
//! tap trace-api accepted from each (`accept_tap`). The SUN message itself is checked with the
//! keys (`ledger::nfc`) before a tap reaches the database.

use ledger::nfc::{Refusal, Tap, TapCheck, Uid};
use tokio_postgres::GenericClient;

/// The spelling of an item a tag is registered for: its canonical GS1 Digital Link.
pub const ITEM_PREFIX: &str = "https://id.gs1.org/";

/// Whether `link` is the canonical Digital Link of what a consumer scans: a trade item with its
/// serial (`/01/{gtin}/21/{serial}`) or a logistic unit (`/00/{sscc}`), not a class, a lot or a
/// location.
pub fn is_scanned_item(link: &str) -> bool {
    let Some(path) = link.strip_prefix(ITEM_PREFIX) else {
        return false;
    };
    link.len() <= 512
        && (path.starts_with("00/")
            || (path.starts_with("01/") && path.split('/').nth(2) == Some("21")))
}

/// Why a tag was not registered.
#[derive(Debug, thiserror::Error)]
pub enum TagError {
    #[error(
        "tag {uid} is registered for {item} under key version {version}: a re-programmed tag is registered under a newer key version than {version}"
    )]
    NotNewer {
        uid: Uid,
        item: String,
        version: u16,
    },
    #[error(
        "{0} is not the canonical GS1 Digital Link of one item ({ITEM_PREFIX}01/{{gtin}}/21/{{serial}} or {ITEM_PREFIX}00/{{sscc}})"
    )]
    Item(String),
    #[error("database query failed")]
    Query(#[from] tokio_postgres::Error),
}

/// A registered tag, as `tagtrail nfc list` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagRecord {
    pub uid: Uid,
    pub item: String,
    pub key_version: u16,
    /// The counter of the last tap accepted under this key version, if any was.
    pub last_counter: Option<u32>,
}

/// What registering did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registered {
    /// The tag is new.
    New,
    /// It was registered already, for this item under this key version: nothing changed.
    Unchanged,
    /// It was registered under an older key version (re-programmed): its counter starts again.
    Reprogrammed { from: u16 },
}

/// Registers the tag `uid` as attached to `item` (its canonical Digital Link) under
/// `key_version`. A tag already registered is registered again only under a newer key version:
/// an older or equal one could make URLs read from it before it was re-programmed verify again.
/// Running the same registration twice changes nothing.
pub async fn register_tag<C: GenericClient>(
    client: &C,
    uid: Uid,
    item: &str,
    key_version: u16,
) -> Result<Registered, TagError> {
    if !is_scanned_item(item) {
        return Err(TagError::Item(item.chars().take(512).collect()));
    }
    let version = i32::from(key_version);
    // One statement: an insert, or an update that takes only a newer version. The old row's
    // version comes back either way (NULL for a new tag).
    let row = client
        .query_one(
            "WITH old AS (SELECT item, key_version FROM nfc_tags WHERE uid = $1),
                  put AS (
                      INSERT INTO nfc_tags (uid, item, key_version) VALUES ($1, $2, $3)
                      ON CONFLICT (uid) DO UPDATE
                      SET item = excluded.item, key_version = excluded.key_version,
                          last_counter = -1, last_tap_at = NULL, registered_at = now()
                      WHERE nfc_tags.key_version < excluded.key_version
                      RETURNING 1)
             SELECT (SELECT item FROM old), (SELECT key_version FROM old), EXISTS (SELECT 1 FROM put)",
            &[&uid.0.as_slice(), &item, &version],
        )
        .await?;
    let old_item: Option<String> = row.get(0);
    let old_version: Option<i32> = row.get(1);
    let written: bool = row.get(2);
    let old_version = old_version.map(|v| u16::try_from(v).unwrap_or(u16::MAX));
    match (old_item, old_version, written) {
        (None, _, _) => Ok(Registered::New),
        (Some(_), Some(from), true) => Ok(Registered::Reprogrammed { from }),
        (Some(old), Some(from), false) if old == item && from == key_version => {
            Ok(Registered::Unchanged)
        }
        (Some(old), from, _) => Err(TagError::NotNewer {
            uid,
            item: old,
            version: from.unwrap_or_default(),
        }),
    }
}

/// Every registered tag, by UID.
pub async fn list_tags<C: GenericClient>(client: &C) -> Result<Vec<TagRecord>, TagError> {
    let rows = client
        .query(
            "SELECT uid, item, key_version, last_counter FROM nfc_tags ORDER BY uid",
            &[],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let uid: &[u8] = row.get(0);
            let counter: i32 = row.get(3);
            Some(TagRecord {
                uid: Uid(uid.try_into().ok()?),
                item: row.get(1),
                key_version: u16::try_from(row.get::<_, i32>(2)).ok()?,
                last_counter: u32::try_from(counter).ok(),
            })
        })
        .collect())
}

/// Accepts a tap whose SUN message verified (`tap`) for the item named by `names` (the scanned
/// item's identifiers): the tag must be registered under the tap's key version for one of them,
/// and its counter must be greater than the last accepted, which it then becomes. Checking and
/// storing the counter is one statement: of two requests with one counter, one is accepted and
/// the other is a replay.
pub async fn accept_tap<C: GenericClient>(
    client: &C,
    tap: &Tap,
    names: &[String],
) -> Result<TapCheck, tokio_postgres::Error> {
    let counter = i32::try_from(tap.counter).unwrap_or(i32::MAX);
    let row = client
        .query_opt(
            "WITH tag AS (SELECT item, key_version, last_counter FROM nfc_tags WHERE uid = $1),
                  won AS (
                      UPDATE nfc_tags SET last_counter = $3, last_tap_at = now()
                      WHERE uid = $1 AND key_version = $2 AND item = ANY($4) AND last_counter < $3
                      RETURNING 1)
             SELECT item, key_version, last_counter, EXISTS (SELECT 1 FROM won) FROM tag",
            &[
                &tap.uid.0.as_slice(),
                &i32::from(tap.version),
                &counter,
                &names,
            ],
        )
        .await?;
    let Some(row) = row else {
        return Ok(TapCheck::Refused(Refusal::Unregistered));
    };
    let item: String = row.get(0);
    let version: i32 = row.get(1);
    let last: i32 = row.get(2);
    let won: bool = row.get(3);
    Ok(if version != i32::from(tap.version) {
        TapCheck::Refused(Refusal::Unregistered)
    } else if !names.contains(&item) {
        TapCheck::Refused(Refusal::OtherItem)
    } else if won {
        TapCheck::Accepted {
            uid: tap.uid,
            counter: tap.counter,
        }
    } else {
        // The row as this statement first read it: a request that lost to a concurrent one
        // with the same counter read the counter before the winner moved it.
        TapCheck::Replayed {
            uid: tap.uid,
            counter: tap.counter,
            last: u32::try_from(last).unwrap_or(0).max(tap.counter),
        }
    })
}
