//! The FDA FSMA 204 electronic sortable spreadsheet of an export's matching events: one CSV
//! encoder, which the writer runs to make it and the verifier to check it (ledger README,
//! "Verifiable export, version 1", for the columns and the mapping).
//!
//! The rule lists key data elements per critical tracking event and fixes no columns; the
//! columns here are those elements as EPCIS 2.0 carries them, after the GS1 US guideline's
//! mapping of FSMA 204 events to EPCIS: the lot (traceability lot code) from an LGTIN class or the
//! ILMD's lot number, the product's GTIN, quantity and unit, the event's time and place, its
//! source and destination, and its first business transaction as the reference document. One
//! row per product line of an event: each quantity element, and the identifiers of each GTIN (and
//! lot) counted; an event without either has one row. Every text from an event that a spreadsheet
//! would read as a formula (starting `=`, `+`, `-`, `@`, a tab or a carriage return) is written
//! with a leading `'`.

use serde_json::{Map, Value};

use crate::index::gtin_and_lot;

use super::provenance::ProvenanceEvent;

/// The spreadsheet's header line.
pub const FSMA204_COLUMNS: [&str; 18] = [
    "Traceability Lot Code",
    "Product (GTIN)",
    "Quantity",
    "Unit of Measure",
    "Line",
    "Critical Tracking Event",
    "Event Date and Time",
    "Time Zone Offset",
    "Location",
    "Ship-from",
    "Ship-to",
    "Reference Document Type",
    "Reference Document Number",
    "EPCIS Event Type",
    "EPCIS Business Step",
    "EPCIS Event ID",
    "Event Hash",
    "Ledger Entry",
];

/// The spreadsheet of `events` (in their order): the header, then each event's rows; lines end
/// in CRLF (RFC 4180). An event whose text is not a JSON object gets no row (the verifier's
/// query check fails on it first).
pub fn fsma204_csv(events: &[&ProvenanceEvent]) -> String {
    let mut out = String::new();
    line(
        &mut out,
        FSMA204_COLUMNS.iter().map(|column| cell(column, false)),
    );
    for event in events {
        let Ok(Value::Object(json)) = serde_json::from_str::<Value>(&event.event) else {
            continue;
        };
        let common = Common::of(&json, event);
        let lines = product_lines(&json);
        if lines.is_empty() {
            line(&mut out, common.row(&ProductLine::default()));
        }
        for product in &lines {
            line(&mut out, common.row(product));
        }
    }
    out
}

/// What every row of one event repeats.
struct Common {
    event: Vec<String>,
}

impl Common {
    fn of(json: &Map<String, Value>, event: &ProvenanceEvent) -> Self {
        let text = |name: &str| json.get(name).and_then(Value::as_str).unwrap_or("");
        let id = |name: &str| {
            json.get(name)
                .and_then(|place| place.get("id"))
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let location = match id("bizLocation") {
            "" => id("readPoint"),
            place => place,
        };
        let (document_type, document) = first_typed(json, "bizTransactionList", "bizTransaction");
        let event_type = text("type");
        let step = term(text("bizStep"));
        Self {
            event: vec![
                cell(cte(event_type, &step), false),
                cell(text("eventTime"), true),
                cell(text("eventTimeZoneOffset"), false),
                cell(location, true),
                cell(&typed_location(json, "sourceList", "source"), true),
                cell(
                    &typed_location(json, "destinationList", "destination"),
                    true,
                ),
                cell(&term(&document_type), true),
                cell(&document, true),
                cell(event_type, true),
                cell(&step, true),
                cell(text("eventID"), true),
                cell(&event.event_hash.to_ni_uri(), false),
                event.inclusion.leaf_index().get().to_string(),
            ],
        }
    }

    fn row(&self, product: &ProductLine) -> Vec<String> {
        let mut row = vec![
            cell(product.lot.as_deref().unwrap_or(""), true),
            cell(product.gtin.as_deref().unwrap_or(""), true),
            cell(&product.quantity, true),
            cell(&product.unit, true),
            cell(product.role, false),
        ];
        row.extend(self.event.iter().cloned());
        row
    }
}

/// One product line of an event.
#[derive(Default)]
struct ProductLine {
    gtin: Option<String>,
    lot: Option<String>,
    quantity: String,
    unit: String,
    role: &'static str,
}

/// The event's product lines: each quantity element, then the GS1 trade items of its identifiers
/// counted by GTIN and lot (`EA`), each with its role (`input`, `output`, or none).
fn product_lines(json: &Map<String, Value>) -> Vec<ProductLine> {
    let ilmd_lot = json
        .get("ilmd")
        .and_then(|ilmd| {
            ilmd.get("cbvmda:lotNumber")
                .or_else(|| ilmd.get("urn:epcglobal:cbv:mda:lotNumber"))
        })
        .and_then(Value::as_str);
    let mut lines = Vec::new();
    for (member, role) in [
        ("quantityList", ""),
        ("childQuantityList", ""),
        ("inputQuantityList", "input"),
        ("outputQuantityList", "output"),
    ] {
        for element in json
            .get(member)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(class) = element.get("epcClass").and_then(Value::as_str) else {
                continue;
            };
            let (gtin, lot) = match gtin_and_lot(class) {
                Some((gtin, lot)) => (Some(gtin), lot),
                None => (Some(class.to_owned()), None),
            };
            lines.push(ProductLine {
                gtin,
                lot,
                quantity: element.get("quantity").map_or(String::new(), number),
                unit: element
                    .get("uom")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned(),
                role,
            });
        }
    }
    for (member, role) in [
        ("epcList", ""),
        ("childEPCs", ""),
        ("inputEPCList", "input"),
        ("outputEPCList", "output"),
    ] {
        // Counted by (GTIN, lot), in the order first seen.
        let mut counted: Vec<(String, Option<String>, u64)> = Vec::new();
        for id in json
            .get(member)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some((gtin, lot)) = id.as_str().and_then(gtin_and_lot) else {
                continue;
            };
            let lot = lot.or_else(|| ilmd_lot.map(str::to_owned));
            match counted.iter_mut().find(|(g, l, _)| *g == gtin && *l == lot) {
                Some((_, _, count)) => *count += 1,
                None => counted.push((gtin, lot, 1)),
            }
        }
        lines.extend(counted.into_iter().map(|(gtin, lot, count)| ProductLine {
            gtin: Some(gtin),
            lot,
            quantity: count.to_string(),
            unit: "EA".to_owned(),
            role,
        }));
    }
    lines
}

/// A quantity as JSON wrote it (a number), or nothing.
fn number(value: &Value) -> String {
    match value {
        Value::Number(number) => number.to_string(),
        _ => String::new(),
    }
}

/// The critical tracking event an EPCIS event is: a transformation by its type, the others by
/// their business step; none for a step FSMA 204 has no event for.
fn cte(event_type: &str, step: &str) -> &'static str {
    if event_type == "TransformationEvent" {
        return "Transformation";
    }
    match step {
        "shipping" => "Shipping",
        "receiving" => "Receiving",
        "commissioning" => "Initial Packing",
        "transforming" => "Transformation",
        "harvesting" => "Harvesting",
        "cooling" => "Cooling",
        _ => "",
    }
}

/// A CBV term without its namespace (`urn:epcglobal:cbv:bizstep:shipping`,
/// `https://ref.gs1.org/cbv/BizStep-shipping` and `shipping` are `shipping`); other text as is.
fn term(text: &str) -> String {
    let bare = if let Some(rest) = text.strip_prefix("https://ref.gs1.org/cbv/") {
        rest.split_once('-').map_or(rest, |(_, term)| term)
    } else if let Some(rest) = text.strip_prefix("urn:epcglobal:cbv:") {
        rest.split_once(':').map_or(rest, |(_, term)| term)
    } else {
        text
    };
    bare.to_owned()
}

/// The first entry of a typed list (`bizTransactionList`): its type and value.
fn first_typed(json: &Map<String, Value>, list: &str, member: &str) -> (String, String) {
    json.get(list)
        .and_then(Value::as_array)
        .and_then(|entries| entries.first())
        .map(|entry| {
            let text = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or("");
            (text("type").to_owned(), text(member).to_owned())
        })
        .unwrap_or_default()
}

/// The location of a source or destination list: the first entry of type `location`, else the
/// first of any type.
fn typed_location(json: &Map<String, Value>, list: &str, member: &str) -> String {
    let entries = json.get(list).and_then(Value::as_array);
    let entry = entries
        .into_iter()
        .flatten()
        .find(|entry| {
            entry
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|kind| term(kind) == "location")
        })
        .or_else(|| entries.and_then(|entries| entries.first()));
    entry
        .and_then(|entry| entry.get(member))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned()
}

/// One CSV field (RFC 4180): quoted when it holds a comma, a quote or a line break, quotes
/// doubled; text from an event that a spreadsheet would take for a formula gets a leading `'`.
pub(crate) fn cell(text: &str, from_event: bool) -> String {
    let guarded = from_event && text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let text = match guarded {
        true => format!("'{text}"),
        false => text.to_owned(),
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

/// Appends one line of cells, ending in CRLF.
pub(crate) fn line(out: &mut String, cells: impl IntoIterator<Item = String>) {
    let cells: Vec<String> = cells.into_iter().collect();
    out.push_str(&cells.join(","));
    out.push_str("\r\n");
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    #[test]
    fn cells_are_quoted_and_formulas_defused() {
        assert_eq!(cell("plain", true), "plain");
        assert_eq!(cell("a,b", true), "\"a,b\"");
        assert_eq!(cell("say \"hi\"", true), "\"say \"\"hi\"\"\"");
        assert_eq!(
            cell("=HYPERLINK(\"x\")", true),
            "\"'=HYPERLINK(\"\"x\"\")\""
        );
        assert_eq!(cell("+1", true), "'+1");
        assert_eq!(cell("@SUM(A1)", true), "'@SUM(A1)");
        assert_eq!(cell("line\nbreak", true), "\"line\nbreak\"");
        // What the encoder writes itself is not guarded.
        assert_eq!(cell("-05:00", false), "-05:00");
    }

    #[test]
    fn terms_lose_their_namespace() {
        assert_eq!(term("urn:epcglobal:cbv:bizstep:shipping"), "shipping");
        assert_eq!(
            term("https://ref.gs1.org/cbv/BizStep-receiving"),
            "receiving"
        );
        assert_eq!(term("shipping"), "shipping");
        assert_eq!(term("urn:epcglobal:cbv:btt:po"), "po");
        assert_eq!(cte("ObjectEvent", "shipping"), "Shipping");
        assert_eq!(cte("TransformationEvent", ""), "Transformation");
        assert_eq!(cte("ObjectEvent", "inspecting"), "");
    }

    #[test]
    fn product_lines_count_items_by_gtin_and_lot_and_keep_quantities() {
        let json: Map<String, Value> = serde_json::from_str(
            r#"{"type":"ObjectEvent","epcList":["urn:epc:id:sgtin:0614141.107346.1",
            "urn:epc:id:sgtin:0614141.107346.2","urn:epc:id:sscc:0614141.1234567890",
            "https://id.gs1.org/01/09521568251204/21/7"],
            "quantityList":[{"epcClass":"urn:epc:class:lgtin:4012345.012345.998877",
            "quantity":200,"uom":"KGM"}],"ilmd":{"cbvmda:lotNumber":"L7"}}"#,
        )
        .unwrap();
        let lines = product_lines(&json);
        let shown: Vec<(Option<&str>, Option<&str>, &str, &str)> = lines
            .iter()
            .map(|l| {
                (
                    l.gtin.as_deref(),
                    l.lot.as_deref(),
                    l.quantity.as_str(),
                    l.unit.as_str(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (Some("04012345123456"), Some("998877"), "200", "KGM"),
                (Some("10614141073464"), Some("L7"), "2", "EA"),
                (Some("09521568251204"), Some("L7"), "1", "EA"),
            ]
        );
    }
}
