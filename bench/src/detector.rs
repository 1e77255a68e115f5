//! The consumer verdict measured as a detector of copied labels (`ledger::verdict`), on a
//! simulated supply chain of our own: a brand's factory in Shenzhen, a carrier's hubs and
//! regional warehouses in Europe and North America, a retailer's stores, and consumers.
//!
//! Every item is commissioned at the factory with its tag's chip id (TID) recorded, shipped to a
//! hub, a regional warehouse and a store, sold, and then often scanned by its buyer. Each
//! reader sighting (door reads at every hand-over, weekly cycle counts, the store's exit door)
//! happens with the **read rate**; the sale is a till transaction and always recorded. Readers
//! fail as readers do: 2 % of events are stamped five hours early (a clock on local time written
//! as UTC), 1 % reach the log one to three days late (a reader offline), and log order is the
//! order events reach it. Some deliveries go to the wrong store first and are sent on; 2 % of
//! items go back from the hub to the factory and are shipped again (a return to the vendor, a
//! hand-over each way); some sold items are returned and sold again; some buyers open the link abroad (a gift), and some serials get a flood of link scans
//! from all over the world (a code posted online). Three items in ten carry an NTAG 424 DNA tag,
//! whose buyers tap it instead of scanning the printed code. Nobody is anybody's delegate:
//! custody passes only by the hand-overs the events state, so a missed door read at a hand-over
//! leaves the next party's changes without authority (they count as sightings).
//!
//! A **copy** is a second object carrying a genuine item's EPC, put into the chain at one tier
//! (a hub, a warehouse, a store, or sold straight to consumers), in either region, at a random
//! time of the genuine item's life, and then handled like a genuine item from there. Kinds:
//! - `new chip`: the EPC written to another tag, whose own TID readers record;
//! - `cloned TID`: a tag that also answers with the genuine TID (chip emulators);
//! - `printed code`: no RFID tag, only the printed link copied (seen only through consumers'
//!   scans; for an item with an NFC tag, a static tag replaying a tap URL read off the genuine
//!   tag).
//!
//! A copy counts as **caught** when the verdict, judged as the consumer or reader saw it at the
//! copy's second observation (a reader's sighting or a consumer's scan), is `suspicious`; copies
//! observed fewer than twice are not counted. A genuine item counts as **wrongly flagged** when
//! the verdict at any of its buyers' scans, or at the end, is `suspicious`.

use std::collections::BTreeMap;

use epcis::epc::CompanyPrefix;
use ledger::history::{Judge, Memory, Parties, SourceEvent, in_memory};
use ledger::nfc::{TapCheck, Uid};
use ledger::verdict::{
    BRIDGE_NAMESPACE, ConsumerScan, Facts, Place, SCAN_TIME_SLACK_SECONDS, ScanHow, Verdict, judge,
};
use ledger::{LeafIndex, OrganisationId, UnixMillis};
use serde_json::{Map, Value, json};

/// Deterministic randomness (SplitMix64): a run is reproduced by its seed.
#[derive(Debug, Clone)]
pub struct Rng(ledger::draw::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(ledger::draw::SplitMix64::new(seed))
    }

    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `[0, 1)`.
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn between(&mut self, low: f64, high: f64) -> f64 {
        low + (high - low) * self.unit()
    }

    fn pick<'a, T>(&mut self, from: &'a [T]) -> &'a T {
        &from[(self.next() % from.len() as u64) as usize]
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Region {
    Europe,
    America,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tier {
    Factory,
    Hub,
    Warehouse,
    Store,
}

struct Site {
    organisation: &'static str,
    location: &'static str,
    latitude: f64,
    longitude: f64,
    region: Region,
    tier: Tier,
}

const fn site(
    organisation: &'static str,
    location: &'static str,
    (latitude, longitude): (f64, f64),
    region: Region,
    tier: Tier,
) -> Site {
    Site {
        organisation,
        location,
        latitude,
        longitude,
        region,
        tier,
    }
}

use Region::{America, Europe};
use Tier::{Factory, Hub, Store, Warehouse};

/// The supply chain: the brand's factory, the carrier's hubs and warehouses, the retailer's
/// stores (real cities' coordinates).
static SITES: &[Site] = &[
    site(
        "brand",
        "urn:epc:id:sgln:0614141.00001.0",
        (22.54, 114.06),
        Europe,
        Factory,
    ),
    site(
        "carrier",
        "urn:epc:id:sgln:0712345.00001.0",
        (51.92, 4.48),
        Europe,
        Hub,
    ),
    site(
        "carrier",
        "urn:epc:id:sgln:0712345.00002.0",
        (33.74, -118.27),
        America,
        Hub,
    ),
    site(
        "carrier",
        "urn:epc:id:sgln:0712345.00011.0",
        (50.11, 8.68),
        Europe,
        Warehouse,
    ),
    site(
        "carrier",
        "urn:epc:id:sgln:0712345.00012.0",
        (45.76, 4.84),
        Europe,
        Warehouse,
    ),
    site(
        "carrier",
        "urn:epc:id:sgln:0712345.00021.0",
        (41.88, -87.63),
        America,
        Warehouse,
    ),
    site(
        "carrier",
        "urn:epc:id:sgln:0712345.00022.0",
        (32.78, -96.80),
        America,
        Warehouse,
    ),
    site(
        "retail",
        "urn:epc:id:sgln:0861234.00101.0",
        (52.37, 4.90),
        Europe,
        Store,
    ),
    site(
        "retail",
        "urn:epc:id:sgln:0861234.00102.0",
        (52.52, 13.40),
        Europe,
        Store,
    ),
    site(
        "retail",
        "urn:epc:id:sgln:0861234.00103.0",
        (48.86, 2.35),
        Europe,
        Store,
    ),
    site(
        "retail",
        "urn:epc:id:sgln:0861234.00104.0",
        (48.14, 11.58),
        Europe,
        Store,
    ),
    site(
        "retail",
        "urn:epc:id:sgln:0861234.00201.0",
        (40.71, -74.01),
        America,
        Store,
    ),
    site(
        "retail",
        "urn:epc:id:sgln:0861234.00202.0",
        (42.36, -71.06),
        America,
        Store,
    ),
    site(
        "retail",
        "urn:epc:id:sgln:0861234.00203.0",
        (29.76, -95.37),
        America,
        Store,
    ),
    site(
        "retail",
        "urn:epc:id:sgln:0861234.00204.0",
        (41.90, -87.65),
        America,
        Store,
    ),
];

fn sites(region: Region, tier: Tier) -> Vec<&'static Site> {
    SITES
        .iter()
        .filter(|site| site.tier == tier && (tier == Factory || site.region == region))
        .collect()
}

fn place_of(location: &str) -> Option<Place> {
    SITES
        .iter()
        .find(|site| site.location == location)
        .map(|site| Place {
            latitude: site.latitude,
            longitude: site.longitude,
        })
}

fn distance_km(from: &Site, to: &Site) -> f64 {
    let place = |site: &Site| Place {
        latitude: site.latitude,
        longitude: site.longitude,
    };
    place(from).kilometres_to(place(to))
}

/// Minutes to move goods from one site to another: by sea across oceans, by road otherwise,
/// plus handling.
fn transit_minutes(from: &Site, to: &Site, rng: &mut Rng) -> f64 {
    let km = distance_km(from, to);
    let kmh = if km > 3_000.0 { 30.0 } else { 60.0 };
    (km / kmh + rng.between(4.0, 24.0)) * 60.0
}

const MINUTE_NS: i128 = 60_000_000_000;
const DAY: f64 = 24.0 * 60.0;
/// 2026-01-01T00:00:00Z.
const START_MS: u64 = 1_767_225_600_000;

fn nanos(minutes: f64) -> i128 {
    i128::from(START_MS) * 1_000_000 + (minutes * MINUTE_NS as f64) as i128
}

/// One simulated event, before it is logged.
struct Happening {
    /// When it happened.
    minutes: f64,
    /// When it reached the log: a few minutes later, or days later from a reader that was
    /// offline (1 %). Log order is this order.
    logged: f64,
    organisation: &'static str,
    event: Map<String, Value>,
}

/// How a consumer's scan came in.
#[derive(Clone, Copy)]
enum Scan {
    /// The printed link.
    Link,
    /// A tap of a genuine NFC tag (its counter).
    Tap(u32),
    /// A copy's static tag replaying the tap URL with this counter.
    Replay(u32),
}

struct ConsumerScanAt {
    minutes: f64,
    how: Scan,
    latitude: f64,
    longitude: f64,
}

/// Everything observed of one serial (the genuine item, and its copy if it has one).
struct World {
    epc: String,
    happenings: Vec<Happening>,
    scans: Vec<ConsumerScanAt>,
    /// When each observation of the copy happened (reads and scans), in order of time.
    copy_observed: Vec<f64>,
    /// Whether the copy appeared after the genuine item was sold.
    copy_after_sale: bool,
}

/// Which copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CopyKind {
    NewChip,
    ClonedTid,
    PrintedCode,
}

impl CopyKind {
    pub const ALL: [CopyKind; 3] = [
        CopyKind::NewChip,
        CopyKind::ClonedTid,
        CopyKind::PrintedCode,
    ];

    pub fn name(self) -> &'static str {
        match self {
            CopyKind::NewChip => "new chip",
            CopyKind::ClonedTid => "cloned TID",
            CopyKind::PrintedCode => "printed code",
        }
    }
}

/// Where a copy enters the chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Entry {
    Hub,
    Warehouse,
    Store,
    Consumer,
}

impl Entry {
    pub const ALL: [Entry; 4] = [Entry::Hub, Entry::Warehouse, Entry::Store, Entry::Consumer];

    pub fn name(self) -> &'static str {
        match self {
            Entry::Hub => "hub",
            Entry::Warehouse => "warehouse",
            Entry::Store => "store",
            Entry::Consumer => "sold to consumers",
        }
    }
}

/// A run's settings.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Genuine items without a copy (the false-positive population).
    pub genuine: usize,
    /// Items with a copy, for each kind and entry.
    pub copies: usize,
    pub read_rate: f64,
    pub seed: u64,
}

/// What a run found.
#[derive(Debug, Default)]
pub struct Report {
    pub genuine: usize,
    pub genuine_flagged: usize,
    /// The rules behind wrongly flagged items.
    pub flagged_by: BTreeMap<&'static str, usize>,
    /// Per copy kind and entry: (copies observed at least twice, caught at the second
    /// observation, caught at the last).
    pub copies: BTreeMap<(CopyKind, Entry), (usize, usize, usize)>,
    /// Copies made, per kind (the observed-twice counts are of these).
    pub made: BTreeMap<CopyKind, usize>,
    /// Per copy kind and whether it appeared after the genuine item was sold: (observed twice,
    /// caught at the second observation).
    pub by_sale: BTreeMap<(CopyKind, bool), (usize, usize)>,
    /// The rules that caught copies, per kind.
    pub caught_by: BTreeMap<(CopyKind, &'static str), usize>,
}

impl Report {
    /// Copies of `kind` observed twice, caught at the second observation, and caught at the
    /// last, over every entry.
    pub fn caught(&self, kind: CopyKind) -> (usize, usize, usize) {
        self.copies
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .fold((0, 0, 0), |(n, c, l), (_, (seen, caught, last))| {
                (n + seen, c + caught, l + last)
            })
    }
}

/// The chip id of the genuine tag of item `n`, and of a copy's.
fn tid(n: usize, copy: bool) -> String {
    format!("E28011{:02X}{:016X}", u8::from(copy), n as u64 * 7_919 + 1)
}

struct Builder<'a> {
    rng: &'a mut Rng,
    read_rate: f64,
    epc: String,
    happenings: Vec<Happening>,
}

impl Builder<'_> {
    fn event(
        &mut self,
        minutes: f64,
        site: &'static Site,
        action: &str,
        step: &str,
        tid: Option<&str>,
    ) {
        // 2 % of readers' clocks run five hours behind (local time written as UTC).
        let stamped = match self.rng.chance(0.02) {
            true => minutes - 300.0,
            false => minutes,
        };
        let logged = minutes
            + match self.rng.chance(0.01) {
                true => self.rng.between(DAY, 3.0 * DAY),
                false => 5.0,
            };
        let time =
            UnixMillis::from_millis(START_MS + (stamped.max(0.0) * 60_000.0) as u64).to_rfc3339();
        let mut event = json!({
            "type": "ObjectEvent",
            "eventTime": time,
            "eventTimeZoneOffset": "+00:00",
            "epcList": [self.epc],
            "action": action,
            "readPoint": {"id": site.location},
            "bizLocation": {"id": site.location},
        })
        .as_object()
        .cloned()
        .unwrap_or_default();
        if !step.is_empty() {
            event.insert("bizStep".to_owned(), json!(step));
        }
        if let Some(tid) = tid {
            event.insert(
                "@context".to_owned(),
                json!([{"tagtrail": BRIDGE_NAMESPACE}]),
            );
            event.insert(
                "tagtrail:tids".to_owned(),
                json!([{"tagtrail:epc": self.epc, "tagtrail:tid": tid}]),
            );
        }
        self.happenings.push(Happening {
            minutes,
            logged,
            organisation: site.organisation,
            event,
        });
    }

    /// A reader's sighting, if the tag is read; true when it was.
    fn read(&mut self, minutes: f64, site: &'static Site, step: &str, tid: &str) -> bool {
        let read = self.rng.chance(self.read_rate);
        if read {
            self.event(minutes, site, "OBSERVE", step, Some(tid));
        }
        read
    }

    /// A reader's sighting of the object shipped from `site` to `to` (its `destinationList`
    /// naming `to`'s location: custody passes to a party a shipment names), if the tag is read;
    /// true when it was.
    fn ship(&mut self, minutes: f64, site: &'static Site, to: &'static Site, tid: &str) -> bool {
        let read = self.read(minutes, site, "shipping", tid);
        if read && let Some(shipped) = self.happenings.last_mut() {
            shipped.event.insert(
                "destinationList".to_owned(),
                json!([{"type": "location", "destination": to.location}]),
            );
        }
        read
    }

    /// Weekly cycle counts at `site` from `from` to `to`; the times of those read.
    fn shelf(&mut self, site: &'static Site, from: f64, to: f64, tid: &str) -> Vec<f64> {
        let mut read = Vec::new();
        let mut at = from + self.rng.between(0.0, 7.0 * DAY);
        while at < to {
            if self.read(at, site, "cycle_counting", tid) {
                read.push(at);
            }
            at += 7.0 * DAY;
        }
        read
    }

    /// The object's way from `entry` (a site of that tier, arriving at `at`) to a consumer: the
    /// reads on the way, the sale, and the minute and store of the sale.
    fn down_the_chain(
        &mut self,
        region: Region,
        mut site: &'static Site,
        mut at: f64,
        tid: &str,
        seen: &mut Vec<f64>,
    ) -> (f64, &'static Site) {
        let next = |tier: Tier| match tier {
            Factory => Some(Hub),
            Hub => Some(Warehouse),
            Warehouse => Some(Store),
            Store => None,
        };
        loop {
            if site.tier != Factory && self.read(at, site, "receiving", tid) {
                seen.push(at);
            }
            // A return to the vendor (2 % at the hub: damaged in transit): back to the factory,
            // inspected, shipped again; a hand-over each way, another organisation's.
            if site.tier == Hub && self.rng.chance(0.02) {
                let factory = &SITES[0];
                if self.ship(at, site, factory, tid) {
                    seen.push(at);
                }
                at += transit_minutes(site, factory, self.rng);
                if self.read(at, factory, "receiving", tid) {
                    seen.push(at);
                }
                let inspected = self.rng.between(DAY, 3.0 * DAY);
                seen.extend(self.shelf(factory, at, at + inspected, tid));
                at += inspected;
                if self.ship(at, factory, site, tid) {
                    seen.push(at);
                }
                at += transit_minutes(factory, site, self.rng);
                if self.read(at, site, "receiving", tid) {
                    seen.push(at);
                }
            }
            let Some(tier) = next(site.tier) else {
                break;
            };
            let dwell = match site.tier {
                Factory | Hub => self.rng.between(0.5 * DAY, 3.0 * DAY),
                _ => self.rng.between(2.0 * DAY, 10.0 * DAY),
            };
            seen.extend(self.shelf(site, at, at + dwell, tid));
            at += dwell;
            let to = *self.rng.pick(&sites(region, tier));
            if self.ship(at, site, to, tid) {
                seen.push(at);
            }
            // A misdelivery: to another store first, which sends it on.
            if tier == Store && self.rng.chance(0.03) {
                let wrong = *self.rng.pick(&sites(region, Store));
                if !std::ptr::eq(wrong, to) {
                    at += transit_minutes(site, wrong, self.rng);
                    if self.read(at, wrong, "receiving", tid) {
                        seen.push(at);
                    }
                    at += self.rng.between(0.5 * DAY, 2.0 * DAY);
                    if self.ship(at, wrong, to, tid) {
                        seen.push(at);
                    }
                    site = wrong;
                }
            }
            at += transit_minutes(site, to, self.rng);
            site = to;
        }
        // On the shelf, then sold (the till always records it) and out of the door.
        let shelf = self.rng.between(1.0 * DAY, 30.0 * DAY);
        seen.extend(self.shelf(site, at, at + shelf, tid));
        at += shelf;
        self.event(at, site, "OBSERVE", "retail_selling", None);
        seen.push(at);
        let out = at + self.rng.between(1.0, 20.0);
        // The exit door's reader: a sighting with no business step.
        if self.read(out, site, "", tid) {
            seen.push(out);
        }
        (at, site)
    }
}

/// A consumer's scans of an object bought at `store` at `sold`: none, or one to three, near the
/// store, or (a gift) on the other continent after a few days. `how` gives each scan's kind.
fn buyer_scans(
    rng: &mut Rng,
    store: &Site,
    sold: f64,
    mut how: impl FnMut(&mut Rng) -> Scan,
) -> Vec<ConsumerScanAt> {
    if !rng.chance(0.6) {
        return Vec::new();
    }
    let abroad = rng.chance(0.05);
    let count = 1 + (rng.next() % 3) as usize;
    let mut at = sold + rng.between(10.0, 3.0 * DAY);
    let mut scans = Vec::new();
    for _ in 0..count {
        let (latitude, longitude) = if abroad && at > sold + 2.0 * DAY {
            (-33.87, 151.21) // Sydney
        } else {
            (
                store.latitude + rng.between(-0.3, 0.3),
                store.longitude + rng.between(-0.3, 0.3),
            )
        };
        scans.push(ConsumerScanAt {
            minutes: at,
            how: how(rng),
            latitude,
            longitude,
        });
        at += rng.between(60.0, 20.0 * DAY);
        if abroad {
            at = at.max(sold + 3.0 * DAY);
        }
    }
    scans
}

/// The genuine item `n`'s life; its sale's minute and store, and whether it carries an NFC tag.
fn genuine_life(rng: &mut Rng, read_rate: f64, n: usize) -> (World, f64, bool) {
    let epc = format!("urn:epc:id:sgtin:0614141.112345.{n}");
    let region = if rng.chance(0.5) { Europe } else { America };
    let factory = &SITES[0];
    let tid = tid(n, false);
    let mut builder = Builder {
        rng,
        read_rate,
        epc: epc.clone(),
        happenings: Vec::new(),
    };
    let made = builder.rng.between(0.0, 30.0 * DAY);
    builder.event(made, factory, "ADD", "commissioning", Some(&tid));
    let mut seen = Vec::new();
    let (mut sold, store) = builder.down_the_chain(region, factory, made, &tid, &mut seen);
    // A return: taken back at the till, on the shelf again, sold again.
    if builder.rng.chance(0.05) {
        let back = sold + builder.rng.between(1.0 * DAY, 14.0 * DAY);
        builder.event(back, store, "OBSERVE", "receiving", None);
        let shelf = builder.rng.between(1.0 * DAY, 10.0 * DAY);
        builder.shelf(store, back, back + shelf, &tid);
        sold = back + shelf;
        builder.event(sold, store, "OBSERVE", "retail_selling", None);
    }
    let happenings = builder.happenings;
    let nfc = rng.chance(0.3);
    let mut counter = 0;
    let mut scans = buyer_scans(rng, store, sold, |_| {
        if nfc {
            counter += 1;
            Scan::Tap(counter)
        } else {
            Scan::Link
        }
    });
    // A code posted online: two hundred link scans from all over the world in a day.
    if rng.chance(0.01) {
        let from = sold + rng.between(DAY, 20.0 * DAY);
        for _ in 0..200 {
            scans.push(ConsumerScanAt {
                minutes: from + rng.between(0.0, DAY),
                how: Scan::Link,
                latitude: rng.between(-50.0, 60.0),
                longitude: rng.between(-180.0, 180.0),
            });
        }
    }
    let world = World {
        epc,
        happenings,
        scans,
        copy_observed: Vec::new(),
        copy_after_sale: false,
    };
    (world, sold, nfc)
}

/// Item `n` with a copy of `kind` entering at `entry`.
fn copied_life(rng: &mut Rng, read_rate: f64, n: usize, kind: CopyKind, entry: Entry) -> World {
    let (mut world, sold, nfc) = genuine_life(rng, read_rate, n);
    let made = world.happenings[0].minutes;
    // The copy appears while the genuine item exists: from a day after it was made to a month
    // after it was sold.
    let at = rng.between(made + DAY, sold + 30.0 * DAY);
    let region = if rng.chance(0.5) { Europe } else { America };
    let tid = match kind {
        CopyKind::NewChip => Some(tid(n, true)),
        CopyKind::ClonedTid => Some(tid(n, false)),
        CopyKind::PrintedCode => None,
    };
    let mut seen = Vec::new();
    let (copy_sold, store) = match (&tid, entry) {
        (Some(tid), Entry::Hub | Entry::Warehouse | Entry::Store) => {
            let tier = match entry {
                Entry::Hub => Hub,
                Entry::Warehouse => Warehouse,
                _ => Store,
            };
            let site = *rng.pick(&sites(region, tier));
            let mut builder = Builder {
                rng,
                read_rate,
                epc: world.epc.clone(),
                happenings: Vec::new(),
            };
            let done = builder.down_the_chain(region, site, at, tid, &mut seen);
            world.happenings.extend(builder.happenings);
            done
        }
        // Sold to consumers directly (a market stall, a web shop), or a printed copy: no reader
        // ever sees it.
        _ => (at, *rng.pick(&sites(region, Store))),
    };
    // The copy's buyers scan it: the printed link, or (an item with an NFC tag) the copy's own
    // tag, which can only replay a tap URL read off the genuine tag before the copy was made.
    let captured = world
        .scans
        .iter()
        .filter(|scan| scan.minutes < at && matches!(scan.how, Scan::Tap(_)))
        .count() as u32
        + 1;
    // Reading the tag moved its counter on: the genuine buyer's later taps count from there.
    for scan in world.scans.iter_mut().filter(|scan| scan.minutes >= at) {
        if let Scan::Tap(counter) = &mut scan.how {
            *counter += 1;
        }
    }
    // An item with an NFC tag: a copy needs one too, and can only replay.
    let copy_tags = nfc;
    let mut copy_scans = buyer_scans(rng, store, copy_sold, |_| match copy_tags {
        true => Scan::Replay(captured),
        false => Scan::Link,
    });
    // Copies are bought to be checked: every copy's buyer scans it at least once.
    if copy_scans.is_empty() {
        copy_scans.push(ConsumerScanAt {
            minutes: copy_sold + rng.between(60.0, 3.0 * DAY),
            how: if copy_tags {
                Scan::Replay(captured)
            } else {
                Scan::Link
            },
            latitude: store.latitude,
            longitude: store.longitude,
        });
    }
    seen.extend(copy_scans.iter().map(|scan| scan.minutes));
    world.scans.extend(copy_scans);
    seen.sort_by(f64::total_cmp);
    world.copy_observed = seen;
    world.copy_after_sale = at > sold;
    world
}

/// The registry: who owns which prefix. Nobody is anybody's delegate: custody passes only by
/// the hand-overs the events state.
fn parties() -> Parties {
    let organisation = |id: &str| OrganisationId::parse(id).ok();
    let mut parties = Parties::new();
    for (id, prefix) in [
        ("brand", "0614141"),
        ("carrier", "0712345"),
        ("retail", "0861234"),
    ] {
        if let (Some(organisation), Ok(prefix)) = (organisation(id), CompanyPrefix::parse(prefix)) {
            parties.add_prefix(organisation, prefix);
        }
    }
    parties
}

/// The verdict on the serial as a consumer's scan (or a reader's sighting) at `until` sees it:
/// every event and scan up to then; the scan at `until`, if any, is the one answered. Its
/// suspicious reasons' codes.
fn judged(
    world: &World,
    parties: &Parties,
    until: f64,
    current: Option<usize>,
) -> Vec<&'static str> {
    let mut happenings: Vec<&Happening> = world
        .happenings
        .iter()
        .filter(|happening| happening.logged <= until)
        .collect();
    happenings.sort_by(|a, b| a.logged.total_cmp(&b.logged));
    let memory = Memory::new(
        happenings
            .iter()
            .enumerate()
            .filter_map(|(leaf, happening)| {
                let mut source = SourceEvent::of(
                    LeafIndex::new(leaf as u64).ok()?,
                    happening.event.clone(),
                    OrganisationId::parse(happening.organisation).ok(),
                    None,
                );
                source.captured = Some(nanos(happening.logged));
                Some(source)
            }),
    );
    let Some(history) = in_memory(
        &memory,
        vec![world.epc.clone()],
        Judge::Parties(parties),
        10_000,
    ) else {
        return vec!["history_not_built"];
    };
    // Taps accepted before: the last counter.
    let mut last = 0;
    let mut tap = None;
    let mut scans = Vec::new();
    let mut order: Vec<usize> = (0..world.scans.len())
        .filter(|at| world.scans[*at].minutes <= until)
        .collect();
    order.sort_by(|a, b| world.scans[*a].minutes.total_cmp(&world.scans[*b].minutes));
    let uid = Uid([4, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]);
    for at in order {
        let scan = &world.scans[at];
        let check = match scan.how {
            Scan::Link => None,
            Scan::Tap(counter) | Scan::Replay(counter) if counter > last => {
                last = counter;
                Some(TapCheck::Accepted { uid, counter })
            }
            Scan::Tap(counter) | Scan::Replay(counter) => {
                Some(TapCheck::Replayed { uid, counter, last })
            }
        };
        let how = match check {
            Some(TapCheck::Accepted { .. }) => ScanHow::Nfc,
            _ => ScanHow::Qr,
        };
        let slack = SCAN_TIME_SLACK_SECONDS * 1_000_000_000;
        scans.push(ConsumerScan {
            id: (Some(at) != current).then_some(at as u64),
            time: nanos(scan.minutes).div_euclid(slack) * slack,
            how,
            place: Some(Place {
                latitude: scan.latitude.floor() + 0.5,
                longitude: scan.longitude.floor() + 0.5,
            }),
        });
        if Some(at) == current {
            tap = check;
        }
    }
    let names = [world.epc.clone()];
    let judgement = judge(&Facts {
        history: &history,
        names: &names,
        refused: None,
        anchored: Some(u64::MAX),
        place: &place_of,
        withdrawn: &|_| false,
        unbound: &|_| false,
        tap: tap.as_ref(),
        scans: &scans,
        classes: &[],
        class_recalls: Ok(&[]),
        class_link: false,
    });
    match judgement.verdict {
        Verdict::Suspicious => judgement
            .reasons
            .iter()
            .filter(|reason| reason.weight == ledger::verdict::Weight::Suspicious)
            .map(|reason| reason.code)
            .collect(),
        _ => Vec::new(),
    }
}

/// One run.
pub fn run(settings: Settings) -> Report {
    let mut rng = Rng::new(settings.seed);
    let parties = parties();
    let mut report = Report::default();
    for n in 0..settings.genuine {
        let (world, _, _) = genuine_life(&mut rng, settings.read_rate, n);
        // At each of its buyers' scans (of a flood of link scans, every tenth), and at the end.
        let flooded = world.scans.len() >= 50;
        let mut moments: Vec<(f64, Option<usize>)> = world
            .scans
            .iter()
            .enumerate()
            .filter(|(at, scan)| !flooded || at % 10 == 0 || !matches!(scan.how, Scan::Link))
            .map(|(at, scan)| (scan.minutes, Some(at)))
            .collect();
        moments.push((f64::INFINITY, None));
        report.genuine += 1;
        let flags = moments
            .iter()
            .map(|(until, current)| judged(&world, &parties, *until, *current))
            .find(|codes| !codes.is_empty());
        if let Some(codes) = flags {
            report.genuine_flagged += 1;
            for code in codes {
                *report.flagged_by.entry(code).or_default() += 1;
            }
        }
    }
    let mut n = settings.genuine;
    for kind in CopyKind::ALL {
        for entry in Entry::ALL {
            for _ in 0..settings.copies {
                n += 1;
                let world = copied_life(&mut rng, settings.read_rate, n, kind, entry);
                *report.made.entry(kind).or_default() += 1;
                let Some(&second) = world.copy_observed.get(1) else {
                    continue;
                };
                // As the log holds it once the observation is logged (a few minutes on).
                let at = |minutes: f64| {
                    let current = world.scans.iter().position(|scan| scan.minutes == minutes);
                    judged(&world, &parties, minutes + 5.0, current)
                };
                let codes = at(second);
                let split = report
                    .by_sale
                    .entry((kind, world.copy_after_sale))
                    .or_default();
                split.0 += 1;
                split.1 += usize::from(!codes.is_empty());
                let counts = report.copies.entry((kind, entry)).or_default();
                counts.0 += 1;
                let last = world.copy_observed.last().copied().unwrap_or(second);
                let caught_late = !codes.is_empty() || !at(last).is_empty();
                counts.2 += usize::from(caught_late);
                if !codes.is_empty() {
                    counts.1 += 1;
                    for code in codes {
                        *report.caught_by.entry((kind, code)).or_default() += 1;
                    }
                }
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    /// At read rate 0.9, with a fixed seed: every new-chip copy observed twice is caught, and no
    /// genuine item (returns, misdeliveries, gifts abroad, floods of link scans) is flagged.
    #[test]
    fn at_read_rate_0_9_copies_are_caught_and_genuine_items_are_not_flagged() {
        let report = run(Settings {
            genuine: 400,
            copies: 25,
            read_rate: 0.9,
            seed: 7,
        });
        assert_eq!(report.genuine, 400);
        assert_eq!(report.genuine_flagged, 0, "{report:?}");
        // Those that pass a reader: every entry but straight to consumers.
        let (seen, caught, _) = [Entry::Hub, Entry::Warehouse, Entry::Store]
            .iter()
            .map(|entry| report.copies[&(CopyKind::NewChip, *entry)])
            .fold((0, 0, 0), |(n, c, l), (seen, caught, last)| {
                (n + seen, c + caught, l + last)
            });
        assert_eq!(seen, 75, "{report:?}");
        assert!(caught * 100 >= seen * 95, "{report:?}");
        // A tagged item's copy replays a tap URL: caught by its second tap at the latest.
        assert!(report.caught_by[&(CopyKind::PrintedCode, "nfc_tap_replayed")] > 0);
    }
}
