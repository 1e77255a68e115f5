//! Checks of single JSON values against the schema's building blocks (`uri`, `time`, lists,
//! vocabularies, `@context`), shared by the document and event checks.

use std::collections::HashSet;

use crate::json::{Json, JsonObject, View};

use super::Rule;
use super::format::is_uri;
use super::report::{Path, Report};
use super::vocabulary::{Vocabulary, VocabularyMiss};
use crate::document::{TimeZoneOffset, Timestamp};

/// The JSON type of a value, for messages.
pub(super) fn json_type<J: Json>(value: &J) -> &'static str {
    match value.view() {
        View::Null => "null",
        View::Bool(_) => "a boolean",
        View::Number(_) => "a number",
        View::String(_) => "a string",
        View::Array(_) => "a list",
        View::Object(_) => "an object",
    }
}

pub(super) fn expect_str<'v, J: Json>(
    value: &'v J,
    at: &Path<'_>,
    report: &mut Report,
) -> Option<&'v str> {
    match value.view() {
        View::String(text) => Some(text),
        _ => {
            report.add(
                at,
                Rule::Type,
                format!("{} must be a string, found {}", at.name(), json_type(value)),
            );
            None
        }
    }
}

pub(super) fn expect_object<'v, J: Json>(
    value: &'v J,
    at: &Path<'_>,
    report: &mut Report,
) -> Option<&'v J::Object> {
    match value.view() {
        View::Object(object) => Some(object),
        _ => {
            report.add(
                at,
                Rule::Type,
                format!(
                    "{} must be an object, found {}",
                    at.name(),
                    json_type(value)
                ),
            );
            None
        }
    }
}

pub(super) fn expect_array<'v, J: Json>(
    value: &'v J,
    at: &Path<'_>,
    report: &mut Report,
) -> Option<&'v [J]> {
    match value.view() {
        View::Array(items) => Some(items),
        _ => {
            report.add(
                at,
                Rule::Type,
                format!("{} must be a list, found {}", at.name(), json_type(value)),
            );
            None
        }
    }
}

/// A list that must have at least `min_items` elements.
pub(super) fn expect_list<'v, J: Json>(
    value: &'v J,
    min_items: usize,
    at: &Path<'_>,
    report: &mut Report,
) -> Option<&'v [J]> {
    let items = expect_array(value, at, report)?;
    if items.len() < min_items {
        report.add(
            at,
            Rule::MinItems,
            format!("{} must not be empty", at.name()),
        );
    }
    Some(items)
}

pub(super) fn expect_number<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) -> Option<f64> {
    match value.view() {
        View::Number(number) => number.as_f64(),
        _ => {
            report.add(
                at,
                Rule::Type,
                format!("{} must be a number, found {}", at.name(), json_type(value)),
            );
            None
        }
    }
}

pub(super) fn expect_bool<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    if !matches!(value.view(), View::Bool(_)) {
        report.add(
            at,
            Rule::Type,
            format!(
                "{} must be true or false, found {}",
                at.name(),
                json_type(value)
            ),
        );
    }
}

/// A string in the JSON Schema `uri` format: an absolute URI.
pub(super) fn check_uri<'v, J: Json>(
    value: &'v J,
    at: &Path<'_>,
    report: &mut Report,
) -> Option<&'v str> {
    let text = expect_str(value, at, report)?;
    if is_uri(text) {
        Some(text)
    } else {
        report.add(
            at,
            Rule::Format,
            format!(
                "{} must be an absolute URI (RFC 3986), found {text:?}",
                at.name()
            ),
        );
        None
    }
}

/// A string in the JSON Schema `date-time` format: RFC 3339 with an offset.
pub(super) fn check_time<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    if let Some(text) = expect_str(value, at, report)
        && let Err(error) = Timestamp::parse(text)
    {
        report.add(
            at,
            Rule::Format,
            format!(
                "{} is not a valid date-time ({error}), found {text:?}",
                at.name()
            ),
        );
    }
}

/// `eventTimeZoneOffset`: `^([+]|[-])((0[0-9]|1[0-3]):([0-5][0-9])|14:00)$`.
pub(super) fn check_time_zone_offset<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    if let Some(text) = expect_str(value, at, report)
        && TimeZoneOffset::parse(text).is_err()
    {
        report.add(
            at,
            Rule::Pattern,
            format!(
                "{} must be ±hh:mm between -14:00 and +14:00, found {text:?}",
                at.name()
            ),
        );
    }
}

/// A value of a CBV list: a standard bare word, or a URI outside the list's own namespace.
pub(super) fn check_vocabulary<J: Json>(
    value: &J,
    vocabulary: Vocabulary,
    at: &Path<'_>,
    report: &mut Report,
) {
    let Some(text) = expect_str(value, at, report) else {
        return;
    };
    match vocabulary.check_expanded(text, report.prefixes()) {
        Ok(()) => {}
        Err(VocabularyMiss::Unknown) => report.add(
            at,
            Rule::Enum,
            format!(
                "{} must be a standard CBV value or an absolute URI, found {text:?}",
                at.name()
            ),
        ),
        Err(miss) => {
            let hint = match vocabulary.standard_word(text, report.prefixes()) {
                Some(word) => format!("; write the bare word {word:?}"),
                None => String::new(),
            };
            let (rule, why) = match miss {
                VocabularyMiss::OtherSpelling => (
                    Rule::Spelling,
                    "names a term in the CBV's namespace, which tagtrail takes only as a bare \
                     word (one spelling per term)",
                ),
                _ => (
                    Rule::Pattern,
                    "is a URI in a namespace reserved for standard values, which EPCIS JSON \
                     writes as bare words",
                ),
            };
            report.add(at, rule, format!("{} {text:?} {why}{hint}", at.name()));
        }
    }
}

/// A member name that is not a standard member must be a URI (an extension such as
/// `example:myField` or `https://example.org/ns#field`).
pub(super) fn check_extension_name(key: &str, what: &str, at: &Path<'_>, report: &mut Report) {
    if !is_uri(key) {
        report.add(
            at,
            Rule::UnknownMember,
            format!(
                "{key:?} is not a member of {what}; an extension member must be named by a URI \
                 or a prefixed name such as \"example:{key}\""
            ),
        );
    }
}

/// A member that the schema closes to extensions (`additionalProperties: false`).
pub(super) fn reject_member(key: &str, what: &str, at: &Path<'_>, report: &mut Report) {
    report.add(
        at,
        Rule::UnknownMember,
        format!("{key:?} is not a member of {what}, which allows no extensions"),
    );
}

pub(super) fn require<O: JsonObject>(
    object: &O,
    key: &str,
    what: &str,
    at: &Path<'_>,
    report: &mut Report,
) {
    if !object.contains_key(key) {
        report.add(
            &at.key(key),
            Rule::Required,
            format!("{what} must have {key}"),
        );
    }
}

/// Reports the second and later occurrences of each repeated element.
pub(super) fn check_unique<J: Json>(items: &[J], at: &Path<'_>, report: &mut Report) {
    const LINEAR_LIMIT: usize = 16;
    if items.len() <= LINEAR_LIMIT {
        for (index, item) in items.iter().enumerate() {
            if let Some(first) = items[..index].iter().position(|earlier| earlier == item) {
                report_repeat(item, index, first, at, report);
            }
        }
        return;
    }
    let mut seen: HashSet<&str> = HashSet::with_capacity(items.len());
    for (index, item) in items.iter().enumerate() {
        let repeated = match item.view() {
            View::String(text) => !seen.insert(text),
            _ => items[..index].contains(item),
        };
        if repeated {
            let first = items[..index]
                .iter()
                .position(|earlier| earlier == item)
                .unwrap_or(0);
            report_repeat(item, index, first, at, report);
        }
    }
}

fn report_repeat<J: Json>(
    item: &J,
    index: usize,
    first: usize,
    at: &Path<'_>,
    report: &mut Report,
) {
    let item = item.to_value();
    report.add(
        &at.index(index),
        Rule::UniqueItems,
        format!(
            "{} repeats {item} (first at index {first}); its elements must be unique",
            at.name()
        ),
    );
}

/// `@context`: a URI, an object, or a list of unique URIs and objects.
pub(super) fn check_context<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    match value.view() {
        View::String(_) => {
            check_uri(value, at, report);
        }
        View::Object(terms) => check_standard_prefixes(terms, at, report),
        View::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                let here = at.index(index);
                match item.view() {
                    View::String(_) => {
                        check_uri(item, &here, report);
                    }
                    View::Object(terms) => check_standard_prefixes(terms, &here, report),
                    _ => report.add(
                        &here,
                        Rule::Type,
                        format!(
                            "@context entries must be URIs or objects, found {}",
                            json_type(item)
                        ),
                    ),
                }
            }
            check_unique(items, at, report);
        }
        _ => report.add(
            at,
            Rule::Type,
            format!(
                "@context must be a URI, an object or a list of them, found {}",
                json_type(value)
            ),
        ),
    }
}

/// A context must not give the standard context's `cbv` prefix another IRI:
/// `cbv:BizStep-receiving` under a redefined `cbv` would hash as a private term while readers
/// that take `cbv:` as the CBV's namespace (as the standard context has it) read a receipt
/// (stricter than the schema, [`Rule::Spelling`]). Other prefixes may be redefined (an official
/// example redefines `cbvmda`): no rule reads a value by them.
fn check_standard_prefixes<O: JsonObject>(terms: &O, at: &Path<'_>, report: &mut Report) {
    for (term, definition) in terms.members() {
        let Some(standard) = crate::hash::standard_prefix_iri(term) else {
            continue;
        };
        if term != "cbv" {
            continue;
        }
        let iri = match definition.view() {
            View::String(iri) => Some(iri),
            View::Object(expanded) => expanded.get("@id").and_then(Json::as_str),
            _ => None,
        };
        if let Some(iri) = iri
            && iri != standard
        {
            report.add(
                &at.key(term),
                Rule::Spelling,
                format!(
                    "@context gives the standard prefix {term:?} the IRI {iri:?}, not the \
                     standard context's {standard:?}: name a prefix of your own"
                ),
            );
        }
    }
}
