//! Consumers' scans (`consumer_scans`, V17): what trace-api keeps of each scan of an item's link
//! so that the verdict can see one serial scanned where one object cannot be, and nothing
//! personal: the item, the time rounded down to [`TIME_ROUNDING_SECONDS`], how it was scanned, a
//! coarse region code and a one-degree cell, each only when the edge gave one. Written in batches
//! and expired by trace-api (`[scans]`).

use ledger::verdict::ScanHow;
use tokio_postgres::GenericClient;

/// Scan times are kept rounded down to this many seconds (15 minutes).
pub const TIME_ROUNDING_SECONDS: i64 = 15 * 60;

/// The most link scans (QR) of one item a verdict reads (the newest).
pub const MAX_RECENT: i64 = 256;

/// The most taps of one item a verdict reads (the newest), apart from its link scans.
pub const MAX_RECENT_TAPS: i64 = 64;

/// How a scan's kind is kept.
fn kind_text(how: ScanHow) -> &'static str {
    match how {
        ScanHow::Qr => "qr",
        ScanHow::Nfc => "nfc",
    }
}

fn kind_of(text: &str) -> Option<ScanHow> {
    match text {
        "qr" => Some(ScanHow::Qr),
        "nfc" => Some(ScanHow::Nfc),
        _ => None,
    }
}

/// A one-degree cell of the globe: the whole degrees of its south-west corner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cell {
    pub latitude: i16,
    pub longitude: i16,
}

impl Cell {
    /// The cell a position falls in; `None` for a position that is not one.
    pub fn of(latitude: f64, longitude: f64) -> Option<Self> {
        if !(-90.0..=90.0).contains(&latitude) || !(-180.0..=180.0).contains(&longitude) {
            return None;
        }
        // The poles and the antimeridian fall in the cells below and west of them.
        let latitude = (latitude.floor() as i16).min(89);
        let longitude = (longitude.floor() as i16).min(179);
        Some(Self {
            latitude,
            longitude,
        })
    }

    /// Its centre.
    pub fn centre(self) -> ledger::verdict::Place {
        ledger::verdict::Place {
            latitude: f64::from(self.latitude) + 0.5,
            longitude: f64::from(self.longitude) + 0.5,
        }
    }
}

/// Whether `code` is a region code as kept: two capital letters (ISO 3166-1 alpha-2), with an
/// optional subdivision (`-` and 1 to 3 capital letters or digits, ISO 3166-2).
pub fn is_region(code: &str) -> bool {
    let (country, subdivision) = code.split_once('-').unwrap_or((code, ""));
    country.len() == 2
        && country.bytes().all(|b| b.is_ascii_uppercase())
        && (code.len() == 2
            || ((1..=3).contains(&subdivision.len())
                && subdivision
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())))
}

/// A scan to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewScan {
    /// The item's canonical GS1 Digital Link.
    pub item: String,
    /// When, in Unix seconds (rounded down when kept).
    pub at: i64,
    pub kind: ScanHow,
    /// A region code ([`is_region`]); others are not kept.
    pub region: Option<String>,
    pub cell: Option<Cell>,
}

/// A kept scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptScan {
    pub id: u64,
    /// When, in Unix seconds, rounded down to [`TIME_ROUNDING_SECONDS`].
    pub at: i64,
    pub kind: ScanHow,
    pub region: Option<String>,
    pub cell: Option<Cell>,
}

/// `at` rounded down as scans are kept.
pub fn rounded(at: i64) -> i64 {
    at - at.rem_euclid(TIME_ROUNDING_SECONDS)
}

/// Keeps `scans` in one statement; returns how many were kept.
pub async fn record_scans<C: GenericClient>(
    client: &C,
    scans: &[NewScan],
) -> Result<u64, tokio_postgres::Error> {
    let items: Vec<&str> = scans.iter().map(|scan| scan.item.as_str()).collect();
    let times: Vec<i64> = scans.iter().map(|scan| rounded(scan.at)).collect();
    let kinds: Vec<&str> = scans.iter().map(|scan| kind_text(scan.kind)).collect();
    let regions: Vec<Option<&str>> = scans
        .iter()
        .map(|scan| scan.region.as_deref().filter(|code| is_region(code)))
        .collect();
    let latitudes: Vec<Option<i16>> = scans
        .iter()
        .map(|scan| scan.cell.map(|cell| cell.latitude))
        .collect();
    let longitudes: Vec<Option<i16>> = scans
        .iter()
        .map(|scan| scan.cell.map(|cell| cell.longitude))
        .collect();
    client
        .execute(
            "INSERT INTO consumer_scans
                 (item, scanned_at, kind, region, cell_latitude, cell_longitude)
             SELECT item, to_timestamp(at), kind, region, latitude, longitude
             FROM unnest($1::text[], $2::int8[], $3::text[], $4::text[], $5::int2[], $6::int2[])
                 AS scan (item, at, kind, region, latitude, longitude)",
            &[&items, &times, &kinds, &regions, &latitudes, &longitudes],
        )
        .await
}

/// Deletes at most `limit` of the scans kept longer than `seconds` (the oldest first); returns
/// how many. Bounded, so that each statement stays short however many expired at once: call it
/// again while it deletes `limit`.
pub async fn expire_scans<C: GenericClient>(
    client: &C,
    seconds: i64,
    limit: i64,
) -> Result<u64, tokio_postgres::Error> {
    client
        .execute(
            "DELETE FROM consumer_scans WHERE scan_id IN (
                 SELECT scan_id FROM consumer_scans
                 WHERE scanned_at < now() - make_interval(secs => $1)
                 ORDER BY scanned_at LIMIT $2)",
            &[&(seconds as f64), &limit],
        )
        .await
}

/// The newest link scans of `item` (at most [`MAX_RECENT`]) and, apart from them, its newest taps
/// (at most [`MAX_RECENT_TAPS`]): a flood of link scans cannot push the taps out.
pub async fn recent_scans<C: GenericClient>(
    client: &C,
    item: &str,
) -> Result<Vec<KeptScan>, tokio_postgres::Error> {
    let rows = client
        .query(
            "(SELECT scan_id, extract(epoch FROM scanned_at)::int8, kind, region,
                     cell_latitude, cell_longitude
              FROM consumer_scans WHERE item = $1 AND kind = 'nfc'
              ORDER BY scanned_at DESC, scan_id DESC LIMIT $3)
             UNION ALL
             (SELECT scan_id, extract(epoch FROM scanned_at)::int8, kind, region,
                     cell_latitude, cell_longitude
              FROM consumer_scans WHERE item = $1 AND kind = 'qr'
              ORDER BY scanned_at DESC, scan_id DESC LIMIT $2)",
            &[&item, &MAX_RECENT, &MAX_RECENT_TAPS],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let latitude: Option<i16> = row.get(4);
            let longitude: Option<i16> = row.get(5);
            Some(KeptScan {
                id: u64::try_from(row.get::<_, i64>(0)).ok()?,
                at: row.get(1),
                kind: kind_of(row.get(2))?,
                region: row.get(3),
                cell: latitude.zip(longitude).map(|(latitude, longitude)| Cell {
                    latitude,
                    longitude,
                }),
            })
        })
        .collect())
}
