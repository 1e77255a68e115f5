//! The story a provenance bundle tells, recomputed from its own events: the item it is about,
//! which of its events belong to that item's history, in what order, and why. The same function
//! as trace-api's ([`crate::history`]) puts the history together, so a bundle whose `item` was
//! relabelled, whose events were mixed with another item's, reordered, or given other reasons
//! fails, naming the first difference.
//!
//! Who had authority for each event decides which events shape the history. With a registry of
//! the parties the verifier judges it itself and compares each event's `reportedBy` and
//! `authority` with its own ([`CheckName::Authority`]); without one it takes the bundle's marks
//! as claimed, puts the history together from them, and skips that check.
//!
//! What the events alone cannot show is an event left out: a trimmed history reads like a
//! shorter one. A version 2 bundle carries the index proofs that show it (`complete.rs`); a
//! bundle without them has that check skipped with the reason, so that no verifier calls it
//! complete.

use std::collections::HashSet;

use serde_json::{Map, Value};

use crate::history::{
    Claims, History, Item, Judge, Memory, Parties, SourceEvent, bundle_whys, in_memory,
};
use crate::record::LeafRecord;
use crate::size::LeafIndex;

use super::provenance::{ProvenanceBundle, Why};
use super::verify::{CheckName, Outcome, Report, TrustedKeys};

/// Why [`CheckName::Authority`] is skipped without a registry of the parties.
pub const AUTHORITY_UNCHECKED: &str = "no registry of the parties was given: each event's \
    reporter and authority were taken as the bundle claims them";

/// Recomputes the bundle's story ([`CheckName::Story`]), checks its authority marks against the
/// registry of the parties, if `trusted` has one ([`CheckName::Authority`]), and checks that it
/// carries every event of what its history follows ([`CheckName::Complete`]). Gives the index
/// size the bundle was proven complete up to, if it was.
pub(super) fn check_story(
    report: &mut Report,
    bundle: &ProvenanceBundle,
    trusted: &TrustedKeys,
) -> Option<u64> {
    let parties = trusted.parties();
    let history = match tell(bundle, parties) {
        Ok(history) => history,
        Err(failure) => {
            let not_judged = "the story could not be put together".to_owned();
            report.push(CheckName::Story, Outcome::Failed(failure));
            report.push(CheckName::Authority, Outcome::Skipped(not_judged.clone()));
            let complete = match bundle.index {
                None => super::complete::unproven(bundle),
                Some(_) => format!("{not_judged}, so what it follows is not known"),
            };
            report.push(CheckName::Complete, Outcome::Skipped(complete));
            return None;
        }
    };
    let complete = super::complete::check(bundle, trusted, &history);
    let story = match first_difference(bundle, &history, &complete.listed) {
        Some(difference) => Outcome::Failed(difference),
        None => Outcome::Passed,
    };
    let authority = match parties {
        None => Outcome::Skipped(AUTHORITY_UNCHECKED.to_owned()),
        Some(_) => match first_misjudged(bundle, &history) {
            Some(difference) => Outcome::Failed(difference),
            None => Outcome::Passed,
        },
    };
    report.push(CheckName::Story, story);
    report.push(CheckName::Authority, authority);
    report.push(CheckName::Complete, complete.outcome);
    complete.through
}

/// The history the bundle's events give for its item (judged with `parties`, or as the bundle
/// claims without them), or why it cannot be put together.
fn tell(bundle: &ProvenanceBundle, parties: Option<&Parties>) -> Result<History<usize>, String> {
    let item = Item::parse(&bundle.item).map_err(|error| format!("the bundle's item: {error}"))?;
    let mut events = Vec::with_capacity(bundle.events.len());
    let mut claimed = Claims::default();
    for (position, event) in bundle.events.iter().enumerate() {
        let leaf = event.inclusion.leaf_index();
        let parsed = serde_json::from_str::<Map<String, Value>>(&event.event).map_err(|error| {
            format!("event {position} (leaf {leaf}) is not a JSON object: {error}")
        })?;
        let record = LeafRecord::decode(&event.leaf_record).ok();
        // A version 1 record's hash leaves `errorDeclaration` out and binds no bytes: anyone
        // could add the member or strip it. No declaration is logged under one.
        if parsed.contains_key("errorDeclaration")
            && record
                .as_ref()
                .is_some_and(|record| record.event_digest().is_none())
        {
            return Err(format!(
                "event {position} (leaf {leaf}) is an error declaration under a version 1 leaf \
                 record, which does not bind it: no declaration is logged under one"
            ));
        }
        let reporter = match parties {
            Some(parties) => record
                .as_ref()
                .and_then(|record| parties.reporter(record.attestation()).cloned()),
            None => event.reported_by.clone(),
        };
        if let Some(authority) = &event.authority {
            claimed.marks.insert(leaf, authority.clone());
        }
        if let Some(by) = event.withdrawn_by {
            claimed.withdrawn.insert(leaf, by);
        }
        let captured = record.as_ref().map(LeafRecord::captured_at);
        let mut source = SourceEvent::of(leaf, parsed, reporter, captured);
        if let Some(record) = &record {
            source = source.bound_by(record);
        }
        events.push(source);
    }
    let memory = Memory::new(events);
    let judge = match parties {
        Some(parties) => Judge::Parties(parties),
        None => Judge::Claimed(&claimed),
    };
    // The history cannot hold more events than the bundle gives it.
    in_memory(&memory, item.names.clone(), judge, bundle.events.len())
        .ok_or_else(|| "the history could not be put together".to_owned())
}

/// The first event whose reporter or authority the bundle states otherwise than the registry
/// gives them.
fn first_misjudged(bundle: &ProvenanceBundle, history: &History<usize>) -> Option<String> {
    for event in history.events.iter().chain(&history.context) {
        let position = event.event.payload;
        let stated = &bundle.events[position];
        let at = format!("event {position} (leaf {})", event.event.leaf);
        if stated.reported_by != event.event.reporter {
            return Some(format!(
                "{at}: the bundle says it was reported by {}; the registry says {}",
                organisation(stated.reported_by.as_ref()),
                organisation(event.event.reporter.as_ref())
            ));
        }
        match &stated.authority {
            None => {
                return Some(format!(
                    "{at}: the bundle does not say who had authority for it"
                ));
            }
            Some(authority) if *authority != event.authority => {
                return Some(format!(
                    "{at}: the bundle says {authority}; the registry gives {}",
                    event.authority
                ));
            }
            Some(_) => {}
        }
    }
    None
}

fn organisation(id: Option<&crate::OrganisationId>) -> String {
    id.map_or_else(
        || "no registered organisation".to_owned(),
        ToString::to_string,
    )
}

/// The first way the bundle differs from the history its events give, in plain words. The
/// bundle lists the history's events (each with its reasons), in order, then, with no reason and
/// in any order, the context events its authority marks rest on, the other events gathered with
/// it and those its index proofs list under what it follows (`indexed`).
fn first_difference(
    bundle: &ProvenanceBundle,
    history: &History<usize>,
    indexed: &HashSet<LeafIndex>,
) -> Option<String> {
    let at = |position: usize| {
        let leaf = bundle.events[position].inclusion.leaf_index();
        format!("event {position} (leaf {leaf})")
    };
    // Flags by position, not searches: a bundle of many events costs linear time here.
    let mut in_history = vec![false; bundle.events.len()];
    let mut in_context = vec![false; bundle.events.len()];
    for event in &history.events {
        in_history[event.event.payload] = true;
    }
    for event in history.context.iter().chain(&history.outside) {
        in_context[event.event.payload] = true;
    }
    for (position, event) in bundle.events.iter().enumerate() {
        let listed_in_history = !event.why.is_empty();
        if listed_in_history && !in_history[position] {
            return Some(format!(
                "{} is not part of the history of {}: it names neither the item, nor a container \
                 the item was in at the time, nor an item it was made from or into",
                at(position),
                bundle.item
            ));
        }
        let in_index = || indexed.contains(&event.inclusion.leaf_index());
        if !listed_in_history && !in_context[position] && (in_history[position] || !in_index()) {
            let what = if in_history[position] {
                "is part of the history, listed without a reason"
            } else {
                "is listed without a reason, but it is neither context an authority mark of the \
                 history rests on, nor an event naming what the history follows"
            };
            return Some(format!("{} {what}", at(position)));
        }
    }
    let listed: Vec<usize> = (0..bundle.events.len())
        .filter(|&position| !bundle.events[position].why.is_empty())
        .collect();
    for (place, event) in history.events.iter().enumerate() {
        let position = event.event.payload;
        if listed.get(place) != Some(&position) {
            return Some(format!(
                "the bundle lists its events out of order: the history (by event time, then leaf \
                 index) has {} at position {place}",
                at(position)
            ));
        }
        let claimed = &bundle.events[position].why;
        let computed = bundle_whys(event, &history.events);
        if !same_reasons(claimed, &computed) {
            return Some(format!(
                "{}: the bundle says it {}; its events say it {}",
                at(position),
                reasons(claimed),
                reasons(&computed)
            ));
        }
    }
    for (position, event) in bundle.events.iter().enumerate() {
        let computed = history
            .withdrawn
            .get(&event.inclusion.leaf_index())
            .copied();
        if event.withdrawn_by != computed {
            return Some(format!(
                "{}: the bundle says it {}; its events say it {}",
                at(position),
                withdrawal(event.withdrawn_by),
                withdrawal(computed)
            ));
        }
    }
    None
}

fn withdrawal(by: Option<LeafIndex>) -> String {
    match by {
        Some(leaf) => format!("was withdrawn by the error declaration at leaf {leaf}"),
        None => "was not withdrawn".to_owned(),
    }
}

/// The same reasons, in any order.
fn same_reasons(a: &[Why], b: &[Why]) -> bool {
    a.len() == b.len() && a.iter().all(|why| b.contains(why)) && b.iter().all(|why| a.contains(why))
}

fn reasons(whys: &[Why]) -> String {
    if whys.is_empty() {
        return "is there for no reason".to_owned();
    }
    whys.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" and ")
}
