//! Recalls of classes of trade items: a brand's (or a regulator's) recall of one lot of a GTIN,
//! or of every item of it, stated by an ObjectEvent whose `quantityList` names the class
//! (`ledger::history::recalled_classes`). Such an event names no item, so no item's history
//! holds it: the store's lookups find it under the lookup names of what it recalls
//! ([`RecalledClass::lookup_name`], [`RecalledClass::any_of`]), and this module reads those for a
//! scan, judged by the same custody-authority rules as every event (only the class's brand, a
//! party acting for it, or a regulator may recall it).
//!
//! What it costs is bounded before any event is loaded: the candidates are counted first, and
//! more than `limits.max_history_events` of them (only a brand or a regulator can log a recall,
//! ingest refuses anyone else's) are not read; the verdict then says the recall status could
//! not be read (`recall_unread`), never that there is no recall.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use ledger::history::{
    Authority, HistoryEvent, Parties, RecalledClass, SourceEvent, assess, class_recall_names,
};
use ledger::size::LeafIndex;
use ledger_store::{Lookup, StoredEntry};

use crate::budget::AnswerBudget;
use crate::problem::Problem;
use crate::reader::View;
use crate::startup::AppState;

/// The text every recall and lifting holds (its disposition, in any of its spellings): what the
/// entries the lookups do not cover yet are scanned for.
const RECALL_TEXT: &str = "recalled";

/// The recalls and liftings logged as of `view` under any of `names` (lookup names of classes),
/// each with its reporter's authority, in log order; those an error declaration of their own
/// reporter (or of a party acting for it) withdrew are left out. `Err` with why, when they could
/// not be read: more than the service's limit of them, or a stored one that is not what the log
/// committed to. Other failures (the database) are the request's.
pub(super) async fn read(
    state: &AppState,
    view: &View,
    parties: &Parties,
    budget: &AnswerBudget,
    names: &[String],
) -> Result<Result<Vec<HistoryEvent<Arc<StoredEntry>>>, String>, Problem> {
    if names.is_empty() {
        return Ok(Ok(Vec::new()));
    }
    let most = state.limits.max_history_events;
    let lookups: Vec<Lookup<'_>> = names.iter().map(|name| Lookup::Epc(name)).collect();
    let leaves = match view
        .candidates_by(&lookups, &[RECALL_TEXT], &|_| false, budget)
        .await
    {
        Ok(leaves) => leaves,
        // More candidates than the answer may hold: not read, and said so (`recall_unread`).
        Err(crate::reader::ViewError::Budget(crate::budget::Exceeded::Answer { .. })) => {
            return Ok(Err(
                "more entries may be recalls of its lot or product than one answer reads:                  they were not read"
                    .to_owned(),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    if leaves.len() > most {
        return Ok(Err(format!(
            "more than {most} entries may be recalls of its lot or product (this service's \
             limit): they were not read"
        )));
    }
    let wanted: HashSet<String> = names.iter().cloned().collect();
    let entries = view
        .entries_where(&leaves, budget, &state.lane, move |event| {
            class_recall_names(event)
                .iter()
                .any(|name| wanted.contains(name))
        })
        .await?;
    if let Some((entry, _)) = entries.iter().find(|(entry, _)| {
        matches!(
            entry.binding(),
            ledger::record::EventBinding::Differs { .. }
        )
    }) {
        return Ok(Err(format!(
            "the recall at entry {} is stored other than the log committed to it: the store is \
             damaged or was altered",
            entry.leaf_index.get()
        )));
    }
    let withdrawn = match withdrawn(view, parties, budget, &entries, most).await? {
        Ok(withdrawn) => withdrawn,
        Err(why) => return Ok(Err(why)),
    };
    let events: Vec<SourceEvent<Arc<StoredEntry>>> = entries
        .into_iter()
        .filter(|(entry, _)| !withdrawn.contains(&entry.leaf_index))
        .map(|(entry, event)| {
            SourceEvent::of(
                entry.leaf_index,
                event,
                parties.reporter(entry.record.attestation()).cloned(),
                Some(entry.record.captured_at()),
            )
            .bound_by(&entry.record)
            .carrying(Arc::new(entry))
        })
        .collect();
    let marks: BTreeMap<LeafIndex, Authority> = assess(&events, parties);
    Ok(Ok(events
        .into_iter()
        .map(|event| HistoryEvent::marked(event, &marks))
        .collect()))
}

/// The recalls among `entries` that an error declaration withdrew: one logged after the recall,
/// whose reporter is the recall's own or acts for it (a party cannot withdraw a brand's recall
/// by declaring it erroneous, nor a brand a recall it logs later by a declaration logged before). Who declared is read from the declarations' leaf records alone; more than `most`
/// declarations are not read (`Err`).
async fn withdrawn(
    view: &View,
    parties: &Parties,
    budget: &AnswerBudget,
    entries: &[(StoredEntry, serde_json::Map<String, serde_json::Value>)],
    most: usize,
) -> Result<Result<HashSet<LeafIndex>, String>, Problem> {
    let declarations: Vec<LeafIndex> = entries
        .iter()
        .flat_map(|(entry, _)| entry.declared_by.iter().copied())
        .collect();
    if declarations.is_empty() {
        return Ok(Ok(HashSet::new()));
    }
    if declarations.len() > most {
        return Ok(Err(format!(
            "more than {most} error declarations name recalls of its lot or product (this \
             service's limit): they were not read"
        )));
    }
    let declarers: BTreeMap<LeafIndex, _> = view
        .attestations(&declarations, budget)
        .await?
        .into_iter()
        .map(|(leaf, attestation)| (leaf, parties.reporter(&attestation).cloned()))
        .collect();
    Ok(Ok(entries
        .iter()
        .filter(|(entry, _)| {
            let Some(recaller) = parties.reporter(entry.record.attestation()) else {
                return false;
            };
            // As `ledger::history::withdrawals` has it: a declaration logged after the recall.
            entry.declared_by.iter().any(|declaration| {
                *declaration > entry.leaf_index
                    && declarers
                        .get(declaration)
                        .and_then(Option::as_ref)
                        .is_some_and(|declarer| parties.acts_for(declarer, recaller))
            })
        })
        .map(|(entry, _)| entry.leaf_index)
        .collect()))
}

/// The lookup names an item's scan reads recalls under: each of its classes' own.
pub(super) fn names_of(classes: &[RecalledClass]) -> Vec<String> {
    classes.iter().map(RecalledClass::lookup_name).collect()
}
