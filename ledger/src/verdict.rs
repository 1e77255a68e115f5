//! A consumer's verdict on an item: `genuine`, `suspicious`, `unknown` or `not_anchored_yet`,
//! with the reasons for it as machine-readable codes, each naming the entries it rests on.
//!
//! The verdict is judged from the item's custody history ([`crate::history`]) as the custody-
//! authority rules marked it: only events with authority bring an item into being, end its life
//! or take an end back; an event its reporter had no authority for changes nothing (one note,
//! `refused_events_ignored`, names them), and counts only as what anyone may report, a sighting.
//! No event whose reporter the registry does not know is evidence, nor an event declared
//! erroneous by a party with authority to, nor an error declaration itself. Every rule is one row of [`RULES`]: its code,
//! what a finding weighs ([`Weight`]), its meaning in plain words and the function that looks
//! for it; adding a rule is adding a row. Which findings make which verdict:
//! - any `suspicious` finding: **suspicious**;
//! - else any `unknown` one (nothing shows the item was ever brought into being by a party
//!   entitled to, or not every event naming it could be read): **unknown**;
//! - else any `pending` one (some evidence is not anchored on chain yet): **not_anchored_yet**;
//! - else **genuine**.
//!
//! How sightings weigh. Registered parties' events are signed and attributed, and anyone may
//! report seeing an item, so a sighting by any registered party counts (a warehouse receiving an
//! object under a sold item's label is how a copy shows, and its receipt is refused as a change
//! of custody); the reason names the entries, and so their reporters, who answer for them. After a sale, only the item re-entering the supply chain is
//! suspicious (a business step of the chain, or packing), not a door reader of a shop the buyer
//! walks into; after it was destroyed or decommissioned, any sighting is. The party that ended
//! the item's life may still see it for [`END_GRACE_SECONDS`] (the exit door after the till).

use std::collections::{BTreeMap, BTreeSet};

use epcis::vocab::Vocabulary;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::history::{Authority, History, HistoryEvent, RecalledClass, Why, authority};
use crate::ids::OrganisationId;
use crate::nfc::TapCheck;
use crate::size::LeafIndex;

/// The namespace the bridge writes its reads under (`tagtrail:tids`: each tag's EPC and TID).
pub const BRIDGE_NAMESPACE: &str = "https://tagtrail.dev/ns/bridge#";

/// The namespace of what a recall says besides its disposition (`recall:reason`: why, in the
/// brand's words, at most [`MAX_RECALL_REASON`] characters shown).
pub const RECALL_NAMESPACE: &str = "https://tagtrail.dev/ns/recall#";

/// The most characters of a recall's reason a finding repeats.
pub const MAX_RECALL_REASON: usize = 500;

/// How long after the party that sold, destroyed or decommissioned an item it may still see it
/// without that being suspicious: the tag passing its own exit door after the till.
pub const END_GRACE_SECONDS: i128 = 2 * 60 * 60;

/// The fastest an item travels between two places, in kilometres an hour (faster than an
/// airliner over the ground).
pub const MAX_SPEED_KMH: f64 = 1_000.0;

/// Places closer than this (kilometres) are never too far apart: coordinates of sites are
/// approximate, and a metropolitan area's sites are an hour apart by road at most.
pub const NEAR_KM: f64 = 50.0;

/// Clocks of readers disagree: this much (seconds) is added to the time between two sightings
/// before the speed they need is judged.
pub const CLOCK_SKEW_SECONDS: i128 = 15 * 60;

/// How many earlier sightings each sighting is compared with for impossible travel.
pub const TRAVEL_WINDOW: usize = 64;

/// The most entries a reason names as its evidence; its detail says how many there were.
pub const MAX_EVIDENCE: usize = 16;

/// The verdict on an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Brought into being by a party entitled to, nothing suspicious, every piece of evidence
    /// anchored.
    Genuine,
    /// Something the history shows cannot be explained by one genuine object.
    Suspicious,
    /// Nothing shows the item was brought into being by a party entitled to.
    Unknown,
    /// Nothing suspicious, but some of the evidence is not anchored on chain yet.
    NotAnchoredYet,
}

/// What a finding weighs in the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Weight {
    /// Speaks for the item.
    Supports,
    /// Makes the item suspicious.
    Suspicious,
    /// Leaves the item unknown.
    Unknown,
    /// Holds the verdict at `not_anchored_yet`.
    Pending,
    /// Said so that nothing is hidden; weighs nothing.
    Note,
    /// The item is under recall: said first, whatever the verdict on whether it is genuine
    /// (a recalled item may well be genuine, and a consumer must be told either way).
    Recall,
}

/// A place, in WGS 84 degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Place {
    pub latitude: f64,
    pub longitude: f64,
}

impl Place {
    /// The great-circle distance to `other`, in kilometres.
    pub fn kilometres_to(self, other: Place) -> f64 {
        const EARTH_RADIUS_KM: f64 = 6_371.0;
        let (lat1, lat2) = (self.latitude.to_radians(), other.latitude.to_radians());
        let dlat = lat2 - lat1;
        let dlon = (other.longitude - self.longitude).to_radians();
        let a = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }
}

/// What a verdict is judged from.
pub struct Facts<'a, T> {
    /// The item's history, as the custody-authority rules marked it.
    pub history: &'a History<T>,
    /// Every name of the item (its EPC URIs and Digital Links: what events and tag reads may
    /// name it by).
    pub names: &'a [String],
    /// Why the history could not be read, when it could not (a flood beyond what a history
    /// reads): `history` is then empty, and the verdict says so instead of judging.
    pub refused: Option<&'a str>,
    /// How many entries of the log an anchor on chain covers (entries below it are); `None`
    /// when none does yet.
    pub anchored: Option<u64>,
    /// The coordinates of a location (a `readPoint` or `bizLocation` identifier), when the
    /// registry has them.
    pub place: &'a dyn Fn(&str) -> Option<Place>,
    /// Whether the entry was declared erroneous by a party with authority to.
    pub withdrawn: &'a dyn Fn(LeafIndex) -> bool,
    /// Whether the entry's event, as the store gave it, is not the one its leaf record commits to
    /// (a damaged or altered store): never evidence, and the item is left unknown.
    pub unbound: &'a dyn Fn(LeafIndex) -> bool,
    /// What came of the NFC tap the scan carried, if it carried one ([`crate::nfc`]).
    pub tap: Option<&'a TapCheck>,
    /// Consumers' scans of the item, as kept (nothing personal), the one being answered among
    /// them; in any order.
    pub scans: &'a [ConsumerScan],
    /// The classes of trade items the item belongs to that a recall may name: its lot (as its
    /// link or its commissioning says) and its whole product (GTIN). Empty when it has none (a
    /// container, an item that is no GS1 trade item).
    pub classes: &'a [RecalledClass],
    /// The recalls and liftings of classes the log holds that name one of `classes` (for a
    /// link naming a product alone, those of any lot of it too), with their reporters' authority,
    /// none withdrawn; or why they could not be read (they were not looked for: the verdict does
    /// not say the item is not recalled).
    pub class_recalls: Result<&'a [HistoryEvent<T>], &'a str>,
    /// Whether the link names a class (a lot, or a product), not one item: nothing can say
    /// whether an object is genuine from it, only whether what it names is recalled.
    pub class_link: bool,
}

/// How a consumer scanned the item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanHow {
    /// The link was opened without a tap (its QR code, or typed): anyone can do that anywhere,
    /// so it proves nothing about where the object is.
    Qr,
    /// A tap of the item's NFC tag whose message verified with a fresh counter: the tag was there.
    Nfc,
}

/// A consumer's scan, as trace-api keeps it: when (rounded), how, and the centre of a coarse
/// cell when the edge said where.
#[derive(Debug, Clone, PartialEq)]
pub struct ConsumerScan {
    /// Its id as kept; `None` for the scan being answered.
    pub id: Option<u64>,
    /// When, in Unix nanoseconds, rounded down to [`SCAN_TIME_SLACK_SECONDS`].
    pub time: i128,
    pub how: ScanHow,
    pub place: Option<Place>,
}

/// How far (kilometres) a scan's cell centre may be from where it was: half the diagonal of a
/// one-degree cell at the equator.
pub const CELL_SLACK_KM: f64 = 80.0;

/// How much a scan's kept time may be before it happened (it is rounded down to this, seconds).
pub const SCAN_TIME_SLACK_SECONDS: i128 = 15 * 60;

impl<T> std::fmt::Debug for Facts<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Facts")
            .field("events", &self.history.events.len())
            .field("names", &self.names)
            .field("refused", &self.refused)
            .field("anchored", &self.anchored)
            .finish_non_exhaustive()
    }
}

/// One reason for a verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    /// The rule's code ([`RULES`]).
    pub code: &'static str,
    /// What it weighs.
    pub weight: Weight,
    /// The entries it rests on (leaf indexes, at most [`MAX_EVIDENCE`]).
    pub evidence: Vec<u64>,
    /// The consumer scans it rests on (their ids, at most [`MAX_EVIDENCE`]; left out when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scans: Vec<u64>,
    /// What was found, in plain words.
    pub detail: String,
}

/// A verdict and its reasons, in the order of [`RULES`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Judgement {
    pub verdict: Verdict,
    pub reasons: Vec<Reason>,
}

impl Judgement {
    /// Whether the item is under recall (a `recalled` reason).
    pub fn recalled(&self) -> bool {
        self.reasons
            .iter()
            .any(|reason| reason.weight == Weight::Recall)
    }
}

/// One rule of the verdict.
pub struct Rule {
    /// Its code, as reasons carry it.
    pub code: &'static str,
    /// What a finding of it weighs.
    pub weight: Weight,
    /// What a finding means, in plain words.
    pub meaning: &'static str,
    /// The same in Simplified Chinese.
    pub meaning_zh: &'static str,
    /// Its findings.
    find: fn(&Case<'_>) -> Vec<Finding>,
}

impl std::fmt::Debug for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rule")
            .field("code", &self.code)
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

/// Every rule, in the order reasons are given: a recall first.
pub static RULES: &[Rule] = &[
    Rule {
        code: "recalled",
        weight: Weight::Recall,
        meaning: "its brand (the owner of its company prefix, or a party acting for it) or a \
                  regulator recalled the item, its lot, its whole product, or a container it was \
                  in at the time: do not use it, and follow the recall notice",
        meaning_zh: "品牌方（其厂商识别代码的所有者或其授权方）或监管机构已召回此商品、其批次、该商品的全部产品或当时装载它的容器：请停止使用，并按召回通知处理",
        find: recalled,
    },
    Rule {
        code: "recall_lifted",
        weight: Weight::Note,
        meaning: "a recall of the item (or of a container it was in) was lifted by the party \
                  that made it",
        meaning_zh: "召回方已解除对此商品（或装载它的容器）的召回",
        find: recall_lifted,
    },
    Rule {
        code: "lots_recalled",
        weight: Weight::Note,
        meaning: "the link names a product, not one item, and some lots of the product are \
                  under recall: if the lot number on your pack is one of them, do not use it and \
                  follow the recall notice",
        meaning_zh: "该链接指向一种商品而非单件商品，该商品的部分批次正在召回：如果包装上的批号在其中，请停止使用并按召回通知处理",
        find: lots_recalled,
    },
    Rule {
        code: "recall_unread",
        weight: Weight::Unknown,
        meaning: "whether the item's lot or product is under recall could not be read, so \
                  nothing is concluded",
        meaning_zh: "无法读取该商品的批次或品类是否正在召回，因此不作结论",
        find: recall_unread,
    },
    Rule {
        code: "names_a_class",
        weight: Weight::Unknown,
        meaning: "the link names a lot or a product, not one item: only whether it is recalled \
                  can be said (scan the item's own code, with its serial number, to learn \
                  whether it is genuine)",
        meaning_zh: "该链接指向一个批次或一种商品，而非单件商品：只能说明是否召回（请扫描带序列号的商品码以判断真伪）",
        find: names_a_class,
    },
    Rule {
        code: "commissioned",
        weight: Weight::Supports,
        meaning: "brought into being by a party entitled to (the owner of its company prefix, \
                  or the party a transformation with authority produced it for)",
        meaning_zh: "由有权的一方创建（其厂商识别代码的所有者，或经授权的加工产出）",
        find: commissioned,
    },
    Rule {
        code: "never_commissioned",
        weight: Weight::Unknown,
        meaning: "no event with authority brought the item into being",
        meaning_zh: "没有任何有权的事件创建过此商品",
        find: never_commissioned,
    },
    Rule {
        code: "tid_mismatch",
        weight: Weight::Suspicious,
        meaning: "a tag read with the item's EPC has another chip (TID) than the one recorded \
                  for it: the label was copied to another tag",
        meaning_zh: "以此商品的 EPC 读到了另一枚标签芯片（TID）：标签被复制到了别的芯片上",
        find: tid_mismatch,
    },
    Rule {
        code: "tid_matches",
        weight: Weight::Supports,
        meaning: "later reads of the item's tag have the chip (TID) recorded when it was \
                  commissioned",
        meaning_zh: "后来读到的标签芯片（TID）与赋码时登记的一致",
        find: tid_matches,
    },
    Rule {
        code: "seen_after_end",
        weight: Weight::Suspicious,
        meaning: "the item was seen after it was destroyed or decommissioned, or back in the \
                  supply chain after it was sold",
        meaning_zh: "商品在销毁或停用后仍被看到，或售出后又回到了供应链中",
        find: seen_after_end,
    },
    Rule {
        code: "held_elsewhere",
        weight: Weight::Suspicious,
        meaning: "a party received the item without a hand-over while the party that had \
                  custody of it, and had not shipped it, went on reporting it: two objects carry \
                  its identity",
        meaning_zh: "某方在没有交接的情况下收到了该商品，而原持有方此后仍在报告它：有两件物品使用同一标识",
        find: held_elsewhere,
    },
    Rule {
        code: "impossible_travel",
        weight: Weight::Suspicious,
        meaning: "two sightings are farther apart than one object can travel in the time \
                  between them",
        meaning_zh: "两次出现的地点相距太远，同一件物品在其间的时间内不可能到达",
        find: impossible_travel,
    },
    Rule {
        code: "nfc_tap_verified",
        weight: Weight::Supports,
        meaning: "the scan came from a tap of the item's own NFC tag: its signed message \
                  verifies and its counter was never used before, so the tag was there",
        meaning_zh: "本次扫描来自商品自带的 NFC 标签：其签名消息验证通过且计数器从未用过，标签确实在场",
        find: nfc_tap_verified,
    },
    Rule {
        code: "nfc_tap_replayed",
        weight: Weight::Suspicious,
        meaning: "the NFC tap's message was used before: a link read from the tag is being \
                  opened again, from a copy of the tag or a saved link (opening the same page \
                  twice counts too: tap the tag again)",
        meaning_zh: "该 NFC 标签消息已被使用过：从标签读取的链接被再次打开，可能来自复制的标签或保存的链接（同一页面打开两次也算，请再次轻触标签）",
        find: nfc_tap_replayed,
    },
    Rule {
        code: "nfc_tap_refused",
        weight: Weight::Suspicious,
        meaning: "the scan carries an NFC tap that does not verify: the link was altered, or the \
                  tag is not the item's own",
        meaning_zh: "本次扫描携带的 NFC 标签消息验证失败：链接被篡改，或标签并非该商品所有",
        find: nfc_tap_refused,
    },
    Rule {
        code: "nfc_tap_unconfirmed",
        weight: Weight::Unknown,
        meaning: "the NFC tap's message verifies, but whether it was used before could not be \
                  checked: it may be a replay, so nothing is concluded (try again)",
        meaning_zh: "NFC 标签消息验证通过，但无法确认是否已被使用过：可能是重放，因此不作结论（请重试）",
        find: nfc_tap_unconfirmed,
    },
    Rule {
        code: "nfc_tap_unchecked",
        weight: Weight::Note,
        meaning: "the scan carries NFC tap data this service could not check (no keys here, or \
                  malformed parameters); it weighs nothing",
        meaning_zh: "本次扫描携带的 NFC 标签消息无法由本服务核验，不计入判断",
        find: nfc_tap_unchecked,
    },
    Rule {
        code: "copied_label",
        weight: Weight::Suspicious,
        meaning: "a tap of the item's NFC tag and a registered reader's sighting of its label \
                  are farther apart than one object can travel in the time between them: the \
                  label the reader saw is a copy",
        meaning_zh: "该商品 NFC 标签的一次轻触与已登记读写器对其标签的读取相距太远，同一物品在其间不可能到达：读写器读到的标签是复制品",
        find: copied_label,
    },
    Rule {
        code: "scanned_far_apart",
        weight: Weight::Note,
        meaning: "the item's link was opened (or its tag tapped) in places farther apart than one \
                  object can travel in the time between; anyone can open a link anywhere, and \
                  where a scan came from is only what the network says, so this alone weighs \
                  nothing",
        meaning_zh: "该商品链接在相距太远的地方被打开，同一物品在其间不可能到达；任何人都能在任何地方打开链接，因此单凭这一点不计入判断",
        find: scanned_far_apart,
    },
    Rule {
        code: "ended",
        weight: Weight::Note,
        meaning: "the item's custodian says it was sold, destroyed or decommissioned",
        meaning_zh: "保管方称该商品已售出、销毁或停用",
        find: ended,
    },
    Rule {
        code: "not_anchored_yet",
        weight: Weight::Pending,
        meaning: "some of the evidence is not anchored on chain yet",
        meaning_zh: "部分证据尚未锚定到区块链上",
        find: not_anchored_yet,
    },
    Rule {
        code: "anchored",
        weight: Weight::Supports,
        meaning: "every piece of evidence is anchored on chain",
        meaning_zh: "全部证据均已锚定到区块链上",
        find: anchored,
    },
    Rule {
        code: "refused_events_ignored",
        weight: Weight::Note,
        meaning: "events whose reporters had no authority for what they do changed nothing; \
                  they count only as sightings",
        meaning_zh: "无权方报告的变更未被采纳，只作为目击记录",
        find: refused_events_ignored,
    },
    Rule {
        code: "history_partly_shown",
        weight: Weight::Unknown,
        meaning: "more events named the item than a history holds: some were left out (never a \
                  change with authority), and nothing can be said of what they showed",
        meaning_zh: "指向该商品的事件过多，部分未被读取，无法判断其内容",
        find: history_partly_shown,
    },
    Rule {
        code: "not_as_logged",
        weight: Weight::Unknown,
        meaning: "an event of the item, as this service's store gave it, is not the one the log \
                  committed to: the store is damaged or was altered, so nothing is concluded",
        meaning_zh: "本服务存储中该商品的某个事件与日志所承诺的不一致：存储已损坏或被篡改，因此不作结论",
        find: not_as_logged,
    },
    Rule {
        code: "history_refused",
        weight: Weight::Unknown,
        meaning: "more events named the item than a history reads: it was not judged",
        meaning_zh: "指向该商品的事件过多，无法读取其历史，未作判断",
        find: history_refused,
    },
];

/// The rule with `code`.
pub fn rule(code: &str) -> Option<&'static Rule> {
    RULES.iter().find(|rule| rule.code == code)
}

/// The verdict on an item from `facts`.
pub fn judge<T>(facts: &Facts<'_, T>) -> Judgement {
    let case = Case::of(facts);
    let mut reasons = Vec::new();
    for rule in RULES {
        for finding in (rule.find)(&case) {
            let count = finding.evidence.len();
            let mut detail = finding.detail;
            if count > MAX_EVIDENCE {
                detail.push_str(&format!(
                    " ({count} entries; the first {MAX_EVIDENCE} named)"
                ));
            }
            reasons.push(Reason {
                code: rule.code,
                weight: rule.weight,
                evidence: finding
                    .evidence
                    .into_iter()
                    .take(MAX_EVIDENCE)
                    .map(LeafIndex::get)
                    .collect(),
                scans: finding.scans.into_iter().take(MAX_EVIDENCE).collect(),
                detail,
            });
        }
    }
    let weighs = |weight: Weight| reasons.iter().any(|reason| reason.weight == weight);
    let verdict = if weighs(Weight::Suspicious) {
        Verdict::Suspicious
    } else if weighs(Weight::Unknown) {
        Verdict::Unknown
    } else if weighs(Weight::Pending) {
        Verdict::NotAnchoredYet
    } else {
        Verdict::Genuine
    };
    Judgement { verdict, reasons }
}

/// What a rule found: the entries it rests on and what they show.
struct Finding {
    evidence: Vec<LeafIndex>,
    /// The consumer scans it rests on (their ids; none for the scan being answered).
    scans: Vec<u64>,
    detail: String,
}

/// One event of the history as the rules see it.
struct Sighting<'a> {
    leaf: LeafIndex,
    time: i128,
    reporter: Option<&'a OrganisationId>,
    authority: &'a Authority,
    event: &'a Map<String, Value>,
    /// It names the item itself (not a container it was in, nor a related item).
    direct: bool,
    /// It names the item or a container it was in at the time.
    of_the_object: bool,
    /// For a recall or lifting of classes: those it names that the item belongs to (for a link
    /// naming a product alone, any of its lots too). Empty for every other event.
    classes: Vec<RecalledClass>,
}

/// The facts, put the way the rules read them.
struct Case<'a> {
    /// Every event of the history, in event-time order, then log order.
    all: Vec<Sighting<'a>>,
    names: &'a [String],
    refused: Option<&'a str>,
    anchored: Option<u64>,
    place: &'a dyn Fn(&str) -> Option<Place>,
    withdrawn: &'a dyn Fn(LeafIndex) -> bool,
    unbound: &'a dyn Fn(LeafIndex) -> bool,
    omitted: usize,
    tap: Option<&'a TapCheck>,
    scans: &'a [ConsumerScan],
    /// The recalls and liftings of the item's classes, with authority, in event-time order.
    class_recalls: Vec<Sighting<'a>>,
    /// Why the recalls of the item's classes could not be read, when they could not.
    class_recalls_unread: Option<&'a str>,
    classes: &'a [RecalledClass],
    class_link: bool,
}

impl<'a> Case<'a> {
    fn of<T>(facts: &Facts<'a, T>) -> Self {
        let all: Vec<Sighting<'a>> = facts
            .history
            .events
            .iter()
            .map(|event| Sighting {
                leaf: event.event.leaf,
                time: event.event.time,
                reporter: event.event.reporter.as_ref(),
                authority: &event.authority,
                event: &event.event.event,
                direct: event.why.contains(&Why::Direct),
                of_the_object: event
                    .why
                    .iter()
                    .any(|why| matches!(why, Why::Direct | Why::Container { .. })),
                classes: Vec::new(),
            })
            .collect();
        let (class_recalls, class_recalls_unread) = match facts.class_recalls {
            Ok(events) => (events, None),
            Err(why) => (&[][..], Some(why)),
        };
        // A recall that names the item (or a container) as well as classes is in the history
        // already, and counts once, as the item's.
        let in_history: BTreeSet<LeafIndex> = all
            .iter()
            .map(|sighting: &Sighting<'_>| sighting.leaf)
            .collect();
        let mut class_recalls: Vec<Sighting<'a>> = class_recalls
            .iter()
            .filter(|event| !in_history.contains(&event.event.leaf))
            .filter_map(|event| {
                let classes: Vec<RecalledClass> = authority::recalled_classes(&event.event.event)
                    .into_iter()
                    .filter(|class| {
                        facts.classes.iter().any(|own| {
                            own.gtin == class.gtin
                                && (own.lot.is_none() && facts.class_link
                                    || own.lot == class.lot
                                    || class.lot.is_none())
                        })
                    })
                    .collect();
                (!classes.is_empty()).then_some(Sighting {
                    leaf: event.event.leaf,
                    time: event.event.time,
                    reporter: event.event.reporter.as_ref(),
                    authority: &event.authority,
                    event: &event.event.event,
                    direct: false,
                    of_the_object: false,
                    classes,
                })
            })
            .collect();
        class_recalls.sort_by_key(|sighting| (sighting.time, sighting.leaf));
        Self {
            all,
            names: facts.names,
            refused: facts.refused,
            anchored: facts.anchored,
            place: facts.place,
            withdrawn: facts.withdrawn,
            unbound: facts.unbound,
            omitted: facts
                .history
                .omitted
                .iter()
                .map(|omitted| omitted.events)
                .sum(),
            tap: facts.tap,
            scans: facts.scans,
            class_recalls,
            class_recalls_unread,
            classes: facts.classes,
            class_link: facts.class_link,
        }
    }

    /// The events that are evidence: reported by a registered party, not withdrawn, as logged,
    /// not a
    /// declaration. What they change counts only when they had authority for it.
    fn evidence(&self) -> impl Iterator<Item = &Sighting<'a>> {
        self.all.iter().filter(|sighting| {
            sighting.reporter.is_some()
                && !sighting.event.contains_key("errorDeclaration")
                && !(self.withdrawn)(sighting.leaf)
                && !(self.unbound)(sighting.leaf)
        })
    }

    /// The event that brought the item into being with authority: an ObjectEvent `ADD` naming
    /// it, a transformation that output it, or (a container: an SSCC is made by packing it) a
    /// packing into it.
    fn origin(&self) -> Option<&Sighting<'a>> {
        self.evidence().find(|sighting| {
            sighting.direct
                && *sighting.authority == Authority::Authorised
                && (is_commissioning(sighting.event)
                    || names_in(sighting.event, "outputEPCList", self.names)
                    || is_packing_into(sighting.event, self.names))
        })
    }

    /// The item's tag reads: each TID read for one of its EPCs (upper-case hex), with the
    /// entries that read it, first in event-time order.
    ///
    /// Readers read more or fewer words of a TID (two name the chip's make and model, six its
    /// serial too): a read that is the start of a longer one is of the same chip, and counts
    /// under the longer one.
    fn tids(&self) -> BTreeMap<String, Vec<LeafIndex>> {
        let mut reads: BTreeMap<String, Vec<LeafIndex>> = BTreeMap::new();
        for sighting in self.evidence().filter(|sighting| sighting.direct) {
            for tid in tids_of(sighting.event, self.names) {
                reads.entry(tid).or_default().push(sighting.leaf);
            }
        }
        let tids: Vec<String> = reads.keys().cloned().collect();
        for short in &tids {
            let longer = tids
                .iter()
                .filter(|long| long.len() > short.len() && long.starts_with(short.as_str()))
                .max_by_key(|long| long.len());
            if let Some(longer) = longer
                && let Some(leaves) = reads.remove(short)
            {
                let merged = reads.entry(longer.clone()).or_default();
                merged.extend(leaves);
                merged.sort_unstable();
                merged.dedup();
            }
        }
        reads
    }
}

fn commissioned(case: &Case<'_>) -> Vec<Finding> {
    case.origin()
        .map(|origin| Finding {
            scans: Vec::new(),
            evidence: vec![origin.leaf],
            detail: format!(
                "brought into being by {} at {}",
                organisation(origin.reporter),
                event_time(origin.event)
            ),
        })
        .into_iter()
        .collect()
}

fn never_commissioned(case: &Case<'_>) -> Vec<Finding> {
    // A link naming a lot or a product names no object to have been commissioned
    // (`names_a_class` says so).
    match case.origin() {
        Some(_) => Vec::new(),
        None if case.class_link => Vec::new(),
        None => vec![Finding {
            scans: Vec::new(),
            evidence: Vec::new(),
            detail: "no event with authority commissioned the item or produced it".to_owned(),
        }],
    }
}

fn tid_mismatch(case: &Case<'_>) -> Vec<Finding> {
    let reads = case.tids();
    if reads.len() < 2 {
        return Vec::new();
    }
    // The TID recorded at commissioning, when it was; else the first read.
    let recorded = case
        .origin()
        .and_then(|origin| tids_of(origin.event, case.names).into_iter().next());
    let tids: Vec<&String> = reads.keys().collect();
    let mut evidence: Vec<LeafIndex> = reads
        .values()
        .filter_map(|leaves| leaves.first().copied())
        .collect();
    evidence.sort_unstable();
    let detail = match recorded {
        Some(recorded) => format!(
            "chips {} were read with the item's EPC; the one recorded at commissioning is \
             {recorded}",
            join(&tids)
        ),
        None => format!("chips {} were read with the item's EPC", join(&tids)),
    };
    vec![Finding {
        scans: Vec::new(),
        evidence,
        detail,
    }]
}

fn tid_matches(case: &Case<'_>) -> Vec<Finding> {
    let reads = case.tids();
    let Some(origin) = case.origin() else {
        return Vec::new();
    };
    let Some(recorded) = tids_of(origin.event, case.names).into_iter().next() else {
        return Vec::new();
    };
    // The recorded chip, as the longest read of it names it.
    let read = reads
        .iter()
        .find(|(tid, _)| tid.starts_with(recorded.as_str()) || recorded.starts_with(tid.as_str()));
    match read {
        Some((_, leaves)) if reads.len() == 1 && leaves.len() > 1 => vec![Finding {
            scans: Vec::new(),
            evidence: leaves.clone(),
            detail: format!(
                "{} later reads have the chip recorded at commissioning ({recorded})",
                leaves.len() - 1
            ),
        }],
        _ => Vec::new(),
    }
}

fn nfc_tap_verified(case: &Case<'_>) -> Vec<Finding> {
    match case.tap {
        Some(TapCheck::Accepted { uid, counter }) => vec![Finding {
            scans: Vec::new(),
            evidence: Vec::new(),
            detail: format!("tag {uid} read {counter}, a counter never used before"),
        }],
        _ => Vec::new(),
    }
}

fn nfc_tap_replayed(case: &Case<'_>) -> Vec<Finding> {
    match case.tap {
        Some(TapCheck::Replayed { uid, counter, last }) => vec![Finding {
            scans: Vec::new(),
            evidence: Vec::new(),
            detail: format!(
                "tag {uid}'s message with counter {counter} was used before (the last \
                 accepted is {last})"
            ),
        }],
        _ => Vec::new(),
    }
}

fn nfc_tap_refused(case: &Case<'_>) -> Vec<Finding> {
    let detail = match case.tap {
        Some(TapCheck::Refused(refusal)) => format!("the tap was refused: {}", refusal.meaning()),
        _ => return Vec::new(),
    };
    vec![Finding {
        scans: Vec::new(),
        evidence: Vec::new(),
        detail,
    }]
}

fn nfc_tap_unconfirmed(case: &Case<'_>) -> Vec<Finding> {
    match case.tap {
        Some(TapCheck::Unconfirmed { uid, counter }) => vec![Finding {
            scans: Vec::new(),
            evidence: Vec::new(),
            detail: format!("tag {uid} read {counter}; whether that was used before is unknown"),
        }],
        _ => Vec::new(),
    }
}

fn nfc_tap_unchecked(case: &Case<'_>) -> Vec<Finding> {
    let detail = match case.tap {
        Some(TapCheck::Unchecked(why)) => format!("the tap was not checked: {why}"),
        Some(TapCheck::Malformed(error)) => format!("the tap was not checked: {error}"),
        _ => return Vec::new(),
    };
    vec![Finding {
        scans: Vec::new(),
        evidence: Vec::new(),
        detail,
    }]
}

/// The last end of the item's life (by an event with authority) that nothing its custodian did
/// later took back, with the entries seen after it. A later state change with authority (a
/// return received, say) takes an end back.
fn seen_after_end(case: &Case<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut end: Option<&Sighting<'_>> = None;
    let mut seen: Vec<LeafIndex> = Vec::new();
    let mut flush = |end: Option<&Sighting<'_>>, seen: &mut Vec<LeafIndex>| {
        if let Some(end) = end
            && !seen.is_empty()
        {
            let mut evidence = vec![end.leaf];
            evidence.append(seen);
            findings.push(Finding {
                scans: Vec::new(),
                detail: format!(
                    "{} sightings after the item was {} (entry {})",
                    evidence.len() - 1,
                    ending(end.event),
                    end.leaf
                ),
                evidence,
            });
        }
    };
    // Direct events only: a container's events do not end the item's life, nor take an end
    // back, and the item may have left the container when it was sold without any event
    // saying so.
    for sighting in case.evidence().filter(|sighting| sighting.direct) {
        let authorised = *sighting.authority == Authority::Authorised;
        if authorised && authority::ends_life(sighting.event) {
            if end.is_none() {
                end = Some(sighting);
            }
            continue;
        }
        let Some(ended) = end else {
            continue;
        };
        if authorised && authority::changes_state(sighting.event) {
            // Its custodian carried on with it (a return): the end is taken back.
            flush(end.take(), &mut seen);
            continue;
        }
        let own_grace = sighting.reporter == ended.reporter
            && sighting.time.saturating_sub(ended.time) <= END_GRACE_SECONDS * 1_000_000_000;
        if own_grace {
            continue;
        }
        let sold = matches!(ending(ended.event), "sold");
        if !sold || re_enters_chain(sighting.event) {
            seen.push(sighting.leaf);
        }
    }
    flush(end, &mut seen);
    findings
}

/// A receipt refused because the item's holder had not shipped it, followed by an event of that
/// holder logged after the receipt and dated more than [`CLOCK_SKEW_SECONDS`] after it: the
/// holder still had the object, so the receiver got another one. The holder's later shipping
/// does not count (a receiver's clock running behind sorts its receipt before the shipping it
/// answers), nor anything after the holder received the item again (a return to sender); each
/// receipt is compared with the [`TRAVEL_WINDOW`] events after it. One finding, the first.
fn held_elsewhere(case: &Case<'_>) -> Vec<Finding> {
    let direct: Vec<&Sighting<'_>> = case.evidence().filter(|sighting| sighting.direct).collect();
    let skew = CLOCK_SKEW_SECONDS * 1_000_000_000;
    for (at, receipt) in direct.iter().enumerate() {
        let Authority::Unauthorised { reason } = receipt.authority else {
            continue;
        };
        let Some(holder) = authority::unshipped_holder(reason) else {
            continue;
        };
        if !authority::receives(receipt.event)
            || receipt.reporter.map(OrganisationId::as_str) == Some(holder)
        {
            continue;
        }
        for later in direct[at + 1..].iter().take(TRAVEL_WINDOW) {
            if later.reporter.map(OrganisationId::as_str) != Some(holder) {
                continue;
            }
            if authority::receives(later.event) {
                break;
            }
            let counts = !matches!(later.authority, Authority::Unauthorised { .. });
            if counts
                && !authority::ships(later.event)
                && later.leaf > receipt.leaf
                && later.time > receipt.time.saturating_add(skew)
            {
                return vec![Finding {
                    evidence: vec![receipt.leaf, later.leaf],
                    scans: Vec::new(),
                    detail: format!(
                        "{} received it at {} ({}) with no hand-over, while {holder}, which had \
                         custody and had not shipped it, still reported it at {} ({})",
                        organisation(receipt.reporter),
                        event_time(receipt.event),
                        location(receipt.event).unwrap_or("no location"),
                        event_time(later.event),
                        location(later.event).unwrap_or("no location"),
                    ),
                }];
            }
        }
    }
    Vec::new()
}

fn impossible_travel(case: &Case<'_>) -> Vec<Finding> {
    let placed = case.placed_entries();
    let mut findings = Vec::new();
    // Each sighting against the ones before it, not only the last: a chain of sightings each
    // near enough to the one before (the clock allowance counted on every leg) must not carry
    // an object across the world in minutes. At most TRAVEL_WINDOW back, and one finding a
    // sighting, so that the cost stays linear in the history.
    for (next, to) in placed.iter().enumerate() {
        let earlier = &placed[next.saturating_sub(TRAVEL_WINDOW)..next];
        let found = earlier.iter().rev().find_map(|from| {
            let (kilometres, minutes) = to.too_far_from(from)?;
            match (from.what, to.what) {
                (SeenWhat::Entry(from_leaf, from_place), SeenWhat::Entry(to_leaf, to_place)) => {
                    Some(Finding {
                        scans: Vec::new(),
                        evidence: vec![from_leaf, to_leaf],
                        detail: format!(
                            "seen at {from_place} and, {minutes} minutes later, at {to_place}, \
                             {kilometres:.0} km away"
                        ),
                    })
                }
                _ => None,
            }
        });
        findings.extend(found);
    }
    findings
}

/// A sighting with a place, for travel: a reader's (an entry) or a consumer's scan.
#[derive(Clone, Copy)]
struct Seen<'a> {
    time: i128,
    place: Place,
    /// How far the place may be from where it was, kilometres.
    slack_km: f64,
    /// How much earlier than it happened its time may say, seconds.
    early: i128,
    what: SeenWhat<'a>,
}

#[derive(Clone, Copy)]
enum SeenWhat<'a> {
    Entry(LeafIndex, &'a str),
    Scan(Option<u64>, ScanHow),
}

impl Seen<'_> {
    /// Whether one object cannot have been at both: farther apart (less both slacks) than
    /// [`MAX_SPEED_KMH`] covers in the time between (plus the clocks' allowance and both
    /// roundings).
    fn too_far_from(&self, other: &Seen<'_>) -> Option<(f64, i128)> {
        let kilometres = self.place.kilometres_to(other.place) - self.slack_km - other.slack_km;
        if kilometres <= NEAR_KM {
            return None;
        }
        // Times of events whose eventTime did not parse are the extremes: no overflow.
        let apart = self.time.saturating_sub(other.time).saturating_abs();
        let seconds = (apart / 1_000_000_000)
            .saturating_add(CLOCK_SKEW_SECONDS)
            .saturating_add(self.early.max(other.early));
        let hours = seconds as f64 / 3_600.0;
        (kilometres > MAX_SPEED_KMH * hours).then_some((kilometres, apart / 60_000_000_000))
    }

    fn describe(&self) -> String {
        match self.what {
            SeenWhat::Entry(leaf, location) => format!("entry {leaf} at {location}"),
            // Where a consumer was is never repeated: the serial is public, so anyone could ask.
            SeenWhat::Scan(_, ScanHow::Nfc) => "a tap".to_owned(),
            SeenWhat::Scan(_, ScanHow::Qr) => "a scan".to_owned(),
        }
    }

    fn cite(&self, finding: &mut Finding) {
        match self.what {
            SeenWhat::Entry(leaf, _) => finding.evidence.push(leaf),
            SeenWhat::Scan(Some(id), _) => finding.scans.push(id),
            SeenWhat::Scan(None, _) => {}
        }
    }
}

impl<'a> Case<'a> {
    /// The object's sightings by registered readers that have a place, in event-time order.
    fn placed_entries(&self) -> Vec<Seen<'a>> {
        self.evidence()
            // A sighting whose eventTime did not parse is at no time in particular.
            .filter(|sighting| sighting.of_the_object && sighting.time != i128::MIN)
            .filter_map(|sighting| {
                let location = location(sighting.event)?;
                Some(Seen {
                    time: sighting.time,
                    place: (self.place)(location)?,
                    slack_km: 0.0,
                    early: 0,
                    what: SeenWhat::Entry(sighting.leaf, location),
                })
            })
            .collect()
    }

    /// Consumers' scans made `how` that have a place, newest first.
    fn placed_scans(&self, how: ScanHow) -> Vec<Seen<'a>> {
        let mut scans: Vec<Seen<'a>> = self
            .scans
            .iter()
            .filter(|scan| scan.how == how)
            .filter_map(|scan| {
                Some(Seen {
                    time: scan.time,
                    place: scan.place?,
                    slack_km: CELL_SLACK_KM,
                    early: SCAN_TIME_SLACK_SECONDS,
                    what: SeenWhat::Scan(scan.id, scan.how),
                })
            })
            .collect();
        scans.sort_by_key(|scan| std::cmp::Reverse(scan.time));
        scans
    }
}

/// The first of `others` one object could not also have been at with `seen`, as a finding.
fn conflict(seen: &Seen<'_>, others: &[Seen<'_>]) -> Option<Finding> {
    others.iter().find_map(|other| {
        let (kilometres, minutes) = seen.too_far_from(other)?;
        let mut finding = Finding {
            evidence: Vec::new(),
            scans: Vec::new(),
            detail: format!(
                "{} and {}, {minutes} minutes apart, are at least {kilometres:.0} km apart",
                other.describe(),
                seen.describe()
            ),
        };
        other.cite(&mut finding);
        seen.cite(&mut finding);
        Some(finding)
    })
}

/// Verified taps against readers' sightings: at most [`TRAVEL_WINDOW`] taps (the newest), each
/// against the [`TRAVEL_WINDOW`] sightings nearest it in time, one finding a tap. Taps are not
/// compared with each other: two taps with fresh counters both come from the one chip, so a
/// conflict between them says only that where a scan came from was misjudged.
fn copied_label(case: &Case<'_>) -> Vec<Finding> {
    let taps = case.placed_scans(ScanHow::Nfc);
    let taps = &taps[..taps.len().min(TRAVEL_WINDOW)];
    let mut entries = case.placed_entries();
    entries.sort_by_key(|entry| entry.time);
    taps.iter()
        .filter_map(|tap| {
            // The sightings nearest in time: a window around where the tap falls.
            let at = entries.partition_point(|entry| entry.time < tap.time);
            let window = &entries
                [at.saturating_sub(TRAVEL_WINDOW / 2)..(at + TRAVEL_WINDOW / 2).min(entries.len())];
            conflict(tap, window)
        })
        .collect()
}

/// Scans (link scans and taps) far apart: said, weighing nothing. One finding, naming the pairs
/// found among the newest [`TRAVEL_WINDOW`] scans.
fn scanned_far_apart(case: &Case<'_>) -> Vec<Finding> {
    let mut scans = case.placed_scans(ScanHow::Qr);
    scans.extend(case.placed_scans(ScanHow::Nfc));
    scans.sort_by_key(|scan| std::cmp::Reverse(scan.time));
    let scans = &scans[..scans.len().min(TRAVEL_WINDOW)];
    let mut pairs = 0;
    let mut cited = Finding {
        evidence: Vec::new(),
        scans: Vec::new(),
        detail: String::new(),
    };
    for (i, scan) in scans.iter().enumerate() {
        if let Some(found) = conflict(scan, &scans[i + 1..]) {
            pairs += 1;
            if cited.detail.is_empty() {
                cited.detail = found.detail;
            }
            for id in found.scans {
                if !cited.scans.contains(&id) {
                    cited.scans.push(id);
                }
            }
        }
    }
    if pairs == 0 {
        return Vec::new();
    }
    cited.detail = format!(
        "{pairs} of the newest {} scans were made too far from a later one; the first: {}",
        scans.len(),
        cited.detail
    );
    vec![cited]
}

/// The recalls and liftings with authority of the item, of a container it was in at the time,
/// or of a class it belongs to (its lot, its product), in event-time order: the brand's word on
/// it. A recall of a class counts whatever the item's custody, since it is the brand's (or a
/// regulator's) word on every item of the class; as the item's history does, withdrawn events
/// are no evidence.
fn recall_changes<'c, 'a>(case: &'c Case<'a>) -> Vec<(&'c Sighting<'a>, authority::RecallChange)> {
    let objects = case
        .evidence()
        .filter(|sighting| sighting.of_the_object && *sighting.authority == Authority::Authorised);
    let classes = case.class_recalls.iter().filter(|sighting| {
        sighting.reporter.is_some() && *sighting.authority == Authority::Authorised
    });
    let mut changes: Vec<(&Sighting<'_>, authority::RecallChange)> = objects
        .chain(classes)
        .filter_map(|sighting| Some((sighting, authority::recall_change(sighting.event)?)))
        .collect();
    changes.sort_by_key(|(sighting, _)| (sighting.time, sighting.leaf));
    changes
}

/// Whether a lifting ends a recall made by the same organisation: one of the item or its
/// containers ends such a recall; one of classes ends a recall of classes it covers all of (the
/// product's lifting covers its every lot).
fn lifts(lifting: &Sighting<'_>, recall: &Sighting<'_>) -> bool {
    if lifting.reporter != recall.reporter {
        return false;
    }
    match (lifting.classes.is_empty(), recall.classes.is_empty()) {
        (true, true) => true,
        (false, false) => recall.classes.iter().all(|class| {
            lifting.classes.iter().any(|lifted| {
                lifted.gtin == class.gtin && (lifted.lot.is_none() || lifted.lot == class.lot)
            })
        }),
        _ => false,
    }
}

/// Whether a recall of classes is of one of the item's own (not, for a link naming a product
/// alone, of one lot of it).
fn of_own_class(case: &Case<'_>, sighting: &Sighting<'_>) -> bool {
    !case.class_link
        || sighting
            .classes
            .iter()
            .any(|class| case.classes.contains(class))
}

/// The recalls in force: each holds until the organisation that made it lifts it (a brand cannot
/// lift a regulator's recall, nor a regulator a brand's), in event-time order; and the liftings
/// that ended one.
fn recalls_in_force<'c, 'a>(case: &'c Case<'a>) -> (Vec<&'c Sighting<'a>>, Vec<&'c Sighting<'a>>) {
    let mut holding: Vec<&Sighting<'_>> = Vec::new();
    let mut liftings = Vec::new();
    for (sighting, change) in recall_changes(case) {
        match change {
            authority::RecallChange::Recalled => holding.push(sighting),
            authority::RecallChange::Lifted => {
                let before = holding.len();
                holding.retain(|recall| !lifts(sighting, recall));
                if holding.len() < before {
                    liftings.push(sighting);
                }
            }
        }
    }
    (holding, liftings)
}

/// What a recall names the item as: the item, a container it was in, its lot or its product.
fn recalled_as(sighting: &Sighting<'_>) -> String {
    if sighting.direct {
        return "the item".to_owned();
    }
    let lots: Vec<&str> = sighting
        .classes
        .iter()
        .filter_map(|class| class.lot.as_deref())
        .collect();
    match (sighting.classes.first(), lots.is_empty()) {
        (None, _) => "a container it was in".to_owned(),
        (Some(class), true) => format!("every item of its product (GTIN {})", class.gtin),
        (Some(class), false) => format!(
            "lot {} of its product (GTIN {})",
            lots.join(", "),
            class.gtin
        ),
    }
}

/// A recall in force ([`recalls_in_force`]) of the item, a container it was in or a class it
/// belongs to.
fn recalled(case: &Case<'_>) -> Vec<Finding> {
    let (holding, _) = recalls_in_force(case);
    let holding: Vec<&Sighting<'_>> = holding
        .into_iter()
        .filter(|sighting| of_own_class(case, sighting))
        .collect();
    let Some(first) = holding.first() else {
        return Vec::new();
    };
    let mut detail = format!(
        "{} recalled {} at {}",
        organisation(first.reporter),
        recalled_as(first),
        event_time(first.event)
    );
    if let Some(reason) = holding
        .iter()
        .rev()
        .find_map(|sighting| recall_reason(sighting.event))
    {
        detail.push_str(": ");
        detail.extend(reason.chars().take(MAX_RECALL_REASON));
    }
    vec![Finding {
        scans: Vec::new(),
        evidence: holding.iter().map(|sighting| sighting.leaf).collect(),
        detail,
    }]
}

/// For a link naming a product alone: the lots of it under recall, which a consumer finds on the
/// pack.
fn lots_recalled(case: &Case<'_>) -> Vec<Finding> {
    let (holding, _) = recalls_in_force(case);
    let lots: Vec<&Sighting<'_>> = holding
        .into_iter()
        .filter(|sighting| !of_own_class(case, sighting))
        .collect();
    let mut names: Vec<&str> = lots
        .iter()
        .flat_map(|sighting| sighting.classes.iter())
        .filter_map(|class| class.lot.as_deref())
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        return Vec::new();
    }
    vec![Finding {
        scans: Vec::new(),
        evidence: lots.iter().map(|sighting| sighting.leaf).collect(),
        detail: format!(
            "lot {} of this product is under recall: compare the lot number on the pack",
            names.join(", ")
        ),
    }]
}

/// The recalls of the item's lot and product could not be read: nothing says it is not recalled.
fn recall_unread(case: &Case<'_>) -> Vec<Finding> {
    case.class_recalls_unread
        .map(|why| Finding {
            scans: Vec::new(),
            evidence: Vec::new(),
            detail: why.to_owned(),
        })
        .into_iter()
        .collect()
}

/// The link names a lot or a product, not one object.
fn names_a_class(case: &Case<'_>) -> Vec<Finding> {
    if !case.class_link {
        return Vec::new();
    }
    let what = match case
        .classes
        .iter()
        .find_map(|class| Some((class.lot.as_deref()?, &class.gtin)))
    {
        Some((lot, gtin)) => format!("lot {lot} of the product with GTIN {gtin}"),
        None => format!(
            "the product with GTIN {}",
            case.classes
                .first()
                .map_or("?", |class| class.gtin.as_str())
        ),
    };
    vec![Finding {
        scans: Vec::new(),
        evidence: Vec::new(),
        detail: format!("the link names {what}, not one item"),
    }]
}

/// Why a recall was made, in the brand's words (`recall:reason`), when it says.
fn recall_reason(event: &Map<String, Value>) -> Option<&str> {
    let prefix = prefix_of(event, RECALL_NAMESPACE)?;
    event
        .get(&format!("{prefix}:reason"))?
        .as_str()
        .filter(|reason| !reason.trim().is_empty())
}

/// The liftings that ended a recall ([`recalls_in_force`]).
fn recall_lifted(case: &Case<'_>) -> Vec<Finding> {
    let (_, liftings) = recalls_in_force(case);
    liftings
        .into_iter()
        .filter(|sighting| of_own_class(case, sighting))
        .map(|sighting| Finding {
            scans: Vec::new(),
            evidence: vec![sighting.leaf],
            detail: format!(
                "{} lifted its recall at {}",
                organisation(sighting.reporter),
                event_time(sighting.event)
            ),
        })
        .collect()
}

fn ended(case: &Case<'_>) -> Vec<Finding> {
    case.evidence()
        .filter(|sighting| {
            sighting.direct
                && *sighting.authority == Authority::Authorised
                && authority::ends_life(sighting.event)
        })
        .map(|sighting| Finding {
            scans: Vec::new(),
            evidence: vec![sighting.leaf],
            detail: format!(
                "{} says it was {} at {}",
                organisation(sighting.reporter),
                ending(sighting.event),
                event_time(sighting.event)
            ),
        })
        .collect()
}

/// The evidence entries no anchor covers yet.
fn unanchored(case: &Case<'_>) -> Vec<LeafIndex> {
    case.evidence()
        .map(|sighting| sighting.leaf)
        .filter(|leaf| case.anchored.is_none_or(|size| leaf.get() >= size))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn not_anchored_yet(case: &Case<'_>) -> Vec<Finding> {
    let evidence = unanchored(case);
    if evidence.is_empty() {
        return Vec::new();
    }
    let detail = match case.anchored {
        Some(size) => format!(
            "{} entries are past the newest anchored checkpoint ({size} entries)",
            evidence.len()
        ),
        None => "no checkpoint of the log is anchored yet".to_owned(),
    };
    vec![Finding {
        scans: Vec::new(),
        evidence,
        detail,
    }]
}

fn anchored(case: &Case<'_>) -> Vec<Finding> {
    let (Some(size), true) = (case.anchored, unanchored(case).is_empty()) else {
        return Vec::new();
    };
    if case.evidence().next().is_none() {
        return Vec::new();
    }
    vec![Finding {
        scans: Vec::new(),
        evidence: Vec::new(),
        detail: format!("every entry is within the anchored checkpoint of {size} entries"),
    }]
}

fn refused_events_ignored(case: &Case<'_>) -> Vec<Finding> {
    let refused: Vec<&Sighting<'_>> = case
        .all
        .iter()
        .filter(|sighting| !sighting.authority.counts())
        .collect();
    if refused.is_empty() {
        return Vec::new();
    }
    let by: BTreeSet<String> = refused
        .iter()
        .map(|sighting| organisation(sighting.reporter))
        .collect();
    vec![Finding {
        scans: Vec::new(),
        evidence: refused.iter().map(|sighting| sighting.leaf).collect(),
        detail: format!(
            "{} events reported without authority (by {}) changed nothing",
            refused.len(),
            by.into_iter().collect::<Vec<_>>().join(", ")
        ),
    }]
}

fn history_partly_shown(case: &Case<'_>) -> Vec<Finding> {
    match case.omitted {
        0 => Vec::new(),
        omitted => vec![Finding {
            scans: Vec::new(),
            evidence: Vec::new(),
            detail: format!(
                "{omitted} events naming the item were left out (counted by reporter in the \
                 history)"
            ),
        }],
    }
}

fn not_as_logged(case: &Case<'_>) -> Vec<Finding> {
    let altered: Vec<LeafIndex> = case
        .all
        .iter()
        .map(|sighting| sighting.leaf)
        .filter(|leaf| (case.unbound)(*leaf))
        .collect();
    if altered.is_empty() {
        return Vec::new();
    }
    vec![Finding {
        detail: format!(
            "{} of the history's events differ from what their leaf records commit to",
            altered.len()
        ),
        evidence: altered,
        scans: Vec::new(),
    }]
}

fn history_refused(case: &Case<'_>) -> Vec<Finding> {
    case.refused
        .map(|why| Finding {
            scans: Vec::new(),
            evidence: Vec::new(),
            detail: format!("the history could not be read: {why}"),
        })
        .into_iter()
        .collect()
}

fn organisation(reporter: Option<&OrganisationId>) -> String {
    reporter.map_or_else(|| "an unregistered party".to_owned(), ToString::to_string)
}

fn event_time(event: &Map<String, Value>) -> &str {
    event
        .get("eventTime")
        .and_then(Value::as_str)
        .unwrap_or("an unknown time")
}

fn join(tids: &[&String]) -> String {
    tids.iter()
        .map(|tid| tid.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether an event packs children into one of `names` (an AggregationEvent `ADD`).
fn is_packing_into(event: &Map<String, Value>, names: &[String]) -> bool {
    event.get("type").and_then(Value::as_str) == Some("AggregationEvent")
        && event.get("action").and_then(Value::as_str) == Some("ADD")
        && event
            .get("parentID")
            .and_then(Value::as_str)
            .is_some_and(|parent| names.iter().any(|name| name == parent))
}

fn is_commissioning(event: &Map<String, Value>) -> bool {
    event.get("type").and_then(Value::as_str) == Some("ObjectEvent")
        && event.get("action").and_then(Value::as_str) == Some("ADD")
}

fn names_in(event: &Map<String, Value>, member: &str, epcs: &[String]) -> bool {
    event
        .get(member)
        .and_then(Value::as_array)
        .is_some_and(|list| {
            list.iter().any(|id| {
                id.as_str()
                    .is_some_and(|id| epcs.iter().any(|epc| epc == id))
            })
        })
}

/// An event's CBV term of `vocabulary` in `member`, without its namespace
/// ([`Vocabulary::term`]).
fn term<'e>(
    event: &'e Map<String, Value>,
    member: &str,
    vocabulary: Vocabulary,
) -> Option<&'e str> {
    Some(vocabulary.term(event.get(member)?.as_str()?))
}

/// How an event ended the item's life, in a word: `sold`, `destroyed` or `decommissioned`.
fn ending(event: &Map<String, Value>) -> &'static str {
    let step = term(event, "bizStep", Vocabulary::BizStep);
    let disposition = term(event, "disposition", Vocabulary::Disposition);
    if matches!(step, Some("retail_selling" | "dispensing")) || disposition == Some("retail_sold") {
        "sold"
    } else if matches!(step, Some("destroying"))
        || matches!(disposition, Some("destroyed" | "disposed"))
    {
        "destroyed"
    } else {
        "decommissioned"
    }
}

/// Whether an event puts an item back in the supply chain: packing it, or a business step of
/// the chain (receiving, shipping, storing and the like).
fn re_enters_chain(event: &Map<String, Value>) -> bool {
    if event.get("type").and_then(Value::as_str) == Some("AggregationEvent") {
        return true;
    }
    matches!(
        term(event, "bizStep", Vocabulary::BizStep),
        Some(
            "accepting"
                | "arriving"
                | "commissioning"
                | "departing"
                | "loading"
                | "packing"
                | "picking"
                | "receiving"
                | "shipping"
                | "staging_outbound"
                | "stocking"
                | "storing"
                | "unloading"
                | "unpacking"
        )
    )
}

/// Where an event happened: its `readPoint`, else its `bizLocation`.
fn location(event: &Map<String, Value>) -> Option<&str> {
    ["readPoint", "bizLocation"]
        .into_iter()
        .find_map(|member| event.get(member)?.get("id")?.as_str())
}

/// The TIDs (upper-case hex) an event's bridge reads give for any of `epcs`: the members
/// `<prefix>:tids` of the prefix its `@context` gives [`BRIDGE_NAMESPACE`].
fn tids_of(event: &Map<String, Value>, epcs: &[String]) -> Vec<String> {
    let Some(prefix) = prefix_of(event, BRIDGE_NAMESPACE) else {
        return Vec::new();
    };
    let member = |name: &str| format!("{prefix}:{name}");
    let Some(reads) = event.get(&member("tids")).and_then(Value::as_array) else {
        return Vec::new();
    };
    let (epc_member, tid_member) = (member("epc"), member("tid"));
    let mut tids: Vec<String> = reads
        .iter()
        .filter(|read| {
            read.get(&epc_member)
                .and_then(Value::as_str)
                .is_some_and(|epc| epcs.iter().any(|name| name == epc))
        })
        .filter_map(|read| read.get(&tid_member)?.as_str())
        .filter(|tid| {
            !tid.is_empty() && tid.len() <= 128 && tid.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .map(str::to_ascii_uppercase)
        .collect();
    tids.dedup();
    tids
}

/// The prefix an event's `@context` gives `namespace`, if any.
fn prefix_of<'e>(event: &'e Map<String, Value>, namespace: &str) -> Option<&'e str> {
    let declared = |object: &'e Map<String, Value>| {
        object
            .iter()
            .find(|(_, iri)| iri.as_str() == Some(namespace))
            .map(|(prefix, _)| prefix.as_str())
    };
    match event.get("@context")? {
        Value::Object(object) => declared(object),
        Value::Array(items) => items.iter().filter_map(Value::as_object).find_map(declared),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
