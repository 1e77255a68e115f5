//! The checks of one event: the schema's `Event` definition, the definition of its type
//! (`ObjectEvent`, ...), and the identifier rules of the standard.

use super::Rule;
use super::format::{is_hex_binary, is_uom};
use super::identifier::{self, Level};
use super::report::{Path, Report};
use super::values::{
    check_context, check_extension_name, check_time, check_time_zone_offset, check_unique,
    check_uri, check_vocabulary, expect_array, expect_bool, expect_list, expect_number,
    expect_object, expect_str, reject_member, require,
};
use super::vocabulary::{
    BIZ_STEP, BIZ_TRANSACTION_TYPE, COMPONENT, DISPOSITION, ERROR_REASON, MEASUREMENT_TYPE,
    SENSOR_ALERT_TYPE, SOURCE_DESTINATION_TYPE,
};
use crate::document::{Action, Event, EventKind};
use crate::json::{Json, JsonObject, View};

/// Checks one event, reporting with pointers into its input.
pub(super) fn check_event(event: &Event, report: &mut Report) {
    let standalone = event.is_standalone();
    report.set_event((!standalone).then_some(event.index()));
    let base = Path::base(event.origin().event_list_pointer());
    let in_list;
    let here: &Path<'_> = if standalone {
        &base
    } else {
        in_list = base.index(event.index());
        &in_list
    };
    // The event's own `@context` adds to its document's for what it writes.
    let own = event
        .context()
        .and_then(|context| report.prefixes().with_context(context).ok());
    match own {
        Some(prefixes) => {
            let outer = report.set_prefixes(prefixes);
            check_event_object(event, event.members(), here, report);
            report.set_prefixes(outer);
        }
        None => check_event_object(event, event.members(), here, report),
    }
}

/// The checks of [`check_event`], on the event's JSON object `raw` at `here`.
fn check_event_object<O: JsonObject>(event: &Event, raw: &O, here: &Path<'_>, report: &mut Report) {
    let standalone = event.is_standalone();
    let kind = event.kind();
    let what = event.type_name();

    for (key, value) in raw.members() {
        let at = here.key(key);
        match key {
            // Checked when the event was parsed: it names a known kind or is a URI.
            "type" => {}
            "@context" => check_context(value, &at, report),
            "eventTime" | "recordTime" => check_time(value, &at, report),
            "eventTimeZoneOffset" => check_time_zone_offset(value, &at, report),
            "eventID" => {
                check_uri(value, &at, report);
            }
            "certificationInfo" => check_certification_info(value, &at, report),
            "errorDeclaration" => check_error_declaration(value, &at, report),
            // An extension event type constrains only the common members.
            _ if kind == EventKind::Extension => {}
            name => {
                if !check_specific_member(kind, name, value, &at, report) {
                    check_extension_name(name, what, &at, report);
                }
            }
        }
    }

    require(raw, "eventTime", what, here, report);
    require(raw, "eventTimeZoneOffset", what, here, report);
    if standalone {
        require(raw, "@context", "an event outside a document", here, report);
    }
    match kind {
        EventKind::Object => {
            require(raw, "action", what, here, report);
            check_object_event_content(raw, here, report);
        }
        EventKind::Aggregation | EventKind::Association => {
            require(raw, "action", what, here, report);
            if kind == EventKind::Association {
                require(raw, "parentID", what, here, report);
            }
            check_children_or_delete(raw, what, here, report);
        }
        EventKind::Transaction => {
            require(raw, "action", what, here, report);
            require(raw, "bizTransactionList", what, here, report);
            check_transaction_content(raw, here, report);
        }
        EventKind::Transformation => check_transformation_content(raw, here, report),
        EventKind::Extension => {}
    }
}

/// Checks `name` if it is a standard member of events of `kind` (the schema's per-type
/// property lists, which `specific_members` repeats); returns whether it is one.
fn check_specific_member<J: Json>(
    kind: EventKind,
    name: &str,
    value: &J,
    at: &Path<'_>,
    report: &mut Report,
) -> bool {
    use EventKind::{Aggregation, Association, Extension, Object, Transaction, Transformation};
    match (name, kind) {
        (_, Extension) => return false,
        ("action", Object | Aggregation | Transaction | Association) => {
            if let Some(text) = expect_str(value, at, report)
                && Action::parse(text).is_err()
            {
                report.add(
                    at,
                    Rule::Enum,
                    format!("action must be ADD, OBSERVE or DELETE, found {text:?}"),
                );
            }
        }
        // The schema's `epcList` definition (unique URIs) serves Object and Transformation
        // events; TransactionEvent declares a plain list of URIs.
        ("epcList", Object) | ("inputEPCList" | "outputEPCList", Transformation) => {
            check_identifier_list(value, true, at, report);
        }
        ("epcList", Transaction) | ("childEPCs", Aggregation | Association) => {
            check_identifier_list(value, false, at, report);
        }
        ("parentID", Aggregation | Transaction | Association) => {
            check_identifier(value, Level::Instance, at, report);
        }
        ("quantityList", Object | Transaction)
        | ("childQuantityList", Aggregation | Association)
        | ("inputQuantityList" | "outputQuantityList", Transformation) => {
            check_quantity_list(value, at, report);
        }
        ("bizStep", _) => check_vocabulary(value, BIZ_STEP, at, report),
        ("disposition", _) => check_vocabulary(value, DISPOSITION, at, report),
        ("persistentDisposition", Object | Transformation) => {
            check_persistent_disposition(value, at, report);
        }
        ("readPoint", _) => check_location(value, "readPoint", at, report),
        ("bizLocation", _) => check_location(value, "bizLocation", at, report),
        ("bizTransactionList", _) => {
            let min_items = usize::from(kind == Transaction);
            check_biz_transaction_list(value, min_items, at, report);
        }
        ("sourceList", _) => check_source_destination_list(value, "source", at, report),
        ("destinationList", _) => {
            check_source_destination_list(value, "destination", at, report);
        }
        ("sensorElementList", _) => check_sensor_element_list(value, at, report),
        ("ilmd", Object | Transformation) => check_ilmd(value, at, report),
        ("transformationID", Transformation) => {
            check_uri(value, at, report);
        }
        _ => return false,
    }
    true
}

fn check_certification_info<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    match value.view() {
        View::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                check_uri(item, &at.index(index), report);
            }
        }
        _ => {
            check_uri(value, at, report);
        }
    }
}

fn check_error_declaration<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    let Some(declaration) = expect_object(value, at, report) else {
        return;
    };
    for (key, member) in declaration.members() {
        let here = at.key(key);
        match key {
            "declarationTime" => check_time(member, &here, report),
            "reason" => check_vocabulary(member, ERROR_REASON, &here, report),
            "correctiveEventIDs" => {
                if let Some(ids) = expect_array(member, &here, report) {
                    for (index, id) in ids.iter().enumerate() {
                        check_uri(id, &here.index(index), report);
                    }
                }
            }
            name => check_extension_name(name, "errorDeclaration", &here, report),
        }
    }
    require(
        declaration,
        "declarationTime",
        "errorDeclaration",
        at,
        report,
    );
}

fn check_identifier<J: Json>(value: &J, level: Level, at: &Path<'_>, report: &mut Report) {
    if let Some(text) = value.as_str()
        && identifier::is_valid_everyday_epc(text, level)
    {
        return;
    }
    if let Some(uri) = check_uri(value, at, report)
        && let Err(message) = identifier::check(uri, level)
    {
        report.add(at, Rule::Identifier, format!("{}: {message}", at.name()));
    }
}

fn check_identifier_list<J: Json>(value: &J, unique: bool, at: &Path<'_>, report: &mut Report) {
    let Some(items) = expect_array(value, at, report) else {
        return;
    };
    for (index, item) in items.iter().enumerate() {
        check_identifier(item, Level::Instance, &at.index(index), report);
    }
    if unique {
        check_unique(items, at, report);
    }
}

fn check_quantity_list<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    let Some(items) = expect_array(value, at, report) else {
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let here = at.index(index);
        let Some(element) = expect_object(item, &here, report) else {
            continue;
        };
        for (key, member) in element.members() {
            let there = here.key(key);
            match key {
                "epcClass" => check_identifier(member, Level::Class, &there, report),
                "quantity" => {
                    if let Some(quantity) = expect_number(member, &there, report)
                        && quantity < 0.0
                    {
                        report.add(
                            &there,
                            Rule::Minimum,
                            format!("quantity must not be negative, found {quantity}"),
                        );
                    }
                }
                "uom" => {
                    if let Some(uom) = expect_str(member, &there, report)
                        && !is_uom(uom)
                    {
                        report.add(
                            &there,
                            Rule::Pattern,
                            format!(
                                "uom must be a UN/CEFACT unit code of 2 or 3 upper-case letters \
                                 or digits, found {uom:?}"
                            ),
                        );
                    }
                }
                name => reject_member(name, "a quantity element", &there, report),
            }
        }
        require(element, "epcClass", "a quantity element", &here, report);
    }
}

fn check_persistent_disposition<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    let Some(object) = expect_object(value, at, report) else {
        return;
    };
    for (key, member) in object.members() {
        let here = at.key(key);
        match key {
            "set" | "unset" => {
                if let Some(items) = expect_list(member, 1, &here, report) {
                    for (index, item) in items.iter().enumerate() {
                        check_vocabulary(item, DISPOSITION, &here.index(index), report);
                    }
                    check_unique(items, &here, report);
                }
            }
            name => reject_member(name, "persistentDisposition", &here, report),
        }
    }
    if !object.contains_key("set") && !object.contains_key("unset") {
        report.add(
            at,
            Rule::Required,
            "persistentDisposition must have set or unset",
        );
    }
}

fn check_location<J: Json>(value: &J, what: &str, at: &Path<'_>, report: &mut Report) {
    let Some(location) = expect_object(value, at, report) else {
        return;
    };
    // Members besides `id` are unconstrained (extensions of the location).
    match location.get("id") {
        Some(id) => check_identifier(id, Level::LocationOrParty, &at.key("id"), report),
        None => report.add(
            &at.key("id"),
            Rule::Required,
            format!("{what} must have id"),
        ),
    }
}

fn check_biz_transaction_list<J: Json>(
    value: &J,
    min_items: usize,
    at: &Path<'_>,
    report: &mut Report,
) {
    let Some(items) = expect_list(value, min_items, at, report) else {
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let here = at.index(index);
        let Some(transaction) = expect_object(item, &here, report) else {
            continue;
        };
        for (key, member) in transaction.members() {
            let there = here.key(key);
            match key {
                "type" => check_vocabulary(member, BIZ_TRANSACTION_TYPE, &there, report),
                "bizTransaction" => {
                    check_uri(member, &there, report);
                }
                name => reject_member(name, "a business transaction", &there, report),
            }
        }
        require(
            transaction,
            "bizTransaction",
            "a business transaction",
            &here,
            report,
        );
    }
}

fn check_source_destination_list<J: Json>(
    value: &J,
    member_name: &'static str,
    at: &Path<'_>,
    report: &mut Report,
) {
    let Some(items) = expect_array(value, at, report) else {
        return;
    };
    let what = if member_name == "source" {
        "a source"
    } else {
        "a destination"
    };
    for (index, item) in items.iter().enumerate() {
        let here = at.index(index);
        let Some(element) = expect_object(item, &here, report) else {
            continue;
        };
        for (key, member) in element.members() {
            let there = here.key(key);
            match key {
                "type" => check_vocabulary(member, SOURCE_DESTINATION_TYPE, &there, report),
                name if name == member_name => {
                    check_identifier(member, Level::LocationOrParty, &there, report);
                }
                name => reject_member(name, what, &there, report),
            }
        }
        require(element, "type", what, &here, report);
        require(element, member_name, what, &here, report);
    }
}

fn check_sensor_element_list<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    let Some(items) = expect_array(value, at, report) else {
        return;
    };
    for (index, item) in items.iter().enumerate() {
        let here = at.index(index);
        let Some(element) = expect_object(item, &here, report) else {
            continue;
        };
        for (key, member) in element.members() {
            let there = here.key(key);
            match key {
                "sensorMetadata" => check_sensor_metadata(member, &there, report),
                "sensorReport" => {
                    if let Some(reports) = expect_list(member, 1, &there, report) {
                        for (position, entry) in reports.iter().enumerate() {
                            check_sensor_report(entry, &there.index(position), report);
                        }
                    }
                }
                name => check_extension_name(name, "a sensor element", &there, report),
            }
        }
        require(element, "sensorReport", "a sensor element", &here, report);
    }
}

fn check_sensor_metadata<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    let Some(metadata) = expect_object(value, at, report) else {
        return;
    };
    for (key, member) in metadata.members() {
        let here = at.key(key);
        match key {
            "time" | "startTime" | "endTime" => check_time(member, &here, report),
            "deviceID" | "deviceMetadata" | "rawData" | "dataProcessingMethod" | "bizRules" => {
                check_uri(member, &here, report);
            }
            name => check_extension_name(name, "sensorMetadata", &here, report),
        }
    }
}

fn check_sensor_report<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    let Some(entry) = expect_object(value, at, report) else {
        return;
    };
    for (key, member) in entry.members() {
        let here = at.key(key);
        match key {
            "type" => check_vocabulary(member, MEASUREMENT_TYPE, &here, report),
            "exception" => check_vocabulary(member, SENSOR_ALERT_TYPE, &here, report),
            "component" => check_vocabulary(member, COMPONENT, &here, report),
            "deviceID"
            | "deviceMetadata"
            | "rawData"
            | "dataProcessingMethod"
            | "bizRules"
            | "microorganism"
            | "chemicalSubstance"
            | "coordinateReferenceSystem"
            | "uriValue" => {
                check_uri(member, &here, report);
            }
            "time" => check_time(member, &here, report),
            "value" | "minValue" | "maxValue" | "meanValue" | "sDev" | "percRank" | "percValue" => {
                expect_number(member, &here, report);
            }
            "stringValue" | "uom" => {
                expect_str(member, &here, report);
            }
            "booleanValue" => expect_bool(member, &here, report),
            "hexBinaryValue" => {
                if let Some(text) = expect_str(member, &here, report)
                    && !is_hex_binary(text)
                {
                    report.add(
                        &here,
                        Rule::Pattern,
                        format!("hexBinaryValue must be hexadecimal digits, found {text:?}"),
                    );
                }
            }
            name => check_extension_name(name, "a sensor report", &here, report),
        }
    }
    require(entry, "type", "a sensor report", at, report);
}

fn check_ilmd<J: Json>(value: &J, at: &Path<'_>, report: &mut Report) {
    if let Some(ilmd) = expect_object(value, at, report) {
        for (key, _) in ilmd.members() {
            check_extension_name(key, "ilmd", &at.key(key), report);
        }
    }
}

/// Whether `member` is present as a list of at least `min_items` elements.
fn has_list<O: JsonObject>(event: &O, member: &str, min_items: usize) -> bool {
    event
        .get(member)
        .and_then(Json::as_array)
        .is_some_and(|items| items.len() >= min_items)
}

/// Reports each of `members` that is present as an empty list; returns whether any was.
fn report_empty_lists<O: JsonObject>(
    event: &O,
    members: &[&str],
    at: &Path<'_>,
    report: &mut Report,
) -> bool {
    let mut reported = false;
    for member in members {
        if event
            .get(member)
            .and_then(Json::as_array)
            .is_some_and(<[_]>::is_empty)
        {
            report.add(
                &at.key(member),
                Rule::MinItems,
                format!("{member} must not be empty"),
            );
            reported = true;
        }
    }
    reported
}

fn action_of<O: JsonObject>(event: &O) -> Option<&str> {
    event.get("action").and_then(Json::as_str)
}

/// An ObjectEvent names what it is about (`epcList`, possibly empty; a non-empty
/// `quantityList`; or sensor data with a `readPoint`), and carries `ilmd` only when it adds
/// objects.
fn check_object_event_content<O: JsonObject>(event: &O, at: &Path<'_>, report: &mut Report) {
    let has_sensor_data =
        has_list(event, "sensorElementList", 1) && event.contains_key("readPoint");
    let names_what =
        has_list(event, "epcList", 0) || has_list(event, "quantityList", 1) || has_sensor_data;
    if !names_what && !report_empty_lists(event, &["quantityList"], at, report) {
        if has_list(event, "sensorElementList", 1) {
            report.add(
                &at.key("readPoint"),
                Rule::Required,
                "an ObjectEvent that reports only sensor data must have readPoint",
            );
        } else {
            report.add(
                at,
                Rule::Required,
                "an ObjectEvent must have epcList, a non-empty quantityList, or a non-empty \
                 sensorElementList with readPoint",
            );
        }
    }
    if event.contains_key("ilmd")
        && let Some(action) = action_of(event)
        && action != Action::Add.as_str()
        && Action::parse(action).is_ok()
    {
        report.add(
            &at.key("ilmd"),
            Rule::Forbidden,
            format!("ilmd is allowed only when action is ADD, found action {action:?}"),
        );
    }
}

/// Aggregation and Association events name their children unless they delete every child of
/// the parent.
fn check_children_or_delete<O: JsonObject>(
    event: &O,
    what: &str,
    at: &Path<'_>,
    report: &mut Report,
) {
    let Some(action) = action_of(event) else {
        return;
    };
    if action == Action::Delete.as_str()
        || has_list(event, "childEPCs", 1)
        || has_list(event, "childQuantityList", 1)
    {
        return;
    }
    if !report_empty_lists(event, &["childEPCs", "childQuantityList"], at, report) {
        report.add(
            at,
            Rule::Required,
            format!("{what} with action {action} must have childEPCs or childQuantityList"),
        );
    }
}

/// A TransactionEvent names what it is about unless it deletes the whole transaction.
fn check_transaction_content<O: JsonObject>(event: &O, at: &Path<'_>, report: &mut Report) {
    let Some(action) = action_of(event) else {
        return;
    };
    if action == Action::Delete.as_str()
        || has_list(event, "epcList", 0)
        || has_list(event, "quantityList", 1)
    {
        return;
    }
    if !report_empty_lists(event, &["quantityList"], at, report) {
        report.add(
            at,
            Rule::Required,
            format!("a TransactionEvent with action {action} must have epcList or quantityList"),
        );
    }
}

/// A TransformationEvent has inputs and outputs, or a transformationID and at least one of them.
fn check_transformation_content<O: JsonObject>(event: &O, at: &Path<'_>, report: &mut Report) {
    let has_input = has_list(event, "inputEPCList", 1) || has_list(event, "inputQuantityList", 1);
    let has_output =
        has_list(event, "outputEPCList", 1) || has_list(event, "outputQuantityList", 1);
    let has_id = event.contains_key("transformationID");
    if (has_input && has_output) || (has_id && (has_input || has_output)) {
        return;
    }
    let lists = [
        "inputEPCList",
        "inputQuantityList",
        "outputEPCList",
        "outputQuantityList",
    ];
    if report_empty_lists(event, &lists, at, report) {
        return;
    }
    let message = if has_id {
        "a TransformationEvent must have at least one non-empty input or output list"
    } else if has_input {
        "a TransformationEvent without transformationID must have outputEPCList or \
         outputQuantityList"
    } else if has_output {
        "a TransformationEvent without transformationID must have inputEPCList or \
         inputQuantityList"
    } else {
        "a TransformationEvent must have inputs and outputs, or a transformationID and inputs \
         or outputs"
    };
    report.add(at, Rule::Required, message);
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::document::specific_members;

    #[test]
    fn the_checked_members_of_each_event_type_are_the_schemas_lists() {
        let every_name = [
            "action",
            "epcList",
            "quantityList",
            "parentID",
            "childEPCs",
            "childQuantityList",
            "inputEPCList",
            "inputQuantityList",
            "outputEPCList",
            "outputQuantityList",
            "transformationID",
            "bizStep",
            "disposition",
            "persistentDisposition",
            "readPoint",
            "bizLocation",
            "bizTransactionList",
            "sourceList",
            "destinationList",
            "sensorElementList",
            "ilmd",
            "eventTime",
            "example:x",
        ];
        for kind in [
            EventKind::Object,
            EventKind::Aggregation,
            EventKind::Transaction,
            EventKind::Transformation,
            EventKind::Association,
            EventKind::Extension,
        ] {
            for name in every_name {
                let base = Path::base("");
                let mut report = Report::default();
                let checked =
                    check_specific_member(kind, name, &Value::Null, &base.key(name), &mut report);
                assert_eq!(
                    checked,
                    specific_members(kind).contains(&name),
                    "{kind:?} {name}"
                );
            }
        }
    }
}
