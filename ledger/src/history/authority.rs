//! Who may speak for an item: the custody-authority model (`docs/ARCHITECTURE.md`, "Custody
//! authority").
//!
//! Every event has a reporter: the organisation of the site that sent it (directly with a site
//! token, or through one of its devices). What an event *does* decides whether its reporter
//! needed authority for it:
//! - an **observation** (seeing an item, a temperature reading, a transaction that moves nothing)
//!   may be reported by anyone;
//! - **commissioning** an EPC (an ObjectEvent `ADD`) is for the organisation that owns its GS1
//!   company prefix, or, for a prefix nobody registered, for the first to commission it;
//! - **changing an item's state** — packing it (AggregationEvent `ADD`/`OBSERVE`, which also needs
//!   the container), unpacking a container (`DELETE`), transforming it, decommissioning or
//!   destroying it (ObjectEvent `DELETE`, or those business steps), declaring its events
//!   erroneous, and shipping it — is for the party that has custody of it at that time;
//! - custody starts with the owner of the company prefix (or the first commissioner) and passes
//!   by the events the parties state: the holder ships an item (`shipping` or `departing`) and
//!   another party receives it (`receiving`, `arriving` or `accepting`), one the shipment's
//!   `destinationList` names ([`Parties::party_of`]: a shipment that names no party the registry
//!   knows hands the item to nobody, and only its holder may take it back); a
//!   packed item is in the custody of whoever holds its outermost container, and stays with that
//!   party when unpacked; the holder may also transfer it with a business transaction (a
//!   TransactionEvent `ADD` naming the party taking possession);
//!   an item a transformation produces is in its reporter's custody;
//! - an organisation may name delegates (a brand its logistics partners), who act with its
//!   authority;
//! - declaring an event erroneous (an error declaration) is for the party that reported it, when
//!   it had authority for it, until that party hands over anything the history follows; it then
//!   withdraws the event ([`withdrawals`]), which is shown and changes nothing, as if it had no
//!   authority. Declaring an observation erroneous is an observation, and withdraws the sighting
//!   when its own reporter declares it.
//!
//! Events are taken in event-time order, then log order. An event without authority is still
//! shown, marked with the reason, but changes nothing: no container window, transformation or
//! custody depends on it.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use epcis::epc::{CompanyPrefix, Epc};
use epcis::vocab::Vocabulary;

use crate::ids::{DeviceId, OrganisationId, SiteId};
use crate::location::{LocationKey, SiteLocation};
use crate::record::Attestation;
use crate::size::LeafIndex;

use super::receipts::{Receipt, Receipts, first_of};
use super::shipments::Shipments;
use super::{Item, MAX_CONTAINER_DEPTH, SourceEvent, text_list};

/// The registry as custody needs it: who owns which company prefixes, who acts for whom, and
/// which organisation each site and device belongs to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Parties {
    prefixes: BTreeMap<CompanyPrefix, OrganisationId>,
    delegates: BTreeMap<OrganisationId, BTreeSet<OrganisationId>>,
    regulators: BTreeSet<OrganisationId>,
    sites: BTreeMap<SiteId, OrganisationId>,
    devices: BTreeMap<DeviceId, SiteId>,
    /// The site of each registered location, by its key ([`LocationKey`]).
    locations: BTreeMap<String, SiteId>,
    /// The site of each device's and each site's reporter digest ([`super::tag`]).
    digests: BTreeMap<u64, SiteId>,
}

impl Parties {
    /// No organisation: every event is an observation or unauthorised.
    pub fn new() -> Self {
        Self::default()
    }

    /// `organisation` owns the EPCs issued under `prefix`.
    pub fn add_prefix(&mut self, organisation: OrganisationId, prefix: CompanyPrefix) {
        self.prefixes.insert(prefix, organisation);
    }

    /// `delegate` may act with `organisation`'s authority.
    pub fn add_delegate(&mut self, organisation: OrganisationId, delegate: OrganisationId) {
        self.delegates
            .entry(organisation)
            .or_default()
            .insert(delegate);
    }

    /// `organisation` is a regulator: its recalls hold for any item, besides each item's brand.
    pub fn add_regulator(&mut self, organisation: OrganisationId) {
        self.regulators.insert(organisation);
    }

    /// Whether `organisation` is a regulator ([`add_regulator`](Self::add_regulator)).
    pub fn is_regulator(&self, organisation: &OrganisationId) -> bool {
        self.regulators.contains(organisation)
    }

    /// Every regulator.
    pub fn regulators(&self) -> impl Iterator<Item = &OrganisationId> {
        self.regulators.iter()
    }

    /// `site` belongs to `organisation`.
    pub fn add_site(&mut self, site: SiteId, organisation: OrganisationId) {
        self.digests
            .insert(super::tag::site_digest(&site), site.clone());
        self.sites.insert(site, organisation);
    }

    /// `device` belongs to `site`.
    pub fn add_device(&mut self, device: DeviceId, site: SiteId) {
        self.digests
            .insert(super::tag::device_digest(&device), site.clone());
        self.devices.insert(device, site);
    }

    /// `site` speaks for `location` (events of its name it as their `readPoint` or
    /// `bizLocation`); a shipment to it is for the site's organisation to receive.
    pub fn add_location(&mut self, site: SiteId, location: &SiteLocation) {
        self.locations
            .insert(location.key().as_str().to_owned(), site);
    }

    /// Every registered location's key with its site.
    pub fn locations(&self) -> impl Iterator<Item = (&str, &SiteId)> {
        self.locations
            .iter()
            .map(|(key, site)| (key.as_str(), site))
    }

    /// The organisation a party or place named in an event (a `sourceList` or `destinationList`
    /// entry) stands for: the organisation of the site that registered the location, else, for a
    /// GLN (an SGLN or PGLN EPC URI, or a Digital Link with AI 414 or 417), the owner of its
    /// company prefix. `None` when the registry knows neither.
    pub fn party_of(&self, id: &str) -> Option<&OrganisationId> {
        let registered = LocationKey::candidates(id)
            .iter()
            .rev()
            .find_map(|key| self.locations.get(key.as_str()));
        if let Some(site) = registered {
            return self.sites.get(site);
        }
        self.gln_owner(id)
    }

    /// The owner of the company prefix of a GLN (of an SGLN or PGLN EPC URI, or of a Digital
    /// Link with AI 414 or 417): its digits are matched against every registered prefix, as
    /// [`class_owner`](Self::class_owner) matches a GTIN's, so every split of an EPC URI finds
    /// the same owner.
    fn gln_owner(&self, id: &str) -> Option<&OrganisationId> {
        let gln = match Epc::parse(id) {
            Ok(Epc::Sgln(sgln)) => sgln.gln().as_str().to_owned(),
            Ok(Epc::Pgln(pgln)) => pgln.gln().as_str().to_owned(),
            Ok(_) => return None,
            Err(_) => {
                let link = epcis::digital_link::DigitalLink::parse(id).ok()?;
                if !matches!(link.primary_key().ai().as_str(), "414" | "417") {
                    return None;
                }
                link.primary_key().value().to_owned()
            }
        };
        let digits = gln.get(..12)?;
        (6..=12).find_map(|length| {
            let prefix = CompanyPrefix::parse(digits.get(..length)?).ok()?;
            self.prefixes.get(&prefix)
        })
    }

    /// The organisation that reported an entry whose lookup tag holds `digest`
    /// ([`Tag::reporter`](super::Tag::reporter)), as [`reporter`](Self::reporter) would give it
    /// from the entry's leaf record: `None` when the registry knows no device or site of it.
    pub fn reporter_of_digest(&self, digest: u64) -> Option<&OrganisationId> {
        self.sites.get(self.digests.get(&digest)?)
    }

    /// The organisation that reported an entry, as its leaf record attests it: a device's site's,
    /// or the site's whose token sent it. `None` when the registry does not know it.
    pub fn reporter(&self, attestation: &Attestation) -> Option<&OrganisationId> {
        self.sites.get(self.site_of(attestation)?)
    }

    /// The site that reported an entry, as its leaf record attests it: its device's, or the
    /// site whose token sent it. `None` for a device the registry does not know.
    pub fn site_of<'a>(&'a self, attestation: &'a Attestation) -> Option<&'a SiteId> {
        match attestation {
            Attestation::Device { device, .. } => self.devices.get(device),
            Attestation::Unattested { site } => Some(site),
        }
    }

    /// The organisation that owns the company prefix of an EPC named in an event (an EPC URI, or
    /// a GS1 Digital Link split at a registered prefix).
    pub fn owner_of(&self, id: &str) -> Option<&OrganisationId> {
        self.registered_epc(id).map(|(_, owner)| owner)
    }

    /// The organisation that owns the company prefix of a GS1 trade item class: a lot
    /// (`urn:epc:class:lgtin:...`, or a Digital Link with `/10/<lot>`) or a whole product
    /// (`urn:epc:idpat:sgtin:CP.REF.*`, or a Digital Link of a GTIN). The GTIN's digits after its
    /// indicator are matched against every registered prefix (GS1 allocates prefixes so that none
    /// is the start of another), so any split of the class finds its owner.
    pub fn class_owner(&self, class: &str) -> Option<&OrganisationId> {
        let (gtin, _) = crate::index::gtin_and_lot(class)?;
        let digits = gtin.get(1..13)?;
        (6..=12).find_map(|length| {
            let prefix = CompanyPrefix::parse(digits.get(..length)?).ok()?;
            self.prefixes.get(&prefix)
        })
    }

    /// Every company prefix with its owner, every delegation, site and device, for writing the
    /// registry out (`tagtrail participants`).
    pub fn prefixes(&self) -> impl Iterator<Item = (&CompanyPrefix, &OrganisationId)> {
        self.prefixes.iter()
    }

    /// Every organisation that named delegates, with them.
    pub fn delegations(
        &self,
    ) -> impl Iterator<Item = (&OrganisationId, &BTreeSet<OrganisationId>)> {
        self.delegates.iter()
    }

    /// Every site with its organisation.
    pub fn sites(&self) -> impl Iterator<Item = (&SiteId, &OrganisationId)> {
        self.sites.iter()
    }

    /// Every device with its site.
    pub fn devices(&self) -> impl Iterator<Item = (&DeviceId, &SiteId)> {
        self.devices.iter()
    }

    /// The EPC URI an identifier stands for under a registered prefix, and that prefix's owner.
    /// A GS1 key and serial is one item however its EPC URI splits the company prefix from the
    /// reference: `urn:epc:id:sgtin:061414.1107346.2017` is the same item as
    /// `urn:epc:id:sgtin:0614141.107346.2017`, and a Digital Link names them all, so every split
    /// is looked up and the registered one wins.
    /// The owner of the company prefix an EPC URI is split at, when that exact prefix is
    /// registered (no resplitting: another split of the same GTIN answers `None`).
    pub fn owner_of_split(&self, uri: &str) -> Option<&OrganisationId> {
        let epc = Epc::parse(uri).ok()?;
        self.prefixes.get(epc.company_prefix()?)
    }

    fn registered_epc(&self, id: &str) -> Option<(String, &OrganisationId)> {
        if self.prefixes.is_empty() {
            return None;
        }
        if id.starts_with("urn:") {
            let epc = Epc::parse(id).ok()?;
            if let Some(owner) = epc.company_prefix().and_then(|p| self.prefixes.get(p)) {
                return Some((id.to_owned(), owner));
            }
            return self.resplit(id);
        }
        let item = Item::parse(id).ok()?;
        item.epcs.into_iter().find_map(|uri| {
            let epc = Epc::parse(&uri).ok()?;
            let owner = self.prefixes.get(epc.company_prefix()?)?;
            Some((uri, owner))
        })
    }

    /// The SGTIN or SSCC of `uri` split at a registered company prefix, if one is the start of
    /// its digits (the company prefix and the reference without its leading indicator or
    /// extension digit, which every split shares). `uri` parsed as an EPC already.
    fn resplit(&self, uri: &str) -> Option<(String, &OrganisationId)> {
        let (scheme, body) = uri.strip_prefix("urn:epc:id:")?.split_once(':')?;
        if !matches!(scheme, "sgtin" | "sscc") {
            return None;
        }
        let mut parts = body.split('.');
        let (company, reference) = (parts.next()?, parts.next()?);
        let serial = parts.next();
        let (lead, tail) = reference.split_at_checked(1)?;
        let digits = format!("{company}{tail}");
        (6..=digits.len().min(12)).find_map(|length| {
            let prefix = CompanyPrefix::parse(digits.get(..length)?).ok()?;
            let owner = self.prefixes.get(&prefix)?;
            let mut resplit = format!(
                "urn:epc:id:{scheme}:{}.{lead}{}",
                &digits[..length],
                &digits[length..]
            );
            if let Some(serial) = serial {
                resplit.push('.');
                resplit.push_str(serial);
            }
            Some((resplit, owner))
        })
    }

    /// The organisation a site belongs to.
    pub fn organisation_of(&self, site: &SiteId) -> Option<&OrganisationId> {
        self.sites.get(site)
    }

    /// Why `reporter` may not commission the EPC `id` (one issued under another organisation's
    /// company prefix), if it may not. EPCs under prefixes nobody registered are checked in the
    /// views (the first to commission one has it).
    pub fn may_commission(
        &self,
        reporter: Option<&OrganisationId>,
        id: &str,
    ) -> Result<(), String> {
        match (self.owner_of(id), reporter) {
            (None, _) => Ok(()),
            (Some(owner), Some(reporter)) if self.acts_for(reporter, owner) => Ok(()),
            (Some(owner), Some(reporter)) => Err(format!(
                "{id} is issued under a company prefix of {owner}, not of {reporter}"
            )),
            (Some(owner), None) => Err(format!(
                "{id} is issued under a company prefix of {owner}, and the reporter belongs to no \
                 registered organisation"
            )),
        }
    }

    /// Whether `reporter` may act for `holder`: the same organisation, or one it delegated to.
    pub fn acts_for(&self, reporter: &OrganisationId, holder: &OrganisationId) -> bool {
        reporter == holder
            || self
                .delegates
                .get(holder)
                .is_some_and(|delegates| delegates.contains(reporter))
    }
}

/// Whether an event's reporter had authority for what the event does.
///
/// In JSON: `{"kind": "observation"}`, `{"kind": "authorised"}` or `{"kind": "unauthorised",
/// "reason": "..."}`; unknown members are refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    deny_unknown_fields,
    from = "AuthorityJson"
)]
pub enum Authority {
    /// The event changes no item's state: anyone may report it.
    Observation,
    /// The reporter had authority for what the event does.
    Authorised,
    /// The reporter had no authority for what the event does: it is shown, and changes nothing.
    Unauthorised {
        /// Why, in plain words.
        reason: String,
    },
}

/// How [`Authority`] is read: the same, with the unit variants as empty structs so that unknown
/// members are refused for them too (serde ignores them for a unit variant of an internally
/// tagged enum).
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
enum AuthorityJson {
    Observation {},
    Authorised {},
    Unauthorised { reason: String },
}

impl From<AuthorityJson> for Authority {
    fn from(json: AuthorityJson) -> Self {
        match json {
            AuthorityJson::Observation {} => Self::Observation,
            AuthorityJson::Authorised {} => Self::Authorised,
            AuthorityJson::Unauthorised { reason } => Self::Unauthorised { reason },
        }
    }
}

impl Authority {
    /// Whether the event may change how a history is put together.
    pub fn counts(&self) -> bool {
        !matches!(self, Self::Unauthorised { .. })
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Observation => f.write_str("observation"),
            Self::Authorised => f.write_str("authorised"),
            Self::Unauthorised { reason } => write!(f, "unauthorised: {reason}"),
        }
    }
}

/// What an event does, as far as custody is concerned.
#[derive(Debug)]
enum Act<'a> {
    Observe,
    Commission(Vec<&'a str>),
    End(Vec<&'a str>),
    Pack {
        parent: &'a str,
        children: Vec<&'a str>,
    },
    Unpack {
        parent: &'a str,
        /// `None`: the whole container.
        children: Option<Vec<&'a str>>,
    },
    Transform {
        inputs: Vec<&'a str>,
        outputs: Vec<&'a str>,
    },
    Ship(Vec<&'a str>),
    Receive(Vec<&'a str>),
    /// A transfer with a business transaction: a TransactionEvent `ADD` that names the party
    /// taking possession (`destinationList`'s possessing parties; an owning party is ownership,
    /// which moves no custody).
    Transfer {
        ids: Vec<&'a str>,
        to: Vec<&'a str>,
    },
    Declare(Vec<&'a str>),
    /// A recall, or its lifting ([`recall_change`]): the brand's word on the EPCs and classes it
    /// names.
    Recall {
        epcs: Vec<&'a str>,
        classes: Vec<&'a str>,
    },
}

impl Act<'_> {
    /// Every identifier whose state the event changes.
    fn ids(&self) -> Vec<&str> {
        match self {
            Act::Observe => Vec::new(),
            Act::Commission(ids)
            | Act::End(ids)
            | Act::Ship(ids)
            | Act::Receive(ids)
            | Act::Declare(ids)
            | Act::Transfer { ids, .. } => ids.clone(),
            Act::Recall { epcs, .. } => epcs.clone(),
            Act::Pack { parent, children } => {
                let mut ids = children.clone();
                ids.push(parent);
                ids
            }
            Act::Unpack { parent, children } => {
                let mut ids = children.clone().unwrap_or_default();
                ids.push(parent);
                ids
            }
            Act::Transform { inputs, outputs } => inputs.iter().chain(outputs).copied().collect(),
        }
    }
}

/// Whether an event changes some item's state (anything but an observation): what a judgement
/// of authority can depend on.
pub fn changes_state(event: &Map<String, Value>) -> bool {
    !matches!(act(event), Act::Observe)
}

/// Whether an event ends an item's life in the supply chain, or says it did: decommissioning,
/// destroying, killing, selling or dispensing it (by business step or disposition), or an
/// ObjectEvent `DELETE`.
pub fn ends_life(event: &Map<String, Value>) -> bool {
    matches!(act(event), Act::End(_))
}

/// How the reason for a refused receipt ends when the item's holder had not shipped it.
const NOT_SHIPPED: &str = ", who has not shipped it";

/// The holder named by the reason a receipt was refused for, when it was refused because that
/// holder had not shipped the item (rather than for arriving too late, or for a receipt logged
/// first): the party that still had the object.
pub fn unshipped_holder(reason: &str) -> Option<&str> {
    let rest = reason
        .strip_prefix("no hand-over: ")?
        .strip_suffix(NOT_SHIPPED)?;
    rest.rsplit_once(" is in the custody of ")
        .map(|(_, holder)| holder)
}

/// Whether an event says its reporter shipped an item (`shipping` or `departing`).
pub fn ships(event: &Map<String, Value>) -> bool {
    matches!(act(event), Act::Ship(_))
}

/// The organisations a shipping's `destinationList` names ([`Parties::party_of`]), or `None`
/// when the event ships nothing ([`ships`]): who, with its shipper, may take the shipment.
pub fn shipped_to(
    event: &Map<String, Value>,
    parties: &Parties,
) -> Option<BTreeSet<OrganisationId>> {
    ships(event).then(|| destinations(event, parties))
}

/// The party a transfer hands custody to (the one possessing party of its `destinationList` the
/// registry knows), or `None` when the event is no transfer (a `TransactionEvent` `ADD` with a business
/// transaction naming a possessing party) or hands custody
/// to nobody (no such party, or more than one).
pub fn transferee_of(event: &Map<String, Value>, parties: &Parties) -> Option<OrganisationId> {
    let Act::Transfer { to, .. } = act(event) else {
        return None;
    };
    let known: BTreeSet<&OrganisationId> =
        to.iter().filter_map(|id| parties.party_of(id)).collect();
    let mut known = known.into_iter();
    match (known.next(), known.next()) {
        (Some(one), None) => Some(one.clone()),
        _ => None,
    }
}

/// Whether an event claims to bring an identifier into being: it commissions it (an ObjectEvent
/// `ADD`), produces it (a TransformationEvent's outputs) or packs into it (an AggregationEvent
/// `ADD` or `OBSERVE` with children, claiming its parent). Under no registered company prefix,
/// the first such claim in log order decides who did, whoever is judged to hold anything. An
/// error declaration claims nothing.
pub fn claims(event: &Map<String, Value>) -> bool {
    !claimed(event).is_empty()
}

/// The identifiers an event claims to bring into being, as it spells them: what it commissions,
/// what a transformation produces, and the container a packing packs into (packing into a
/// container nobody holds makes it the packer's). An error declaration claims nothing. A lookup
/// pair says whether its entry claims the identifier it is found by ([`Tag::claim`](super::Tag::claim)).
pub fn claimed(event: &Map<String, Value>) -> Vec<&str> {
    match act(event) {
        Act::Commission(ids) => ids,
        Act::Transform { outputs, .. } => outputs,
        Act::Pack { parent, .. } => vec![parent],
        _ => Vec::new(),
    }
}

/// Whether an event says its reporter received an item (`receiving`, `arriving` or
/// `accepting`): what takes custody when the holder shipped it.
pub fn receives(event: &Map<String, Value>) -> bool {
    matches!(act(event), Act::Receive(_))
}

/// The CBV business step of an event without its namespace (`shipping` for
/// `urn:epcglobal:cbv:bizstep:shipping`, `https://ref.gs1.org/cbv/BizStep-shipping` or
/// `shipping`).
fn biz_step(event: &Map<String, Value>) -> Option<&str> {
    let step = event.get("bizStep")?.as_str()?;
    Some(Vocabulary::BizStep.term(step))
}

fn act(event: &Map<String, Value>) -> Act<'_> {
    match deed(event) {
        // Declaring an observation erroneous changes nobody's state: it is an observation too,
        // and withdraws the sighting only when its reporter made it ([`withdrawals`]).
        Act::Observe => Act::Observe,
        _ if event.contains_key("errorDeclaration") => Act::Declare(named(event)),
        deed => deed,
    }
}

/// Every identifier an event names, in its EPC lists and as its parent.
fn named(event: &Map<String, Value>) -> Vec<&str> {
    let mut ids: Vec<&str> = text_list(event, "epcList").collect();
    ids.extend(event.get("parentID").and_then(Value::as_str));
    for member in ["childEPCs", "inputEPCList", "outputEPCList"] {
        ids.extend(text_list(event, member));
    }
    ids
}

/// What an event does, leaving out its `errorDeclaration`: for an error declaration, what the
/// event it declares erroneous does.
fn deed(event: &Map<String, Value>) -> Act<'_> {
    let kind = event.get("type").and_then(Value::as_str).unwrap_or("");
    let action = event.get("action").and_then(Value::as_str);
    let list = |member: &str| text_list(event, member).collect::<Vec<_>>();
    let named = || named(event);
    if kind == "TransformationEvent" {
        return Act::Transform {
            inputs: list("inputEPCList"),
            outputs: list("outputEPCList"),
        };
    }
    if kind == "AggregationEvent"
        && let Some(parent) = event.get("parentID").and_then(Value::as_str)
    {
        let children = list("childEPCs");
        match action {
            Some("ADD" | "OBSERVE") if !children.is_empty() => {
                return Act::Pack { parent, children };
            }
            Some("DELETE") => {
                return Act::Unpack {
                    parent,
                    children: (!children.is_empty()).then_some(children),
                };
            }
            _ => {}
        }
    }
    if kind == "ObjectEvent" && action == Some("ADD") {
        return Act::Commission(list("epcList"));
    }
    let step = biz_step(event);
    let disposition = event
        .get("disposition")
        .and_then(Value::as_str)
        .map(|d| Vocabulary::Disposition.term(d));
    // What ends an item's life in the supply chain (or says it did) changes its state: only its
    // custodian may report it, so that nobody else can make a genuine item look sold or gone.
    if (kind == "ObjectEvent" && action == Some("DELETE"))
        || matches!(
            step,
            Some("decommissioning" | "destroying" | "retail_selling" | "dispensing" | "killing")
        )
        || matches!(
            disposition,
            Some("destroyed" | "retail_sold" | "stolen" | "disposed" | "inactive")
        )
    {
        return Act::End(named());
    }
    match step {
        Some("shipping" | "departing") => Act::Ship(named()),
        Some("receiving" | "arriving" | "accepting") => Act::Receive(named()),
        _ if kind == "TransactionEvent"
            && action == Some("ADD")
            && event
                .get("bizTransactionList")
                .and_then(Value::as_array)
                .is_some_and(|list| !list.is_empty())
            && let Some(to) = transferred_to(event) =>
        {
            Act::Transfer { ids: named(), to }
        }
        _ if kind == "ObjectEvent" && recall_change(event).is_some() => Act::Recall {
            epcs: named(),
            classes: event
                .get("quantityList")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|quantity| quantity.get("epcClass")?.as_str())
                .collect(),
        },
        _ => Act::Observe,
    }
}

/// What an event says of a recall: an ObjectEvent whose `disposition` is CBV `recalled`, or
/// whose `persistentDisposition` sets it, recalls what it names; one whose
/// `persistentDisposition` unsets it lifts the recall. Either is the word of the brand (the owner
/// of the company prefix of everything it names, or a party acting for it); from anyone else it
/// changes nothing. An event that does something else as well (ships, receives, ends an item's
/// life) is judged as that.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecallChange {
    /// What the event names is recalled from its `eventTime` on.
    Recalled,
    /// The recall of what the event names is lifted from its `eventTime` on.
    Lifted,
}

/// What a recall (or its lifting) names, when `event` is judged as one: the EPCs
/// (`epcList`, `parentID`, ...) and the classes of `quantityList`. `None` for any other event,
/// including one that states a recall while doing something else (commissioning, shipping).
pub fn recall_scope(event: &Map<String, Value>) -> Option<(RecallChange, Vec<&str>, Vec<&str>)> {
    match act(event) {
        Act::Recall { epcs, classes } => Some((recall_change(event)?, epcs, classes)),
        _ => None,
    }
}

/// The recall an event states, if it states one ([`RecallChange`]).
pub fn recall_change(event: &Map<String, Value>) -> Option<RecallChange> {
    let is_recalled = |value: &Value| {
        value
            .as_str()
            .is_some_and(|disposition| Vocabulary::Disposition.term(disposition) == "recalled")
    };
    let persistent = |member: &str| {
        event
            .get("persistentDisposition")
            .and_then(|persistent| persistent.get(member))
            .and_then(Value::as_array)
            .is_some_and(|list| list.iter().any(is_recalled))
    };
    if persistent("unset") {
        Some(RecallChange::Lifted)
    } else if event.get("disposition").is_some_and(is_recalled) || persistent("set") {
        Some(RecallChange::Recalled)
    } else {
        None
    }
}

/// What a recall of a class of trade items covers: one lot of a GTIN, or every item of it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecalledClass {
    /// The GTIN, 14 digits.
    pub gtin: String,
    /// The lot, or `None`: every item of the GTIN.
    pub lot: Option<String>,
}

impl RecalledClass {
    /// The lookup name of recalls of exactly this class: what the store's lookups find recall
    /// and lifting events by. It has spaces, so no EPC (a URI) is ever named so.
    pub fn lookup_name(&self) -> String {
        match &self.lot {
            Some(lot) => format!("recall of gtin {} lot {lot}", self.gtin),
            None => format!("recall of gtin {} every item", self.gtin),
        }
    }

    /// The lookup name of every class recall of `gtin`, lot or whole product: what a link
    /// naming the product alone lists.
    pub fn any_of(gtin: &str) -> String {
        format!("recall of gtin {gtin} any")
    }
}

/// The GS1 trade item classes a recall or lifting names in its `quantityList` (a lot, or a whole
/// GTIN), each once; empty for any other event. An event that states a recall while doing
/// something else is judged as that, and names none. The first test is a few string
/// comparisons, so that the capture path pays nothing for events that are no recall.
pub fn recalled_classes(event: &Map<String, Value>) -> Vec<RecalledClass> {
    if recall_change(event).is_none() {
        return Vec::new();
    }
    let Some((_, _, classes)) = recall_scope(event) else {
        return Vec::new();
    };
    let mut recalled: Vec<RecalledClass> = classes
        .into_iter()
        .filter_map(crate::index::gtin_and_lot)
        .map(|(gtin, lot)| RecalledClass { gtin, lot })
        .collect();
    recalled.sort();
    recalled.dedup();
    recalled
}

/// The classes an item belongs to that a recall may name, for an item of a GS1 trade item
/// named by `names` (its EPC URIs and Digital Links) whose lot is one of `lots` (as its link or
/// its commissioning says): each lot, and the whole GTIN. Empty for anything else (an SSCC).
pub fn item_classes(names: &[String], lots: &[String]) -> Vec<RecalledClass> {
    let Some(gtin) = names
        .iter()
        .find_map(|name| crate::index::gtin_and_lot(name))
        .map(|(gtin, _)| gtin)
    else {
        return Vec::new();
    };
    let mut classes: Vec<RecalledClass> = lots
        .iter()
        .map(|lot| RecalledClass {
            gtin: gtin.clone(),
            lot: Some(lot.clone()),
        })
        .collect();
    classes.push(RecalledClass { gtin, lot: None });
    classes.sort();
    classes.dedup();
    classes
}

/// The lot an event's ILMD gives what it commissions (`cbvmda:lotNumber`), if it gives one.
pub fn ilmd_lot(event: &Map<String, Value>) -> Option<&str> {
    event
        .get("ilmd")
        .and_then(Value::as_object)
        .and_then(|ilmd| {
            crate::index::LOT_NUMBER_NAMES
                .iter()
                .find_map(|name| ilmd.get(*name))
        })
        .and_then(Value::as_str)
}

/// The lookup names a recall or lifting of classes is found by: each class's
/// ([`RecalledClass::lookup_name`]) and, for each GTIN, [`RecalledClass::any_of`].
pub fn class_recall_names(event: &Map<String, Value>) -> Vec<String> {
    let classes = recalled_classes(event);
    let mut names: Vec<String> = classes.iter().map(RecalledClass::lookup_name).collect();
    names.extend(
        classes
            .iter()
            .map(|class| RecalledClass::any_of(&class.gtin)),
    );
    names.sort();
    names.dedup();
    names
}

/// How long after its `eventTime` an event may be reported and still change an item's state: 30
/// days, which covers a bridge's offline spool. Later reports are judged without authority.
pub const LATE_REPORT_WINDOW_SECONDS: i128 = 30 * 24 * 60 * 60;

/// A custody hand-over by `from`: it shipped `key` and another party received it, or it
/// transferred `key` with a business transaction.
#[derive(Clone, Debug)]
struct Handover {
    key: String,
    from: OrganisationId,
    time: i128,
    /// Where the log holds the whole hand-over: the later of the shipment and the receipt (the
    /// transfer). A change logged before this point was made before anything was handed over.
    leaf: LeafIndex,
    /// The events it rests on: the shipment and the receipt (the transfer, twice).
    rests_on: [LeafIndex; 2],
}

/// What log order settles, whatever the events' times say: a backdated event cannot take away
/// what an event logged before it already established.
#[derive(Debug, Default)]
struct Settled {
    /// Every receipt of each key, as the checks ask about them.
    receipts: HashMap<String, Receipts>,
    /// The first (lowest-leaf) claim to have brought each key into being (commissioned it,
    /// produced it by a transformation, or packed into it), for keys under no registered prefix.
    origins: HashMap<String, (LeafIndex, OrganisationId)>,
    /// Every shipment of each key, by shipper and party named.
    shipments: Shipments,
}

impl Settled {
    fn of<T>(order: &[&SourceEvent<T>], parties: &Parties) -> Self {
        let key = |id: &str| match parties.registered_epc(id) {
            Some((uri, _)) => uri,
            None => id.to_owned(),
        };
        let mut settled = Self::default();
        for event in order {
            let Some(reporter) = &event.reporter else {
                continue;
            };
            let origins: Vec<&str> = match act(&event.event) {
                // A receipt reported past the late-report window has no authority of its own,
                // so log order gives it none over others' either.
                Act::Receive(_) if late(event).is_some() => Vec::new(),
                Act::Receive(ids) => {
                    for id in ids {
                        let receipts = settled.receipts.entry(key(id)).or_default();
                        receipts.add(reporter, event.time, event.leaf);
                    }
                    Vec::new()
                }
                Act::Ship(ids) if late(event).is_none() => {
                    let to = destinations(&event.event, parties);
                    for id in ids {
                        settled
                            .shipments
                            .add(key(id), reporter, &to, event.time, event.leaf);
                    }
                    Vec::new()
                }
                // Packing into a container nobody holds makes it the packer's: a claim too, so
                // that a commissioning logged later and dated earlier does not take it back.
                _ => claimed(&event.event),
            };
            for id in origins {
                if parties.owner_of(id).is_some() {
                    continue;
                }
                let claim = settled
                    .origins
                    .entry(key(id))
                    .or_insert((event.leaf, reporter.clone()));
                if event.leaf < claim.0 {
                    *claim = (event.leaf, reporter.clone());
                }
            }
        }
        settled.shipments.seal();
        settled
    }
}

/// A shipment not yet received: the organisations its `destinationList` names (none: only its
/// holder may take it back), its entry, and what it carries that someone reports receiving
/// (packed, at any depth, in what it ships; by key).
#[derive(Clone, Debug)]
struct Shipment {
    to: BTreeSet<OrganisationId>,
    leaf: LeafIndex,
    received_inside: BTreeSet<String>,
}

/// The destinations of an event's `destinationList` entries whose CBV source/destination type
/// (in any of its three spellings, given to `accept` without its namespace) `accept`s.
fn destination_entries(
    event: &Map<String, Value>,
    accept: impl Fn(&str) -> bool,
) -> impl Iterator<Item = &str> {
    event
        .get("destinationList")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |entry| {
            let kind = entry.get("type").and_then(Value::as_str).unwrap_or("");
            accept(Vocabulary::SourceDestinationType.term(kind))
        })
        .filter_map(|entry| entry.get("destination")?.as_str())
}

/// The organisations a shipment names as where it goes: every owning party, possessing party
/// and location of its `destinationList` the registry knows ([`Parties::party_of`]).
fn destinations(event: &Map<String, Value>, parties: &Parties) -> BTreeSet<OrganisationId> {
    destination_entries(event, |kind| {
        matches!(kind, "owning_party" | "possessing_party" | "location")
    })
    .filter_map(|id| parties.party_of(id))
    .cloned()
    .collect()
}

/// A `sourceList` or `destinationList` entry of an event as a view marks it: which list, its CBV
/// type and identifier as written, the organisation the registry maps the identifier to
/// ([`Parties::party_of`]), and whether that organisation is the event's reporter's own or one it
/// acts for. The lists name other parties' places by design and are not checked at capture: the
/// mark says whose place an entry names, so that a party claiming to have received from (or
/// shipped to) another is seen naming someone else.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// `sourceList` or `destinationList`.
    pub list: &'static str,
    /// The entry's CBV source/destination type, as written.
    #[serde(rename = "type")]
    pub kind: String,
    /// The source or destination, as written.
    pub id: String,
    /// The organisation the registry maps it to; `None` when it knows none.
    pub organisation: Option<OrganisationId>,
    /// Whether that organisation is the reporter's own, or one the reporter acts for.
    pub reporters: bool,
}

/// Every `sourceList` and `destinationList` entry of `event` (those with a text identifier), in
/// order, marked with whose it is ([`Listed`]).
pub fn listed(
    event: &Map<String, Value>,
    reporter: Option<&OrganisationId>,
    parties: &Parties,
) -> Vec<Listed> {
    [("sourceList", "source"), ("destinationList", "destination")]
        .into_iter()
        .flat_map(|(list, member)| {
            event
                .get(list)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(move |entry| {
                    let id = entry.get(member)?.as_str()?;
                    let organisation = parties.party_of(id).cloned();
                    let reporters = organisation
                        .as_ref()
                        .zip(reporter)
                        .is_some_and(|(owner, reporter)| parties.acts_for(reporter, owner));
                    Some(Listed {
                        list,
                        kind: entry
                            .get("type")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_owned(),
                        id: id.to_owned(),
                        organisation,
                        reporters,
                    })
                })
        })
        .collect()
}

/// The parties a transfer names as taking possession: its `destinationList`'s possessing
/// parties; `None` when it names none.
fn transferred_to(event: &Map<String, Value>) -> Option<Vec<&str>> {
    let to: Vec<&str> = destination_entries(event, |kind| kind == "possessing_party").collect();
    (!to.is_empty()).then_some(to)
}

/// Custody as events change it, in event-time order.
struct Custody<'p> {
    parties: &'p Parties,
    /// The hand-overs of an earlier pass over the same events: a party cannot change the past of
    /// an item it handed over once the hand-over is in the log.
    known_handovers: HashMap<String, Vec<Handover>>,
    /// The hand-overs of this pass.
    handovers: Vec<Handover>,
    /// What log order settles: each key's receipts, and the first claim to bring each key into
    /// being (for keys under no registered prefix).
    settled: &'p Settled,
    /// Who holds each EPC (by its key), once known.
    holder: HashMap<String, OrganisationId>,
    /// EPCs whose holder shipped them and nobody has received yet, with where they were sent.
    shipped: HashMap<String, Shipment>,
    /// The container each packed EPC is in.
    parent: HashMap<String, String>,
    /// What is packed directly in each container: `parent` the other way round.
    contents: HashMap<String, HashSet<String>>,
    /// The state changes judged so far, by event hash: what a declaration declares.
    judged: HashMap<epcis::EventHash, Vec<Judged>>,
    /// The events that the checks of the event being judged read from what log order settles
    /// ([`Settled`]'s receipts and first claims, the hand-overs): whatever they found, that
    /// event's mark rests on them.
    cited: RefCell<Vec<LeafIndex>>,
    /// What each event's mark rests on besides the authorised changes ([`Judgement::rests_on`]).
    rests_on: RestsOn,
    /// The events that gave each key's holder its custody in this pass (a hand-over's events).
    gained: HashMap<String, Vec<LeafIndex>>,
    /// For each event that handed something over in this pass, the events that had given the
    /// giver its custody: a hand-over found in the first pass exists only with them.
    provenance: RestsOn,
}

/// A state change as judged, for the declarations of it.
#[derive(Debug)]
struct Judged {
    leaf: LeafIndex,
    reporter: Option<OrganisationId>,
    authorised: bool,
}

impl<'p> Custody<'p> {
    fn new(parties: &'p Parties, known_handovers: Vec<Handover>, settled: &'p Settled) -> Self {
        // By key: a change is compared with the hand-overs of what it names only.
        let mut by_key: HashMap<String, Vec<Handover>> = HashMap::new();
        for handover in known_handovers {
            by_key
                .entry(handover.key.clone())
                .or_default()
                .push(handover);
        }
        Self {
            parties,
            known_handovers: by_key,
            handovers: Vec::new(),
            settled,
            holder: HashMap::new(),
            shipped: HashMap::new(),
            parent: HashMap::new(),
            contents: HashMap::new(),
            judged: HashMap::new(),
            cited: RefCell::new(Vec::new()),
            rests_on: BTreeMap::new(),
            gained: HashMap::new(),
            provenance: BTreeMap::new(),
        }
    }

    /// Notes that the mark of the event being judged rests on `leaves`.
    fn cite(&self, leaves: &[LeafIndex]) {
        self.cited.borrow_mut().extend_from_slice(leaves);
    }

    /// The key an identifier's custody is kept under: the EPC URI under a registered company
    /// prefix (a Digital Link and its EPC URI are one item), else the identifier itself.
    fn key(&self, id: &str) -> String {
        match self.parties.registered_epc(id) {
            Some((uri, _)) => uri,
            None => id.to_owned(),
        }
    }

    /// The holder of `key` itself: as events left it, else the owner of its company prefix.
    fn own_holder(&self, key: &str) -> Option<OrganisationId> {
        self.holder
            .get(key)
            .or_else(|| self.parties.owner_of(key))
            .cloned()
    }

    /// The outermost container `key` is packed in (itself when it is not packed).
    fn outermost(&self, key: &str) -> String {
        let mut top = key.to_owned();
        for _ in 0..MAX_CONTAINER_DEPTH {
            match self.parent.get(&top) {
                Some(parent) if parent != key => top = parent.clone(),
                _ => break,
            }
        }
        top
    }

    /// What is packed in `top` now, at any depth, that someone reports receiving: a walk of
    /// `top`'s contents only.
    fn received_under(&self, top: &str) -> BTreeSet<String> {
        let mut received = BTreeSet::new();
        let mut seen: HashSet<&str> = HashSet::from([top]);
        let mut pending: Vec<&str> = vec![top];
        while let Some(container) = pending.pop() {
            for key in self.contents.get(container).into_iter().flatten() {
                if seen.insert(key) {
                    if self.settled.receipts.contains_key(key) {
                        received.insert(key.clone());
                    }
                    pending.push(key);
                }
            }
        }
        received
    }

    /// The receipts of each of the keys `named` that someone reports receiving, in that order.
    fn receipts<'k>(
        &'k self,
        named: impl IntoIterator<Item = &'k str>,
    ) -> impl Iterator<Item = (&'k str, &'k Receipts)> {
        named
            .into_iter()
            .filter_map(|key| Some((key, self.settled.receipts.get(key)?)))
    }

    /// Who has custody of `key` now: the holder of its outermost container, else its own.
    fn custodian(&self, key: &str) -> Option<OrganisationId> {
        self.own_holder(&self.outermost(key))
            .or_else(|| self.own_holder(key))
    }

    /// Whether `reporter` may change `id`'s state now.
    fn check(&self, reporter: &OrganisationId, id: &str) -> Result<(), String> {
        match self.custodian(&self.key(id)) {
            Some(holder) if self.parties.acts_for(reporter, &holder) => Ok(()),
            Some(holder) => Err(format!(
                "{id} is in the custody of {holder}, not of {reporter}"
            )),
            None => Err(format!(
                "nobody has custody of {id}: it was not commissioned by the owner of its company \
                 prefix"
            )),
        }
    }

    fn check_all(&self, reporter: &OrganisationId, ids: &[&str]) -> Result<(), String> {
        ids.iter().try_for_each(|id| self.check(reporter, id))
    }

    /// Whether `reporter` may bring `id` into being (commission it, or produce it): not while
    /// another party has custody of it; under a registered prefix, only its owner (or a
    /// delegate); under none, the first to claim it in log order.
    /// Whether `reporter` speaks for the brand of `id`, whoever holds it: the owner of its
    /// company prefix (or a delegate); under no registered prefix, the first to bring it into
    /// being in log order (or a delegate). What only a brand may say: a recall.
    fn check_brand(&self, reporter: &OrganisationId, id: &str) -> Result<(), String> {
        let key = self.key(id);
        let brand = match self.parties.owner_of(&key) {
            Some(owner) => owner,
            None => match self.settled.origins.get(&key) {
                Some((leaf, first)) => {
                    self.cite(&[*leaf]);
                    first
                }
                None => return Err(format!("nobody brought {id} into being: it has no brand")),
            },
        };
        match self.parties.acts_for(reporter, brand) {
            true => Ok(()),
            false => Err(format!(
                "{id} is {brand}'s, not {reporter}'s: only its brand recalls it"
            )),
        }
    }

    fn check_origin(&self, reporter: &OrganisationId, id: &str) -> Result<(), String> {
        let key = self.key(id);
        if let Some(holder) = self.holder.get(&key)
            && !self.parties.acts_for(reporter, holder)
        {
            return Err(format!(
                "{id} is in the custody of {holder}, not of {reporter}"
            ));
        }
        if let Some(owner) = self.parties.owner_of(&key) {
            return if self.parties.acts_for(reporter, owner) {
                Ok(())
            } else {
                Err(format!(
                    "{id} is issued under a company prefix of {owner}, not of {reporter}"
                ))
            };
        }
        let Some((leaf, first)) = self.settled.origins.get(&key) else {
            return Ok(());
        };
        // Whoever claims it, the first claim decides: both ways, the mark rests on it.
        self.cite(&[*leaf]);
        match self.parties.acts_for(reporter, first) {
            true => Ok(()),
            false => Err(format!(
                "{id} was brought into being by {first} first (entry {leaf})"
            )),
        }
    }

    /// Judges one event and applies what it does when its reporter had authority; a state
    /// change is remembered by its hash, for the declarations of it judged later.
    fn apply<T>(&mut self, event: &SourceEvent<T>) -> Authority {
        let authority = self.apply_judged(event);
        if let Some(hash) = event.hash
            && !event.event.contains_key("errorDeclaration")
            && !matches!(authority, Authority::Observation)
        {
            self.judged.entry(hash).or_default().push(Judged {
                leaf: event.leaf,
                reporter: event.reporter.clone(),
                authorised: authority == Authority::Authorised,
            });
        }
        authority
    }

    /// Whether `reporter` may declare `declaration`'s event erroneous: the event (the state
    /// change of the same hash logged before it) had authority, and `reporter` reported it or
    /// acts for who did. A party takes back its own word, never another's.
    fn check_declared<T>(
        &self,
        reporter: &OrganisationId,
        declaration: &SourceEvent<T>,
    ) -> Result<(), String> {
        let declared: Vec<&Judged> = declaration
            .hash
            .as_ref()
            .and_then(|hash| self.judged.get(hash))
            .into_iter()
            .flatten()
            .filter(|judged| judged.leaf < declaration.leaf)
            .collect();
        if declared.iter().any(|judged| {
            judged.authorised
                && judged
                    .reporter
                    .as_ref()
                    .is_some_and(|by| self.parties.acts_for(reporter, by))
        }) {
            return Ok(());
        }
        // The reason names only an authorised change, which every history keeps: one built on
        // a refused change of another party's would read otherwise when a history leaves that
        // change out, and a verifier judging the bundle alone would disagree.
        Err(match declared.iter().find(|judged| judged.authorised) {
            None => "it declares no authorised state change logged before it".to_owned(),
            Some(judged) => format!(
                "the event it declares (entry {}) was reported by {}, not by {reporter}",
                judged.leaf,
                judged
                    .reporter
                    .as_ref()
                    .map_or("no registered organisation", OrganisationId::as_str)
            ),
        })
    }

    fn apply_judged<T>(&mut self, event: &SourceEvent<T>) -> Authority {
        self.cited.borrow_mut().clear();
        let authority = self.apply_checked(event);
        let mut cited = std::mem::take(&mut *self.cited.borrow_mut());
        cited.retain(|leaf| *leaf != event.leaf);
        if !cited.is_empty() {
            cited.sort_unstable();
            cited.dedup();
            self.rests_on.insert(event.leaf, cited);
        }
        authority
    }

    fn apply_checked<T>(&mut self, event: &SourceEvent<T>) -> Authority {
        let act = act(&event.event);
        if matches!(act, Act::Observe) {
            return Authority::Observation;
        }
        let Some(reporter) = event.reporter.as_ref() else {
            return Authority::Unauthorised {
                reason: "its reporter belongs to no registered organisation".to_owned(),
            };
        };
        // A business transaction reported by a party that holds nothing it names (the buyer's
        // purchase order, say) states no hand-over: it is an observation of the transaction.
        if let Act::Transfer { ids, .. } = &act
            && ids.iter().all(|id| self.check(reporter, id).is_err())
        {
            return Authority::Observation;
        }
        let judged = late(event)
            .map_or(Ok(()), Err)
            .and_then(|()| self.check_past(reporter, event, &act))
            .and_then(|()| self.judge(reporter, &act, event));
        match judged {
            Ok(()) => {
                self.change(reporter, &act, event);
                Authority::Authorised
            }
            Err(reason) => Authority::Unauthorised { reason },
        }
    }

    /// The identifiers `of` accepts that `event` relates to others and its reporter spoke for
    /// now (before the event is applied): see [`assess_relations`].
    fn spoken_for<'e, T>(
        &self,
        event: &'e SourceEvent<T>,
        of: &impl Fn(&str) -> bool,
    ) -> Vec<&'e str> {
        let act = act(&event.event);
        let (held, originated) = match &act {
            Act::Pack { children, .. } => (children.as_slice(), &[][..]),
            Act::Transform { inputs, outputs } => (inputs.as_slice(), outputs.as_slice()),
            _ => return Vec::new(),
        };
        let Some(reporter) = event.reporter.as_ref() else {
            return Vec::new();
        };
        if late(event).is_some() || self.check_past(reporter, event, &act).is_err() {
            return Vec::new();
        }
        let held = held
            .iter()
            .filter(|id| of(id) && self.check(reporter, id).is_ok());
        let originated = originated
            .iter()
            .filter(|id| of(id) && self.check_origin(reporter, id).is_ok());
        held.chain(originated).copied().collect()
    }

    /// Refuses a change of an item's past by the party that handed it over, once the hand-over
    /// was logged before the change was.
    fn check_past<T>(
        &self,
        reporter: &OrganisationId,
        event: &SourceEvent<T>,
        act: &Act<'_>,
    ) -> Result<(), String> {
        // Withdrawing an event can change what anything it led to holds (an item packed after a
        // withdrawn receipt): once its reporter handed over anything the history follows, dated
        // after the event and logged before the declaration, the event stands.
        if matches!(act, Act::Declare(_))
            && let Some(handover) = self
                .known_handovers
                .values()
                .flatten()
                .filter(|handover| {
                    handover.time > event.time
                        && handover.leaf < event.leaf
                        && self.parties.acts_for(reporter, &handover.from)
                })
                .min_by_key(|handover| handover.leaf)
        {
            self.cite(&handover.rests_on);
            return Err(format!(
                "{} handed {} over (entry {}) before this declaration was reported",
                handover.from, handover.key, handover.leaf
            ));
        }
        for id in act.ids() {
            let key = self.key(id);
            let top = self.outermost(&key);
            let handed = [&key, &top]
                .into_iter()
                .filter_map(|key| self.known_handovers.get(key))
                .flatten()
                .find(|handover| {
                    handover.time > event.time
                        && handover.leaf < event.leaf
                        && self.parties.acts_for(reporter, &handover.from)
                });
            if let Some(handover) = handed {
                self.cite(&handover.rests_on);
                return Err(format!(
                    "{} handed {id} over (entry {}) before this change of its past was reported",
                    handover.from, handover.leaf
                ));
            }
            if !matches!(act, Act::Receive(_))
                && let Some((leaf, by)) = self.received_later(reporter, &key, &top, event)
            {
                self.cite(&[leaf]);
                return Err(format!(
                    "{by} received {id} in entry {leaf}, logged before this change of it in \
                     transit and dated after it"
                ));
            }
            if matches!(act, Act::Transfer { .. })
                && let Some((shipped, received, by)) =
                    self.shipped_and_received_later(reporter, &key, &top, event)
            {
                self.cite(&[shipped, received]);
                return Err(format!(
                    "{reporter} shipped {id} (entry {shipped}) and {by} received it (entry \
                     {received}), both logged before this transfer and dated after it"
                ));
            }
        }
        Ok(())
    }

    /// A shipment of `key` (or of `top`) by `reporter`'s side and a receipt of it by another
    /// party the shipment names, both logged before `event` and dated after it (the receipt no
    /// earlier than the shipment), whatever either is judged: a transfer backdated before them
    /// would, judged by event time alone, take the item before the shipment and refuse both,
    /// though the receiver's receipt was in the log first. Existence alone counts, so leaving
    /// other events out never makes a transfer this allows refused.
    fn shipped_and_received_later<T>(
        &self,
        reporter: &OrganisationId,
        key: &str,
        top: &str,
        event: &SourceEvent<T>,
    ) -> Option<(LeafIndex, LeafIndex, OrganisationId)> {
        let mut inside: Option<BTreeSet<String>> = None;
        for key in [key, top] {
            // Of each shipper's and named party's shipments, the first dated has the first
            // logged receipt after it (a receipt dated after a later one is dated after it
            // too): one question each. Of all, the receipt logged first, then the shipment
            // dated first, whichever others a history leaves out.
            let mut found: Option<(LeafIndex, (i128, LeafIndex), OrganisationId)> = None;
            for (from, named, run) in self.settled.shipments.of(key) {
                if !self.parties.acts_for(reporter, from) {
                    continue;
                }
                let Some(shipped) = run.first(event.time, event.leaf) else {
                    continue;
                };
                // Of what the shipment names, or of anything packed in it now (found once).
                let inside = inside.get_or_insert_with(|| self.received_under(top));
                let names = [key].into_iter().chain(inside.iter().map(String::as_str));
                let received = first_of(self.receipts(names), shipped, event.leaf, |by| {
                    !self.parties.acts_for(reporter, by)
                        && !self.parties.acts_for(by, from)
                        && self.parties.acts_for(by, named)
                });
                if let Some(Receipt { leaf, by, .. }) = received
                    && found
                        .as_ref()
                        .is_none_or(|(first, at, _)| (leaf, shipped) < (*first, *at))
                {
                    found = Some((leaf, shipped, by.clone()));
                }
            }
            if let Some((received, (_, shipped), by)) = found {
                return Some((shipped, received, by));
            }
        }
        None
    }

    /// While `top` is in transit, a receipt of it (or of `key`, or of anything it carries) that
    /// the log held before `event` and that is dated after it, by a party that may take the shipment other than
    /// `reporter`: log order settles the transit, so a change dated before such a receipt and
    /// logged after it (the shipper shipping it again elsewhere, transferring, repacking or
    /// ending it) cannot undo the hand-over.
    fn received_later<T>(
        &self,
        reporter: &OrganisationId,
        key: &str,
        top: &str,
        event: &SourceEvent<T>,
    ) -> Option<(LeafIndex, OrganisationId)> {
        let shipment = self.shipped.get(top)?;
        let named = [key, top]
            .into_iter()
            .chain(shipment.received_inside.iter().map(String::as_str));
        first_of(
            self.receipts(named),
            (event.time, LeafIndex::LAST),
            event.leaf,
            |by| !self.parties.acts_for(reporter, by) && self.may_take(by, top, shipment),
        )
        .map(|receipt| (receipt.leaf, receipt.by.clone()))
    }

    fn judge<T>(
        &self,
        reporter: &OrganisationId,
        act: &Act<'_>,
        event: &SourceEvent<T>,
    ) -> Result<(), String> {
        match act {
            Act::Observe => Ok(()),
            Act::Commission(ids) => ids
                .iter()
                .try_for_each(|id| self.check_origin(reporter, id)),
            Act::Declare(_) => self.check_declared(reporter, event),
            Act::End(ids) | Act::Ship(ids) => self.check_all(reporter, ids),
            Act::Recall { epcs, classes } => {
                if epcs.is_empty() && classes.is_empty() {
                    return Err("a recall that names nothing recalls nothing".to_owned());
                }
                // A regulator's recall holds for any item, whoever its brand.
                if self.parties.is_regulator(reporter) {
                    return Ok(());
                }
                epcs.iter()
                    .try_for_each(|id| self.check_brand(reporter, id))?;
                classes
                    .iter()
                    .try_for_each(|class| match self.parties.class_owner(class) {
                        Some(owner) if self.parties.acts_for(reporter, owner) => Ok(()),
                        Some(owner) => Err(format!(
                            "{class} is a class of {owner}'s company prefix, not of {reporter}: \
                             only its owner recalls it"
                        )),
                        None => Err(format!(
                            "{class} is not a class under a registered company prefix: nobody \
                             may recall it"
                        )),
                    })
            }
            Act::Pack { parent, children } => {
                self.check_nesting(parent, children)?;
                self.check_all(reporter, children)?;
                // A container nobody holds yet (an unregistered SSCC) is the packer's.
                match self.custodian(&self.key(parent)) {
                    None => Ok(()),
                    Some(_) => self.check(reporter, parent),
                }
            }
            Act::Unpack { parent, .. } => self.check(reporter, parent),
            Act::Transform { inputs, outputs } => {
                self.check_all(reporter, inputs)?;
                outputs
                    .iter()
                    .try_for_each(|id| self.check_origin(reporter, id))
            }
            Act::Transfer { ids, to } => {
                self.check_all(reporter, ids)?;
                self.transferee(to).map(|_| ())
            }
            Act::Receive(ids) => ids.iter().try_for_each(|id| {
                let key = self.key(id);
                let top = self.outermost(&key);
                if let Some(shipment) = self.shipped.get(&top) {
                    // A hand-over to a party the shipment names (or, by the holder, a return):
                    // settled by the first such receipt in log order.
                    if !self.may_take(reporter, &top, shipment) {
                        return Err(match shipment.to.is_empty() {
                            true => format!(
                                "{id} was shipped (entry {}) to no party the registry knows: \
                                 only a party its destinationList names may take it",
                                shipment.leaf
                            ),
                            false => format!(
                                "{id} was shipped to {} (entry {}), not to {reporter}",
                                list(&shipment.to),
                                shipment.leaf
                            ),
                        });
                    }
                    return self.check_first_receipt(reporter, id, &key, &top, event);
                }
                if self.check(reporter, id).is_ok() {
                    return Ok(());
                }
                Err(match self.custodian(&top) {
                    Some(holder) => {
                        format!("no hand-over: {id} is in the custody of {holder}{NOT_SHIPPED}")
                    }
                    None => format!("no hand-over: nobody has custody of {id}"),
                })
            }),
        }
    }

    /// The one organisation a transfer hands possession to: what its parties stand for in the
    /// registry ([`Parties::party_of`]).
    fn transferee(&self, to: &[&str]) -> Result<OrganisationId, String> {
        let known: BTreeSet<OrganisationId> = to
            .iter()
            .filter_map(|id| self.parties.party_of(id))
            .cloned()
            .collect();
        let mut known = known.into_iter();
        match (known.next(), known.next()) {
            (Some(one), None) => Ok(one),
            (None, _) => Err(format!(
                "a transfer to {} moves no custody: the registry knows no such party",
                to.join(", ")
            )),
            (Some(first), Some(second)) => Err(format!(
                "a transfer to more than one party ({first}, {second}) moves no custody"
            )),
        }
    }

    /// Whether `reporter` may take the shipment of `top`: it names `reporter`'s organisation (or
    /// one `reporter` acts for), or `reporter` acts for the holder (a return). A shipment that
    /// names no party the registry knows hands the item to nobody: custody passes by what the
    /// holder states, and a party that receives what was not sent to it states nothing for the
    /// holder.
    fn may_take(&self, reporter: &OrganisationId, top: &str, shipment: &Shipment) -> bool {
        shipment
            .to
            .iter()
            .any(|to| self.parties.acts_for(reporter, to))
            || self
                .custodian(top)
                .is_some_and(|holder| self.parties.acts_for(reporter, &holder))
    }

    /// A receipt dated before a receipt of the same item, of the container it travels in, or
    /// of anything that container carries, by another party that the log already held takes
    /// nothing: the first receipt logged settles a hand-over, whichever of the shipment's
    /// identifiers it names. Only a receipt by a party that may take the shipment
    /// ([`may_take`](Self::may_take)) counts: one the shipment does not name settles nothing.
    fn check_first_receipt<T>(
        &self,
        reporter: &OrganisationId,
        id: &str,
        key: &str,
        top: &str,
        event: &SourceEvent<T>,
    ) -> Result<(), String> {
        let shipment = self.shipped.get(top);
        let inside = shipment
            .into_iter()
            .flat_map(|shipment| &shipment.received_inside);
        let named = [key, top].into_iter().chain(inside.map(String::as_str));
        let earlier = first_of(
            self.receipts(named),
            (event.time, LeafIndex::LAST),
            event.leaf,
            |by| {
                !self.parties.acts_for(reporter, by)
                    && shipment.is_none_or(|shipment| self.may_take(by, top, shipment))
            },
        );
        match earlier {
            Some(Receipt {
                leaf, by, named, ..
            }) => {
                self.cite(&[leaf]);
                let what = match (named == key, named == top) {
                    (true, _) => id.to_owned(),
                    (false, true) => format!("{named}, which {id} is in,"),
                    (false, false) => format!("{named}, which {id} carries,"),
                };
                Err(format!(
                    "{by} received {what} in entry {leaf}, logged before this receipt and dated \
                     after it"
                ))
            }
            None => Ok(()),
        }
    }

    /// Refuses a packing that would put a container inside itself, or nest deeper than
    /// [`MAX_CONTAINER_DEPTH`].
    fn check_nesting(&self, parent: &str, children: &[&str]) -> Result<(), String> {
        let mut chain = vec![self.key(parent)];
        while let Some(next) = self.parent.get(chain.last().map_or("", String::as_str)) {
            if chain.contains(next) || chain.len() >= MAX_CONTAINER_DEPTH {
                return Err(format!(
                    "{parent} is already nested {MAX_CONTAINER_DEPTH} deep (or in a loop)"
                ));
            }
            chain.push(next.clone());
        }
        if chain.len() >= MAX_CONTAINER_DEPTH {
            return Err(format!(
                "packing into {parent} would nest containers more than {MAX_CONTAINER_DEPTH} deep"
            ));
        }
        match children
            .iter()
            .find(|child| chain.contains(&self.key(child)))
        {
            Some(child) => Err(format!(
                "packing {child} into {parent} would put a container inside itself"
            )),
            None => Ok(()),
        }
    }

    /// Gives `top` (an outermost container, or an item on its own) into `to`'s custody by
    /// `event`, recording the hand-over, whole in the log at `whole` ([`Handover::leaf`]); when
    /// `to` is the holder or acts for it (the holder taking back what it shipped), nothing
    /// changes hands.
    fn hand_over<T>(
        &mut self,
        top: String,
        to: &OrganisationId,
        event: &SourceEvent<T>,
        rests_on: [LeafIndex; 2],
    ) {
        match self.custodian(&top) {
            Some(from) if self.parties.acts_for(to, &from) => {}
            from => {
                let before = self
                    .gained
                    .insert(top.clone(), rests_on.to_vec())
                    .unwrap_or_default();
                for leaf in rests_on {
                    self.provenance
                        .entry(leaf)
                        .or_default()
                        .extend(before.iter().copied());
                }
                if let Some(from) = from {
                    self.handovers.push(Handover {
                        key: top.clone(),
                        from,
                        time: event.time,
                        leaf: rests_on[0].max(rests_on[1]),
                        rests_on,
                    });
                }
                self.holder.insert(top, to.clone());
            }
        }
    }

    fn change<T>(&mut self, reporter: &OrganisationId, act: &Act<'_>, event: &SourceEvent<T>) {
        match act {
            Act::Observe | Act::End(_) | Act::Declare(_) | Act::Recall { .. } => {}
            Act::Commission(ids) => {
                for id in ids {
                    let key = self.key(id);
                    if self.own_holder(&key).is_none() {
                        self.holder.insert(key, reporter.clone());
                    }
                }
            }
            Act::Pack { parent, children } => {
                let parent = self.key(parent);
                if self.custodian(&parent).is_none() {
                    self.holder.insert(parent.clone(), reporter.clone());
                }
                for child in children {
                    let child = self.key(child);
                    if let Some(before) = self.parent.insert(child.clone(), parent.clone())
                        && let Some(contents) = self.contents.get_mut(&before)
                    {
                        contents.remove(&child);
                    }
                    self.contents
                        .entry(parent.clone())
                        .or_default()
                        .insert(child.clone());
                    // Packed in transit: it travels with the shipment.
                    let top = self.outermost(&parent);
                    if self.shipped.contains_key(&top) {
                        let mut received = self.received_under(&child);
                        if self.settled.receipts.contains_key(&child) {
                            received.insert(child);
                        }
                        if let Some(shipment) = self.shipped.get_mut(&top) {
                            shipment.received_inside.extend(received);
                        }
                    }
                }
            }
            Act::Unpack { parent, children } => {
                let parent = self.key(parent);
                let holder = self.custodian(&parent);
                // What gave the container's holder custody gave it the children's too.
                let gained = self.gained.get(&self.outermost(&parent)).cloned();
                let children: Vec<String> = match children {
                    Some(children) => children.iter().map(|id| self.key(id)).collect(),
                    None => self
                        .contents
                        .get(&parent)
                        .into_iter()
                        .flatten()
                        .cloned()
                        .collect(),
                };
                for child in children {
                    if self.parent.get(&child) == Some(&parent) {
                        self.parent.remove(&child);
                        if let Some(contents) = self.contents.get_mut(&parent) {
                            contents.remove(&child);
                        }
                        if let Some(holder) = &holder {
                            self.holder.insert(child.clone(), holder.clone());
                            if let Some(gained) = &gained {
                                self.gained.insert(child, gained.clone());
                            }
                        }
                    }
                }
            }
            Act::Transform { outputs, .. } => {
                for id in outputs {
                    let key = self.key(id);
                    self.holder.insert(key, reporter.clone());
                }
            }
            Act::Transfer { ids, to } => {
                if let Ok(to) = self.transferee(to) {
                    for id in ids {
                        let top = self.outermost(&self.key(id));
                        self.shipped.remove(&top);
                        self.hand_over(top, &to, event, [event.leaf; 2]);
                    }
                }
            }
            Act::Ship(ids) => {
                let to = destinations(&event.event, self.parties);
                for id in ids {
                    let top = self.outermost(&self.key(id));
                    // Found once a shipment: a receipt of any of these settles its hand-over
                    // as one of `top` does.
                    let shipment = Shipment {
                        to: to.clone(),
                        leaf: event.leaf,
                        received_inside: self.received_under(&top),
                    };
                    self.shipped.insert(top, shipment);
                }
            }
            Act::Receive(ids) => {
                for id in ids {
                    let top = self.outermost(&self.key(id));
                    // A receipt logged before the shipment it takes (a shipper naming its
                    // receiver late) hands the item over once the shipment is logged.
                    if let Some(shipment) = self.shipped.remove(&top) {
                        self.hand_over(top, reporter, event, [shipment.leaf, event.leaf]);
                    }
                }
            }
        }
    }
}

/// Organisations as a reason names them: `a`, `a or b`, `a, b or c`.
fn list(organisations: &BTreeSet<OrganisationId>) -> String {
    let names: Vec<&str> = organisations.iter().map(OrganisationId::as_str).collect();
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Why a state change reported too long after its `eventTime` has no authority, if it was.
fn late<T>(event: &SourceEvent<T>) -> Option<String> {
    const NANOS: i128 = 1_000_000_000;
    let captured = event.captured?;
    // A declaration repeats the declared event's eventTime; it is as late as its own time says.
    let time = event
        .event
        .get("errorDeclaration")
        .and_then(|declaration| declaration.get("declarationTime"))
        .and_then(Value::as_str)
        .and_then(|text| epcis::document::Timestamp::parse(text).ok())
        .map_or(event.time, epcis::document::Timestamp::unix_nanos);
    let delay = captured.saturating_sub(time);
    (delay > LATE_REPORT_WINDOW_SECONDS * NANOS).then(|| {
        format!(
            "reported {} days after it happened, beyond the {}-day late-report window",
            delay / (NANOS * 86_400),
            LATE_REPORT_WINDOW_SECONDS / 86_400
        )
    })
}

/// Judges every event of `events` (any order), in event-time order then log order: the authority
/// of each, by leaf index, with the events error declarations withdrew set aside
/// ([`assess_relations`]).
pub fn assess<'a, T: 'a>(
    events: impl IntoIterator<Item = &'a SourceEvent<T>>,
    parties: &Parties,
) -> BTreeMap<LeafIndex, Authority> {
    assess_relations(events, parties, |_| false).marks
}

/// Of an event that relates identifiers to others (packs children into a container, or
/// transforms inputs into outputs), one identifier its reporter spoke for at the event's time:
/// a child or an input it had custody of, an output it could bring into being.
pub type Spoken = (LeafIndex, String);

/// What each event's mark rests on ([`Judgement::rests_on`]), by leaf index.
pub type RestsOn = BTreeMap<LeafIndex, Vec<LeafIndex>>;

/// The events of each hand-over a first pass found ([`Judgement::handed`]).
pub type Handed = BTreeSet<[LeafIndex; 2]>;

/// What a judgement of some events gives.
#[derive(Debug, Clone, Default)]
pub struct Judgement {
    /// Each event's authority, by leaf index.
    pub marks: BTreeMap<LeafIndex, Authority>,
    /// The events error declarations withdrew ([`withdrawals`]): each declared event's leaf, with
    /// the leaf of the declaration that withdrew it. They are shown, and change nothing.
    pub withdrawn: BTreeMap<LeafIndex, LeafIndex>,
    /// For the identifiers asked about, which relating events' identifiers their reporters
    /// spoke for ([`assess_relations`]).
    pub spoken: HashSet<Spoken>,
    /// What each mark rests on besides the authorised state changes (which every history
    /// keeps): the receipts, first claims and hand-overs of other events its checks read from
    /// log order (whatever those events' own marks), and a withdrawn event's declaration.
    /// Leaving events out can turn up no other match for these checks, so a history that leaves
    /// events out keeps these with the event, or leaves it out too (what the first pass's
    /// hand-overs rest on beyond them is checked by judging the events kept again).
    pub rests_on: RestsOn,
    /// For each event of a hand-over the first pass over the events found, the events that had
    /// given the giver its custody in that pass (the events of the hand-over before it): the
    /// hand-over exists only with them, and so does every mark resting on its events, through
    /// the whole chain. The events' own marks do not rest on them (the second pass judged
    /// those on what it read itself), so an honest hand-over never keeps another party's chain.
    pub provenance: RestsOn,
    /// The events of every hand-over that first pass found (a shipment and its receipt, or a
    /// transfer twice), whatever their final marks: leaving one out can make that pass find
    /// another hand-over, and a mark read otherwise.
    pub handed: Handed,
}

/// Which of `events` error declarations withdraw, as declared leaf → declaration leaf. An event is
/// withdrawn by an error declaration of it (an event with `errorDeclaration` and the same CBV 2.0
/// event hash: the hash leaves `errorDeclaration` out, so a declaration hashes as the event it
/// declares) logged after it, whose reporter is the event's own or acts for it
/// (`acts_for(declarer, reporter)`), and that `marks` say was authorised or, declaring an
/// observation, is one: a party takes back its own word, never another's. An event whose reporter
/// is not registered, or whose hash is not known, is withdrawn by nobody; a declaration is never
/// withdrawn. The declaration earliest in the log names it.
pub fn withdrawals<'a, T: 'a>(
    events: impl IntoIterator<Item = &'a SourceEvent<T>>,
    marks: &BTreeMap<LeafIndex, Authority>,
    acts_for: impl Fn(&OrganisationId, &OrganisationId) -> bool,
) -> BTreeMap<LeafIndex, LeafIndex> {
    let (declarations, declared): (Vec<&SourceEvent<T>>, Vec<&SourceEvent<T>>) = events
        .into_iter()
        .filter(|event| event.hash.is_some() && event.reporter.is_some())
        .partition(|event| event.event.contains_key("errorDeclaration"));
    // Each declaration with its mark: `true` when authorised, `false` when an observation.
    let mut by_hash: HashMap<&epcis::EventHash, Vec<(LeafIndex, &OrganisationId, bool)>> =
        HashMap::new();
    for declaration in declarations {
        let authorised = match marks.get(&declaration.leaf) {
            Some(Authority::Authorised) => true,
            Some(Authority::Observation) => false,
            _ => continue,
        };
        if let (Some(hash), Some(reporter)) = (&declaration.hash, &declaration.reporter) {
            by_hash
                .entry(hash)
                .or_default()
                .push((declaration.leaf, reporter, authorised));
        }
    }
    let mut withdrawn = BTreeMap::new();
    for event in declared {
        let (Some(hash), Some(reporter)) = (&event.hash, &event.reporter) else {
            continue;
        };
        // What the declared event does decides what its declaration must be: a state change's
        // is authorised (an observation's stands as one). The hash expands terms the custody
        // rules may read otherwise, so the declaration's own text does not decide it.
        let changes = changes_state(&event.event);
        let by = by_hash.get(hash).into_iter().flatten();
        if let Some((leaf, _, _)) = by
            .filter(|(leaf, declarer, authorised)| {
                *leaf > event.leaf && (*authorised || !changes) && acts_for(declarer, reporter)
            })
            .min_by_key(|(leaf, _, _)| *leaf)
        {
            withdrawn.insert(event.leaf, *leaf);
        }
    }
    withdrawn
}

/// Judges every event as [`assess`] does, and also tells, for the identifiers `of` accepts,
/// which of the relating events' identifiers their reporters spoke for ([`Spoken`]), whatever
/// the event's other side (the container, the other items) turns out to be.
///
/// That is what a history follows through when it gathers events: a container an item was
/// packed into by a party that had custody of the item, the outputs of a transformation that
/// consumed it by its custodian, the inputs of one that produced it by a party that could. The
/// other side is judged once its events are gathered too; a party without custody of the item
/// makes nobody gather anything.
///
/// Error declarations are judged where the event they declare happened (a declaration repeats
/// its `eventTime`), after it: a declaration of a state change has authority when that change,
/// logged before it, had authority and was reported by the declaration's reporter or a party it
/// acts for, and the declaration's reporter handed over nothing the history follows after the
/// event and before the declaration was logged. The events declarations withdraw
/// ([`withdrawals`]) are then set aside and every other event judged again without them, so that
/// a withdrawn packing, unpacking, transformation, shipment or receipt changes no custody, window
/// or relation; the withdrawn events and every declaration keep the first judgement's marks. What
/// either judgement spoke for is told ([`Judgement::spoken`]): a history gathers what a withdrawn
/// event led to, where the evidence that it may not be withdrawn is.
pub fn assess_relations<'a, T: 'a>(
    events: impl IntoIterator<Item = &'a SourceEvent<T>>,
    parties: &Parties,
    of: impl Fn(&str) -> bool,
) -> Judgement {
    let mut order: Vec<&SourceEvent<T>> = events.into_iter().collect();
    order.sort_by_key(|event| (event.time, event.leaf));
    let (mut marks, mut spoken, mut rests_on, mut provenance, mut handed) =
        judge_in_order(&order, parties, &of);
    let withdrawn = withdrawals(order.iter().copied(), &marks, |declarer, reporter| {
        parties.acts_for(declarer, reporter)
    });
    if withdrawn.is_empty() {
        return Judgement {
            marks,
            withdrawn,
            spoken,
            rests_on,
            provenance,
            handed,
        };
    }
    order.retain(|event| !withdrawn.contains_key(&event.leaf));
    let (again, spoken_again, rests_again, provenance_again, handed_again) =
        judge_in_order(&order, parties, &of);
    handed.extend(handed_again);
    // Both judgements' first passes found hand-overs: what either rests on, each does.
    for (leaf, gained) in provenance_again {
        let entry = provenance.entry(leaf).or_default();
        entry.extend(gained);
        entry.sort_unstable();
        entry.dedup();
    }
    // What either judgement spoke for is followed: what a withdrawn event led to is where the
    // evidence against its withdrawal is (the container its reporter handed over since).
    spoken.extend(spoken_again);
    let declarations: HashSet<LeafIndex> = order
        .iter()
        .filter(|event| event.event.contains_key("errorDeclaration"))
        .map(|event| event.leaf)
        .collect();
    for (leaf, authority) in again {
        if !declarations.contains(&leaf) {
            marks.insert(leaf, authority);
            match rests_again.get(&leaf) {
                Some(again) => rests_on.insert(leaf, again.clone()),
                None => rests_on.remove(&leaf),
            };
        }
    }
    for (declared, declaration) in &withdrawn {
        rests_on.entry(*declared).or_default().push(*declaration);
    }
    Judgement {
        marks,
        withdrawn,
        spoken,
        rests_on,
        provenance,
        handed,
    }
}

/// Judges the events of `order` (in event-time order, then log order) in two passes: the first
/// finds the hand-overs, the second judges every event knowing them, so that a change of an
/// item's past by the party that had already handed it over (in log order) is refused. Returns
/// the marks, what the reporters of relating events spoke for, what each mark rests on, and
/// what each first-pass hand-over's events rest on ([`Judgement::provenance`]) and those events
/// ([`Judgement::handed`]).
fn judge_in_order<T>(
    order: &[&SourceEvent<T>],
    parties: &Parties,
    of: &impl Fn(&str) -> bool,
) -> (
    BTreeMap<LeafIndex, Authority>,
    HashSet<Spoken>,
    RestsOn,
    RestsOn,
    Handed,
) {
    let settled = Settled::of(order, parties);
    let mut first = Custody::new(parties, Vec::new(), &settled);
    for event in order {
        first.apply(event);
    }
    let mut provenance = std::mem::take(&mut first.provenance);
    let handed = first
        .handovers
        .iter()
        .map(|handover| handover.rests_on)
        .collect();
    let mut custody = Custody::new(parties, first.handovers, &settled);
    let mut spoken = HashSet::new();
    let marks = order
        .iter()
        .map(|event| {
            spoken.extend(
                custody
                    .spoken_for(event, of)
                    .into_iter()
                    .map(|id| (event.leaf, id.to_owned())),
            );
            (event.leaf, custody.apply(event))
        })
        .collect();
    provenance.retain(|leaf, gained| {
        gained.retain(|gained| gained != leaf);
        gained.sort_unstable();
        gained.dedup();
        !gained.is_empty()
    });
    (marks, spoken, custody.rests_on, provenance, handed)
}
