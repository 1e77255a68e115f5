//! An item's custody history: every event naming it, the events of every container it travelled
//! in while it was inside, and the events of the items it was made from or made into (one step).
//!
//! Containment comes from AggregationEvents: an `ADD` (or `OBSERVE`) with the item in `childEPCs`
//! puts it in the `parentID` from the event's time; a `DELETE` naming it (or naming no children:
//! the whole container is unpacked), or its joining another container, takes it out. The
//! container's own events between those times count for the item, and so, recursively, do the
//! events of the container's containers while both were packed (a case in a pallet in a
//! container). A TransformationEvent that consumed the item brings in the later events of its
//! outputs; one that produced it, the earlier events of its inputs. Transformations are followed
//! one step, never through a second transformation or a related item's containers.
//!
//! The algorithm is pure: it asks an [`EventSource`] for the events naming some identifiers, so it
//! runs the same on the ledger and on events built in memory (the tests).

use std::collections::{BTreeMap, HashSet};

use serde_json::{Map, Value};

use epcis::document::Timestamp;
use ledger::size::LeafIndex;

/// The most levels of containers followed (item in case in pallet in container ...).
pub const MAX_CONTAINER_DEPTH: usize = 8;

/// One event as the history needs it.
#[derive(Debug, Clone)]
pub struct SourceEvent<T> {
    /// Where it is in the log.
    pub leaf: LeafIndex,
    /// The event, parsed.
    pub event: Map<String, Value>,
    /// Its `eventTime`, in nanoseconds since the Unix epoch.
    pub time: i128,
    /// What the source attaches (the stored entry, for the service).
    pub payload: T,
}

/// An event's `eventTime` in nanoseconds since the Unix epoch; `None` when it has none or it
/// does not parse.
pub fn event_time(event: &Map<String, Value>) -> Option<i128> {
    let text = event.get("eventTime")?.as_str()?;
    Timestamp::parse(text).ok().map(Timestamp::unix_nanos)
}

/// Where events come from.
pub trait EventSource {
    /// What goes wrong reading them.
    type Error;
    /// What each event carries besides the history's needs.
    type Payload: Clone;
    /// Every event that names one of `names` in `epcList`, `childEPCs`, `inputEPCList`,
    /// `outputEPCList` or `parentID` (exactly: candidates that merely share a lookup key must be
    /// left out), in any order.
    fn events_naming(
        &self,
        names: &[String],
    ) -> impl Future<Output = Result<Vec<SourceEvent<Self::Payload>>, Self::Error>>;
}

/// Why an event is in an item's history.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Why {
    /// It names the item.
    Direct,
    /// It names a container the item was in at the time (possibly through other containers).
    Container { container: String },
    /// It names an item the item was made from (before the transformation) or made into (after
    /// it), related through the transformation event at `transformation`.
    Transformation {
        via: String,
        transformation: LeafIndex,
    },
}

/// One event of a history, with every reason it is there.
#[derive(Debug, Clone)]
pub struct HistoryEvent<T> {
    pub event: SourceEvent<T>,
    pub why: Vec<Why>,
}

/// Why a history could not be put together.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError<E> {
    #[error("reading events failed")]
    Source(#[source] E),
    #[error("the history has more than {limit} events: ask about a narrower item")]
    TooLong { limit: usize },
}

/// A span of event times, `from..until` (nanoseconds; open ends as the extremes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Window {
    from: i128,
    until: i128,
}

impl Window {
    const ALWAYS: Self = Self {
        from: i128::MIN,
        until: i128::MAX,
    };

    fn contains(self, time: i128) -> bool {
        self.from <= time && time < self.until
    }

    fn intersect(self, other: Self) -> Option<Self> {
        let window = Self {
            from: self.from.max(other.from),
            until: self.until.min(other.until),
        };
        (window.from < window.until).then_some(window)
    }
}

/// What is followed: some names over a window, for a reason.
struct Subject {
    names: Vec<String>,
    window: Window,
    why: Why,
    depth: usize,
    /// Whether its containers are followed (the item and its containers: yes; items related by a
    /// transformation: no).
    follow_containers: bool,
}

/// Puts together the history of the item named by `names` (events in event-time order, then log
/// order), with at most `limit` events. `names_of` gives the names a container identifier stands
/// for (its other forms).
pub async fn history<S: EventSource>(
    source: &S,
    names: Vec<String>,
    names_of: impl Fn(&str) -> Vec<String>,
    limit: usize,
) -> Result<Vec<HistoryEvent<S::Payload>>, HistoryError<S::Error>> {
    let mut found: BTreeMap<LeafIndex, HistoryEvent<S::Payload>> = BTreeMap::new();
    let mut seen: HashSet<(Vec<String>, Window)> = HashSet::new();
    let mut queue = vec![Subject {
        names,
        window: Window::ALWAYS,
        why: Why::Direct,
        depth: 0,
        follow_containers: true,
    }];
    while let Some(subject) = queue.pop() {
        if !seen.insert((subject.names.clone(), subject.window)) {
            continue;
        }
        let events = source
            .events_naming(&subject.names)
            .await
            .map_err(HistoryError::Source)?;
        let window = match &subject.why {
            // A container's history for the item ends where the container was unpacked.
            Why::Container { .. } => unpacked(&events, &subject.names, subject.window),
            _ => subject.window,
        };
        let transformations = if subject.why == Why::Direct {
            transformed(&events, &subject.names)
        } else {
            Vec::new()
        };
        let mut next = Vec::new();
        if subject.follow_containers && subject.depth < MAX_CONTAINER_DEPTH {
            for (container, span) in containers(&events, &subject.names) {
                if let Some(span) = span.intersect(window) {
                    next.push(Subject {
                        names: names_of(&container),
                        window: span,
                        why: Why::Container { container },
                        depth: subject.depth + 1,
                        follow_containers: true,
                    });
                }
            }
        }
        // The events are moved into the history, not copied: what else they lead to is known.
        for event in events {
            if !window.contains(event.time) {
                continue;
            }
            let entry = found.entry(event.leaf).or_insert_with(|| HistoryEvent {
                event,
                why: Vec::new(),
            });
            if !entry.why.contains(&subject.why) {
                entry.why.push(subject.why.clone());
            }
            if found.len() > limit {
                return Err(HistoryError::TooLong { limit });
            }
        }
        queue.extend(next);
        queue.extend(transformations);
    }
    let mut events: Vec<HistoryEvent<S::Payload>> = found.into_values().collect();
    for event in &mut events {
        event.why.sort();
    }
    events.sort_by_key(|e| (e.event.time, e.event.leaf));
    Ok(events)
}

fn text_list<'a>(event: &'a Map<String, Value>, member: &str) -> impl Iterator<Item = &'a str> {
    event
        .get(member)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
}

fn is_aggregation(event: &Map<String, Value>) -> bool {
    event.get("type").and_then(Value::as_str) == Some("AggregationEvent")
}

fn action(event: &Map<String, Value>) -> Option<&str> {
    event.get("action").and_then(Value::as_str)
}

/// The containers `names` were packed into, each with the span it was inside: from an `ADD` or
/// `OBSERVE` naming it a child of a parent, until a `DELETE` naming it a child of that parent or
/// an `ADD`/`OBSERVE` into another parent.
fn containers<T>(events: &[SourceEvent<T>], names: &[String]) -> Vec<(String, Window)> {
    let named = |id: &str| names.iter().any(|name| name == id);
    let mut moves: Vec<(i128, LeafIndex, &str, bool)> = events
        .iter()
        .filter(|e| is_aggregation(&e.event))
        .filter(|e| text_list(&e.event, "childEPCs").any(named))
        .filter_map(|e| {
            let parent = e.event.get("parentID")?.as_str()?;
            let into = match action(&e.event)? {
                "ADD" | "OBSERVE" => true,
                "DELETE" => false,
                _ => return None,
            };
            Some((e.time, e.leaf, parent, into))
        })
        .collect();
    moves.sort_by_key(|&(time, leaf, _, _)| (time, leaf));
    let mut spans = Vec::new();
    let mut inside: Option<(&str, i128)> = None;
    for (time, _, parent, into) in moves {
        match (inside, into) {
            (Some((current, _)), true) if current == parent => {}
            (Some((current, from)), true) => {
                spans.push((current.to_owned(), Window { from, until: time }));
                inside = Some((parent, time));
            }
            (None, true) => inside = Some((parent, time)),
            (Some((current, from)), false) if current == parent => {
                // The DELETE itself belongs to the span.
                let until = time.saturating_add(1);
                spans.push((current.to_owned(), Window { from, until }));
                inside = None;
            }
            (_, false) => {}
        }
    }
    if let Some((current, from)) = inside {
        spans.push((
            current.to_owned(),
            Window {
                from,
                until: i128::MAX,
            },
        ));
    }
    spans
}

/// The window cut after the first `DELETE` of the container with no children listed (everything
/// unpacked) at or after its start.
fn unpacked<T>(events: &[SourceEvent<T>], container: &[String], window: Window) -> Window {
    let unpack = events
        .iter()
        .filter(|e| is_aggregation(&e.event) && action(&e.event) == Some("DELETE"))
        .filter(|e| {
            e.event
                .get("parentID")
                .and_then(Value::as_str)
                .is_some_and(|parent| container.iter().any(|name| name == parent))
        })
        .filter(|e| text_list(&e.event, "childEPCs").next().is_none())
        .map(|e| e.time)
        .filter(|&time| time >= window.from)
        .min();
    match unpack {
        Some(time) => Window {
            from: window.from,
            until: window.until.min(time.saturating_add(1)),
        },
        None => window,
    }
}

/// The items related to `names` through TransformationEvents, one step: the outputs of a
/// transformation that consumed it, from then on; the inputs of one that produced it, until then.
fn transformed<T>(events: &[SourceEvent<T>], names: &[String]) -> Vec<Subject> {
    let named = |id: &str| names.iter().any(|name| name == id);
    let mut related = Vec::new();
    for event in events {
        if event.event.get("type").and_then(Value::as_str) != Some("TransformationEvent") {
            continue;
        }
        let consumed = text_list(&event.event, "inputEPCList").any(named);
        let produced = text_list(&event.event, "outputEPCList").any(named);
        let mut relate = |member: &str, window: Window| {
            for id in text_list(&event.event, member).filter(|id| !named(id)) {
                related.push(Subject {
                    names: vec![id.to_owned()],
                    window,
                    why: Why::Transformation {
                        via: id.to_owned(),
                        transformation: event.leaf,
                    },
                    depth: 1,
                    follow_containers: false,
                });
            }
        };
        if consumed {
            relate(
                "outputEPCList",
                Window {
                    from: event.time,
                    until: i128::MAX,
                },
            );
        }
        if produced {
            relate(
                "inputEPCList",
                Window {
                    from: i128::MIN,
                    until: event.time.saturating_add(1),
                },
            );
        }
    }
    related
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests;
