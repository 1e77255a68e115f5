//! The EPCIS 2.0 `SimpleEventQuery` (EPCIS 2.0 §8.2.7.1), as the REST binding's `GET /events`
//! takes it: its query parameters read into an [`EventQuery`] ([`EventQuery::parse`]), which says
//! whether an event matches ([`EventQuery::matches`]) and how results are ordered and limited.
//!
//! Every parameter of the official OpenAPI document's `GET /events` is understood, and the
//! standard's parameters named after a field (`EQ_`, `GT_`, `GE_`, `LT_`, `LE_`, `EXISTS_` with
//! an extension field's `namespace#localName`, `INNER_` and `ILMD_` forms; `EQ_bizTransaction_type`,
//! `EQ_source_type`, `EQ_destination_type`; the sensor reports' numeric `EQ_value`, `GE_minValue`,
//! ...). A parameter that is none of these, given twice, or with a value of the wrong kind is
//! refused with what was wrong ([`QueryError`], the binding's `QueryParameterException`). Paging
//! (`perPage`, `nextPageToken`) belongs to the service and is handed back untouched
//! ([`EventQuery::paging`]).
//!
//! Identifiers are compared as the CBV 2.0 event hash compares them: an EPC URI and the GS1
//! Digital Link of the same identity are equal, and so are a CBV term's bare word, URN and Web
//! URI. `WD_readPoint` and `WD_bizLocation` take the GS1 location hierarchy: a GLN's locations
//! with an extension (`urn:epc:id:sgln:0614141.07346.1234`) are its descendants (`...07346.0`).

mod pattern;
mod schedule;

use std::fmt;

use serde_json::{Map, Value};

use crate::document::{Action, EpcRole, Event, EventKind, Timestamp};
use crate::vocab::Vocabulary;

pub use pattern::{ClassPattern, EpcPattern};
pub use schedule::{QuerySchedule, ScheduleError};

/// The most values one list parameter may hold.
pub const MAX_VALUES: usize = 256;
/// The most parameters one query may hold.
pub const MAX_PARAMETERS: usize = 64;
/// The most characters of one parameter value (a URI list of [`MAX_VALUES`] fits).
pub const MAX_VALUE_LEN: usize = 64 * 1024;

/// Why a query's parameters were refused: the parameter and what is wrong with it (the binding's
/// `QueryParameterException`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    /// The parameter, as given (cut to 200 characters).
    pub parameter: String,
    /// What is wrong.
    pub reason: String,
}

impl QueryError {
    fn new(parameter: &str, reason: impl Into<String>) -> Self {
        Self {
            parameter: parameter.chars().take(200).collect(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "query parameter {:?}: {}", self.parameter, self.reason)
    }
}

impl std::error::Error for QueryError {}

/// How results are ordered: `orderBy` and `orderDirection`.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    /// The field ordered by.
    pub by: OrderBy,
    /// `true` for `ASC`; `DESC` is the default.
    pub ascending: bool,
}

/// What `orderBy` names.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderBy {
    /// `eventTime`.
    EventTime,
    /// `recordTime`.
    RecordTime,
    /// A top-level extension field, by its expanded name (`namespace#localName`).
    Field(String),
}

/// How many events a result may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `eventCountLimit`: the first so many, in the query's order.
    First(usize),
    /// `maxEventCount`: a result of more is refused (`QueryTooLargeException`).
    AtMost(usize),
}

/// The paging parameters, left to the service.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Paging {
    /// `perPage`.
    pub per_page: Option<usize>,
    /// `nextPageToken`, as given.
    pub next_page_token: Option<String>,
}

/// A comparison of a parameter named `EQ_`, `GT_`, `GE_`, `LT_` or `LE_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compare {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl Compare {
    fn of_prefix(name: &str) -> Option<(Self, &str)> {
        [
            ("EQ_", Self::Eq),
            ("GT_", Self::Gt),
            ("GE_", Self::Ge),
            ("LT_", Self::Lt),
            ("LE_", Self::Le),
        ]
        .into_iter()
        .find_map(|(prefix, compare)| name.strip_prefix(prefix).map(|rest| (compare, rest)))
    }

    fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Eq => ordering == Equal,
            Self::Gt => ordering == Greater,
            Self::Ge => ordering != Less,
            Self::Lt => ordering == Less,
            Self::Le => ordering != Greater,
        }
    }
}

/// Where in the event a field parameter looks: the object whose members are compared, and
/// whether members nested anywhere within its extension members count (`INNER_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldScope {
    /// The object.
    pub within: Within,
    /// `INNER_`: nested members too.
    pub inner: bool,
}

/// The objects of an event whose extension members field parameters name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Within {
    /// The event itself (`EQ_<field>`).
    Event,
    /// `ilmd` (`EQ_ILMD_<field>`).
    Ilmd,
    /// `errorDeclaration` (`EQ_ERROR_DECLARATION_<field>`).
    ErrorDeclaration,
    /// Each `sensorElementList` entry (`EQ_SENSORELEMENT_<field>`).
    SensorElement,
    /// Each `sensorMetadata` (`EQ_SENSORMETADATA_<field>`).
    SensorMetadata,
    /// Each `sensorReport` entry (`EQ_SENSORREPORT_<field>`).
    SensorReport,
    /// `readPoint` (`EQ_readPoint_<field>`).
    ReadPoint,
    /// `bizLocation` (`EQ_bizLocation_<field>`).
    BizLocation,
}

/// The infixes of field parameters after `EQ_` (or `GT_`, ..., `EXISTS_`), longest first.
const SCOPES: &[(&str, Within)] = &[
    ("ERROR_DECLARATION_", Within::ErrorDeclaration),
    ("SENSORELEMENT_", Within::SensorElement),
    ("SENSORMETADATA_", Within::SensorMetadata),
    ("SENSORREPORT_", Within::SensorReport),
    ("readPoint_", Within::ReadPoint),
    ("bizLocation_", Within::BizLocation),
    ("ILMD_", Within::Ilmd),
];

/// A value a field parameter compares with.
#[derive(Debug, Clone, PartialEq)]
enum FieldValue {
    /// `EQ_`: any of these strings (or numbers, compared as numbers when both are).
    AnyOf(Vec<String>),
    /// `GT_`, `GE_`, `LT_`, `LE_`: a number or a time.
    Bound(Compare, Scalar),
    /// `EXISTS_`.
    Exists,
}

/// An ordered value: a number or a time.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Scalar {
    Number(f64),
    Time(i128),
}

impl Scalar {
    fn parse(text: &str) -> Option<Self> {
        if let Ok(time) = Timestamp::parse(text) {
            return Some(Self::Time(time.unix_nanos()));
        }
        text.parse::<f64>()
            .ok()
            .filter(|number| number.is_finite())
            .map(Self::Number)
    }

    /// How a JSON value compares with this one, if it is of the same kind.
    fn compare(self, value: &Value) -> Option<std::cmp::Ordering> {
        match self {
            Self::Number(bound) => value.as_f64()?.partial_cmp(&bound),
            Self::Time(bound) => {
                let time = Timestamp::parse(value.as_str()?).ok()?;
                Some(time.unix_nanos().cmp(&bound))
            }
        }
    }
}

/// The sensor report members a numeric parameter may name (`EQ_value`, `GE_minValue`, ...).
const SENSOR_NUMBERS: &[&str] = &[
    "value",
    "minValue",
    "maxValue",
    "meanValue",
    "sDev",
    "percRank",
    "percValue",
];

/// One condition of a query.
#[derive(Debug, Clone, PartialEq)]
enum Filter {
    EventType(Vec<String>),
    /// A time of the event (`eventTime`, `recordTime`, `errorDeclaration.declarationTime`, the
    /// sensor metadata's `startTime` and `endTime`) at or after (`GE_`) or before (`LT_`).
    Time {
        field: TimeField,
        at_or_after: bool,
        nanos: i128,
    },
    Action(Vec<Action>),
    /// A CBV-vocabulary member, the asked values canonical.
    Term {
        field: TermField,
        values: Vec<String>,
    },
    /// `readPoint` or `bizLocation`, equal or with descendants; the values canonical.
    Place {
        biz_location: bool,
        with_descendants: bool,
        values: Vec<String>,
    },
    /// Any of the listed EPCs of these roles matches one of the patterns.
    Epcs {
        roles: &'static [EpcRole],
        patterns: Vec<EpcPattern>,
    },
    /// Any quantity element of these roles has a class matching one of the patterns.
    Classes {
        roles: &'static [EpcRole],
        patterns: Vec<ClassPattern>,
    },
    /// `eventID`, `transformationID` or an error declaration's `correctiveEventIDs`: equal
    /// strings.
    Text {
        field: TextField,
        values: Vec<String>,
    },
    ErrorDeclared,
    /// A sensor report (or its element's metadata) member equal to one of the values.
    Sensor {
        member: &'static str,
        metadata: bool,
        report: bool,
        values: Vec<String>,
    },
    SensorBoolean(bool),
    /// A sensor report's numeric member compared with one of `values` (`EQ_`: any of them;
    /// otherwise one bound), of the report's unit `uom` when one is named.
    SensorNumber {
        member: &'static str,
        uom: Option<String>,
        compare: Compare,
        values: Vec<f64>,
    },
    /// A quantity element's `quantity` compared with one of `values`, of unit `uom` when one
    /// is named (`EQ_quantity_KGM`).
    Quantity {
        uom: Option<String>,
        compare: Compare,
        values: Vec<f64>,
    },
    /// An entry of `bizTransactionList` (`sourceList`, `destinationList`) of this type whose
    /// value is one of `values`.
    Typed {
        list: TypedList,
        kind: String,
        values: Vec<String>,
    },
    /// Whether the event has sensor elements.
    HasSensorElements,
    /// A named field.
    Field {
        scope: FieldScope,
        name: String,
        value: FieldValue,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeField {
    Event,
    Record,
    ErrorDeclaration,
    SensorStart,
    SensorEnd,
    /// A sensor metadata's or report's `time`.
    Sensor,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TermField {
    BizStep,
    Disposition,
    PersistentSet,
    PersistentUnset,
    ErrorReason,
}

impl TermField {
    fn vocabulary(self) -> Vocabulary {
        match self {
            Self::BizStep => Vocabulary::BizStep,
            Self::Disposition | Self::PersistentSet | Self::PersistentUnset => {
                Vocabulary::Disposition
            }
            Self::ErrorReason => Vocabulary::ErrorReason,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TypedList {
    BizTransaction,
    Source,
    Destination,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TextField {
    Event,
    Transformation,
    Corrective,
}

/// A parsed `SimpleEventQuery`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventQuery {
    filters: Vec<Filter>,
    order: Option<Order>,
    limit: Option<Limit>,
    paging: Paging,
    /// Every parameter but the paging ones, sorted: the query's identity, for page tokens.
    canonical: Vec<(String, String)>,
}

/// The roles `MATCH_epc` looks at.
const EPC_ROLES: &[EpcRole] = &[EpcRole::Object, EpcRole::Child];
const PARENT_ROLES: &[EpcRole] = &[EpcRole::Parent];
const INPUT_ROLES: &[EpcRole] = &[EpcRole::Input];
const OUTPUT_ROLES: &[EpcRole] = &[EpcRole::Output];
const ANY_ROLES: &[EpcRole] = &[
    EpcRole::Object,
    EpcRole::Parent,
    EpcRole::Child,
    EpcRole::Input,
    EpcRole::Output,
];
/// The quantity lists `MATCH_epcClass` looks at (`quantityList`, `childQuantityList`).
const CLASS_ROLES: &[EpcRole] = &[EpcRole::Object, EpcRole::Child];
const ANY_CLASS_ROLES: &[EpcRole] = &[
    EpcRole::Object,
    EpcRole::Child,
    EpcRole::Input,
    EpcRole::Output,
];

impl EventQuery {
    /// Reads a query from its parameters (names and values as decoded from the query string;
    /// list values separated by `|`). The empty query matches every event.
    pub fn parse<'a>(
        parameters: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, QueryError> {
        let mut query = Self::default();
        let mut seen: Vec<&str> = Vec::new();
        let mut event_count_limit = None;
        let mut max_event_count = None;
        let mut order_by = None;
        let mut order_direction = None;
        for (name, value) in parameters {
            if seen.len() >= MAX_PARAMETERS {
                return Err(QueryError::new(
                    name,
                    format!("a query may have at most {MAX_PARAMETERS} parameters"),
                ));
            }
            if seen.contains(&name) {
                return Err(QueryError::new(
                    name,
                    "given twice: give a list as one value separated by |",
                ));
            }
            seen.push(name);
            if value.len() > MAX_VALUE_LEN {
                return Err(QueryError::new(
                    name,
                    format!("its value is longer than {MAX_VALUE_LEN} characters"),
                ));
            }
            match name {
                "perPage" => query.paging.per_page = Some(count(name, value, 1)?),
                "nextPageToken" => query.paging.next_page_token = Some(value.to_owned()),
                "orderBy" => order_by = Some(value),
                "orderDirection" => order_direction = Some(value),
                "eventCountLimit" => event_count_limit = Some(count(name, value, 0)?),
                "maxEventCount" => max_event_count = Some(count(name, value, 0)?),
                _ => {
                    let filter = filter(name, value)?;
                    query.filters.push(filter);
                }
            }
            if name != "perPage" && name != "nextPageToken" {
                query.canonical.push((name.to_owned(), value.to_owned()));
            }
        }
        query.canonical.sort();
        query.order = match (order_by, order_direction) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(QueryError::new(
                    "orderDirection",
                    "given without orderBy: say which field to order by",
                ));
            }
            (Some(by), direction) => Some(Order {
                by: order_field(by)?,
                ascending: match direction {
                    None | Some("DESC") => false,
                    Some("ASC") => true,
                    Some(other) => {
                        return Err(QueryError::new(
                            "orderDirection",
                            format!("{other:?} is neither ASC nor DESC"),
                        ));
                    }
                },
            }),
        };
        query.limit = match (event_count_limit, max_event_count) {
            (Some(_), Some(_)) => {
                return Err(QueryError::new(
                    "eventCountLimit",
                    "eventCountLimit and maxEventCount may not both be given",
                ));
            }
            (Some(_), None) if query.order.is_none() => {
                return Err(QueryError::new(
                    "eventCountLimit",
                    "needs orderBy: the first so many events are first in some order",
                ));
            }
            (Some(first), None) => Some(Limit::First(first)),
            (None, Some(most)) => Some(Limit::AtMost(most)),
            (None, None) => None,
        };
        Ok(query)
    }

    /// Whether `event` matches every condition of the query. `record_time` is when the
    /// repository recorded it (events as stored may not carry `recordTime`).
    pub fn matches(&self, event: &Event, record_time: Option<Timestamp>) -> bool {
        self.filters
            .iter()
            .all(|filter| filter.matches(event, record_time))
    }

    /// How many values the query compares an event's EPCs, classes, list entries, sensor
    /// reports and quantities with, together (a filter without a list counts one): what
    /// matching an event costs beside reading it grows with it.
    pub fn comparisons(&self) -> usize {
        self.filters
            .iter()
            .map(|filter| match filter {
                Filter::Epcs { patterns, .. } => patterns.len(),
                Filter::Classes { patterns, .. } => patterns.len(),
                Filter::Typed { values, .. }
                | Filter::Sensor { values, .. }
                | Filter::Term { values, .. }
                | Filter::Place { values, .. }
                | Filter::Text { values, .. } => values.len(),
                Filter::SensorNumber { values, .. } | Filter::Quantity { values, .. } => {
                    values.len()
                }
                // A field is looked for through the whole event, then compared with each value.
                Filter::Field {
                    value: FieldValue::AnyOf(values),
                    ..
                } => values.len().max(1),
                _ => 1,
            })
            .sum()
    }

    /// The order asked for, if any.
    pub fn order(&self) -> Option<&Order> {
        self.order.as_ref()
    }

    /// `eventCountLimit` or `maxEventCount`, if given.
    pub fn limit(&self) -> Option<Limit> {
        self.limit
    }

    /// `perPage` and `nextPageToken`.
    pub fn paging(&self) -> &Paging {
        &self.paging
    }

    /// The query's parameters but the paging ones, sorted by name: two requests with the same
    /// are the same query, whatever order they were written in.
    pub fn canonical(&self) -> &[(String, String)] {
        &self.canonical
    }

    /// The identities every result must name (a `MATCH_` parameter of pure identities only),
    /// each in every form events may write it in: a store's index finds the candidates by
    /// them. `None` when no such parameter was given.
    pub fn identities(&self) -> Option<Identities> {
        self.filters.iter().find_map(|filter| match filter {
            Filter::Epcs { roles, patterns } => {
                let mut names = Vec::new();
                for pattern in patterns {
                    names.extend(pattern.identity_names()?);
                }
                Some(Identities {
                    names,
                    in_parent: roles.contains(&EpcRole::Parent),
                    in_lists: roles.iter().any(|role| *role != EpcRole::Parent),
                })
            }
            _ => None,
        })
    }

    /// The `eventID`s an `EQ_eventID` asks for, if the query has one: every event it answers
    /// has one of them.
    pub fn event_ids(&self) -> Option<&[String]> {
        self.filters.iter().find_map(|filter| match filter {
            Filter::Text {
                field: TextField::Event,
                values,
            } => Some(values.as_slice()),
            _ => None,
        })
    }

    /// The places every result must be at (`EQ_readPoint` or `EQ_bizLocation`, or a
    /// `WD_` of locations without descendants in the GS1 hierarchy), each as the URIs events
    /// may write it in. `None` when no such parameter was given.
    pub fn places(&self) -> Option<Vec<String>> {
        self.filters.iter().find_map(|filter| match filter {
            Filter::Place {
                with_descendants: false,
                values,
                ..
            } => Some(
                values
                    .iter()
                    .flat_map(|value| pattern::written_forms(value))
                    .collect(),
            ),
            _ => None,
        })
    }

    /// Each [`Cover`] the query's parameters give, in their order: every result has each. Empty
    /// when no parameter names what an index lists (an EPC pattern, a place with descendants,
    /// only a business step, ...).
    pub fn covers(&self) -> Vec<Cover> {
        let mut covers = Vec::new();
        for filter in &self.filters {
            match filter {
                Filter::Epcs { patterns, .. } => {
                    let exact: Option<Vec<String>> = patterns
                        .iter()
                        .map(|pattern| match pattern {
                            EpcPattern::Exact(id) => Some(id.clone()),
                            EpcPattern::Pattern { .. } => None,
                        })
                        .collect();
                    covers.extend(exact.map(Cover::Identities));
                }
                Filter::Classes { patterns, .. } => {
                    let exact: Option<Vec<String>> = patterns
                        .iter()
                        .map(|pattern| match pattern {
                            ClassPattern::Exact(class) => Some(class.clone()),
                            ClassPattern::Gtins { .. } => None,
                        })
                        .collect();
                    covers.extend(exact.map(Cover::Classes));
                }
                Filter::Place {
                    with_descendants: false,
                    values,
                    ..
                } => {
                    if let (Some(from), Some(to)) = self.event_time_range() {
                        covers.push(Cover::PlacesBetween {
                            places: values.clone(),
                            from,
                            to,
                        });
                    }
                }
                _ => {}
            }
        }
        covers
    }

    /// Whether a condition is on the record time (`GE_recordTime`, `LT_recordTime`, or
    /// `orderBy=recordTime`): when the repository recorded an event, which the event itself does
    /// not say.
    pub fn uses_record_time(&self) -> bool {
        self.filters.iter().any(|filter| {
            matches!(
                filter,
                Filter::Time {
                    field: TimeField::Record,
                    ..
                }
            )
        }) || self
            .order
            .as_ref()
            .is_some_and(|order| order.by == OrderBy::RecordTime)
    }

    /// The `eventTime` range every result lies in: `GE_eventTime` and `LT_eventTime` as Unix
    /// nanoseconds.
    pub fn event_time_range(&self) -> (Option<i128>, Option<i128>) {
        let mut range = (None, None);
        for filter in &self.filters {
            if let Filter::Time {
                field: TimeField::Event,
                at_or_after,
                nanos,
            } = filter
            {
                if *at_or_after {
                    range.0 = Some(*nanos);
                } else {
                    range.1 = Some(*nanos);
                }
            }
        }
        range
    }
}

/// What every result of a query has, of what an index over events can list: the entries an
/// index lists under these hold every result ([`EventQuery::covers`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cover {
    /// Every result names one of these identities (canonical form) in its EPC lists or as its
    /// `parentID` (`MATCH_epc`, `MATCH_parentID`, `MATCH_inputEPC`, `MATCH_outputEPC`,
    /// `MATCH_anyEPC` with no pattern among its values).
    Identities(Vec<String>),
    /// Every result has a quantity element of one of these classes (canonical form: an LGTIN's
    /// or a GTIN's Digital Link, or another URI as written) (`MATCH_epcClass`,
    /// `MATCH_inputEPCClass`, `MATCH_outputEPCClass`, `MATCH_anyEPCClass` with no pattern).
    Classes(Vec<String>),
    /// Every result was read or happened at one of these places (canonical form) with its
    /// `eventTime` in `from..to` (Unix nanoseconds) (`EQ_readPoint` or `EQ_bizLocation`, with
    /// both `GE_eventTime` and `LT_eventTime`).
    PlacesBetween {
        /// The places.
        places: Vec<String>,
        /// `GE_eventTime`.
        from: i128,
        /// `LT_eventTime`.
        to: i128,
    },
}

/// Identities a query's results must name, as [`EventQuery::identities`] gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identities {
    /// Every form of every identity.
    pub names: Vec<String>,
    /// Whether a result may name them as its `parentID`.
    pub in_parent: bool,
    /// Whether a result may name them in its EPC lists.
    pub in_lists: bool,
}

/// The order key of an event for `by`: a time in nanoseconds, a number or a string.
#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum OrderKey {
    /// The event lacks the field: ordered last, whatever the direction.
    Missing,
    Number(f64),
    Time(i128),
    Text(String),
}

impl Order {
    /// The key `event` is ordered by.
    pub fn key(&self, event: &Event, record_time: Option<Timestamp>) -> OrderKey {
        let time = |time: Option<Timestamp>| {
            time.map_or(OrderKey::Missing, |t| OrderKey::Time(t.unix_nanos()))
        };
        match &self.by {
            OrderBy::EventTime => time(event.event_time()),
            OrderBy::RecordTime => time(record_time.or_else(|| event.record_time())),
            OrderBy::Field(name) => match field_values(
                event.raw(),
                FieldScope {
                    within: Within::Event,
                    inner: false,
                },
                name,
            )
            .into_iter()
            .next()
            {
                Some(Value::Number(number)) => {
                    number.as_f64().map_or(OrderKey::Missing, OrderKey::Number)
                }
                Some(Value::String(text)) => match Timestamp::parse(text) {
                    Ok(time) => OrderKey::Time(time.unix_nanos()),
                    Err(_) => OrderKey::Text(text.clone()),
                },
                _ => OrderKey::Missing,
            },
        }
    }
}

fn count(name: &str, value: &str, least: usize) -> Result<usize, QueryError> {
    value
        .parse::<usize>()
        .ok()
        .filter(|count| *count >= least)
        .ok_or_else(|| {
            QueryError::new(
                name,
                format!("{value:?} is not a whole number of at least {least}"),
            )
        })
}

fn order_field(by: &str) -> Result<OrderBy, QueryError> {
    match by {
        "eventTime" => Ok(OrderBy::EventTime),
        "recordTime" => Ok(OrderBy::RecordTime),
        other if other.contains('#') || other.contains(':') => Ok(OrderBy::Field(other.to_owned())),
        other => Err(QueryError::new(
            "orderBy",
            format!(
                "{other:?} is not eventTime, recordTime or an extension field's namespace#localName"
            ),
        )),
    }
}

/// The `|`-separated values of a list parameter of URIs: each an absolute URI.
fn uris<'a>(name: &str, value: &'a str) -> Result<Vec<&'a str>, QueryError> {
    let values = list(name, value)?;
    match values.iter().find(|value| !pattern::is_uri(value)) {
        Some(bad) => Err(QueryError::new(
            name,
            format!("{bad:?} is not an absolute URI"),
        )),
        None => Ok(values),
    }
}

/// The `|`-separated values of a list parameter: at least one, none empty.
fn list<'a>(name: &str, value: &'a str) -> Result<Vec<&'a str>, QueryError> {
    let values: Vec<&str> = value.split('|').collect();
    if values.len() > MAX_VALUES {
        return Err(QueryError::new(
            name,
            format!("more than {MAX_VALUES} values"),
        ));
    }
    if values.iter().any(|value| value.is_empty()) {
        return Err(QueryError::new(
            name,
            "an empty value: give one or more values separated by |",
        ));
    }
    Ok(values)
}

fn time(name: &str, value: &str) -> Result<i128, QueryError> {
    Timestamp::parse(value)
        .map(Timestamp::unix_nanos)
        .map_err(|error| {
            QueryError::new(
                name,
                format!("{value:?} is not an RFC 3339 date-time with an offset ({error})"),
            )
        })
}

fn number(name: &str, value: &str) -> Result<f64, QueryError> {
    value
        .parse::<f64>()
        .ok()
        .filter(|number| number.is_finite())
        .ok_or_else(|| QueryError::new(name, format!("{value:?} is not a number")))
}

fn boolean(name: &str, value: &str) -> Result<bool, QueryError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(QueryError::new(
            name,
            format!("{other:?} is neither true nor false"),
        )),
    }
}

/// A CBV term asked for, in the form compared: a standard term's bare word, else the URI.
fn term(vocabulary: Vocabulary, value: &str) -> String {
    match vocabulary.standard_word(value) {
        Some(word) => word.to_owned(),
        None => vocabulary
            .urn_to_web_uri(value)
            .unwrap_or_else(|| value.to_owned()),
    }
}

/// A CBV term asked for, checked: a standard term (in any of its forms) or a URI (the CBV's
/// rule for other values: a URI or a CURIE, which reads as one).
fn checked_term(name: &str, vocabulary: Vocabulary, value: &str) -> Result<String, QueryError> {
    if vocabulary.is_standard(value) || pattern::is_uri(value) {
        Ok(term(vocabulary, value))
    } else {
        Err(QueryError::new(
            name,
            format!("{value:?} is neither a standard CBV term nor a URI"),
        ))
    }
}

/// An identifier in the form compared: its canonical Digital Link when it is a GS1 identifier
/// (EPC URI or Digital Link), else as written.
pub(crate) fn canonical_id(text: &str) -> String {
    crate::hash::canonical_identifier(text)
}

/// The condition of one parameter that is not about ordering, limits or paging.
fn filter(name: &str, value: &str) -> Result<Filter, QueryError> {
    let terms = |field: TermField| -> Result<Filter, QueryError> {
        let values = list(name, value)?
            .into_iter()
            .map(|value| checked_term(name, field.vocabulary(), value))
            .collect::<Result<_, _>>()?;
        Ok(Filter::Term { field, values })
    };
    let times = |field: TimeField, at_or_after: bool| -> Result<Filter, QueryError> {
        Ok(Filter::Time {
            field,
            at_or_after,
            nanos: time(name, value)?,
        })
    };
    let texts = |field: TextField| -> Result<Filter, QueryError> {
        // Event ids and corrective event ids are URIs; a transformation id is any string.
        let values = if field == TextField::Transformation {
            list(name, value)?
        } else {
            uris(name, value)?
        };
        Ok(Filter::Text {
            field,
            values: values.into_iter().map(str::to_owned).collect(),
        })
    };
    let places = |biz_location: bool, with_descendants: bool| -> Result<Filter, QueryError> {
        Ok(Filter::Place {
            biz_location,
            with_descendants,
            values: uris(name, value)?.into_iter().map(canonical_id).collect(),
        })
    };
    let epcs = |roles: &'static [EpcRole]| -> Result<Filter, QueryError> {
        let patterns = list(name, value)?
            .into_iter()
            .map(|value| EpcPattern::parse(value).map_err(|why| QueryError::new(name, why)))
            .collect::<Result<_, _>>()?;
        Ok(Filter::Epcs { roles, patterns })
    };
    let classes = |roles: &'static [EpcRole]| -> Result<Filter, QueryError> {
        let patterns = list(name, value)?
            .into_iter()
            .map(|value| ClassPattern::parse(value).map_err(|why| QueryError::new(name, why)))
            .collect::<Result<_, _>>()?;
        Ok(Filter::Classes { roles, patterns })
    };
    let sensor =
        |member: &'static str, metadata: bool, report: bool| -> Result<Filter, QueryError> {
            // Every one but `type`, `stringValue` and `hexBinaryValue` is a URI; `type` is a
            // measurement type's word or a URI.
            let values = if member == "type" {
                let values = list(name, value)?;
                if let Some(bad) = values.iter().find(|value| {
                    !Vocabulary::MeasurementType.is_standard(value) && !pattern::is_uri(value)
                }) {
                    return Err(QueryError::new(
                        name,
                        format!("{bad:?} is neither a GS1 measurement type nor a URI"),
                    ));
                }
                values
            } else if matches!(member, "stringValue" | "hexBinaryValue") {
                list(name, value)?
            } else {
                uris(name, value)?
            };
            Ok(Filter::Sensor {
                member,
                metadata,
                report,
                values: values.into_iter().map(str::to_owned).collect(),
            })
        };
    match name {
        "eventType" => {
            let types = list(name, value)?;
            for kind in &types {
                if EventKind::from_type_name(kind).is_none() && !pattern::is_uri(kind) {
                    return Err(QueryError::new(
                        name,
                        format!(
                            "{kind:?} is not ObjectEvent, AggregationEvent, TransactionEvent, TransformationEvent, AssociationEvent or an extension type's URI"
                        ),
                    ));
                }
            }
            Ok(Filter::EventType(
                types.into_iter().map(str::to_owned).collect(),
            ))
        }
        "GE_eventTime" => times(TimeField::Event, true),
        "LT_eventTime" => times(TimeField::Event, false),
        "GE_recordTime" => times(TimeField::Record, true),
        "LT_recordTime" => times(TimeField::Record, false),
        // The query schema spells these `..._errorDeclaration_Time`.
        "GE_errorDeclarationTime" | "GE_errorDeclaration_Time" => {
            times(TimeField::ErrorDeclaration, true)
        }
        "LT_errorDeclarationTime" | "LT_errorDeclaration_Time" => {
            times(TimeField::ErrorDeclaration, false)
        }
        "GE_time" => times(TimeField::Sensor, true),
        "LT_time" => times(TimeField::Sensor, false),
        "EXISTS_sensorElementList" => {
            if boolean(name, value)? {
                Ok(Filter::HasSensorElements)
            } else {
                Ok(Filter::EventType(Vec::new()))
            }
        }
        "GE_startTime" => times(TimeField::SensorStart, true),
        "LT_startTime" => times(TimeField::SensorStart, false),
        "GE_endTime" => times(TimeField::SensorEnd, true),
        "LT_endTime" => times(TimeField::SensorEnd, false),
        "EQ_action" => {
            let actions = list(name, value)?
                .into_iter()
                .map(|action| {
                    Action::parse(action).map_err(|_| {
                        QueryError::new(name, format!("{action:?} is not ADD, OBSERVE or DELETE"))
                    })
                })
                .collect::<Result<_, _>>()?;
            Ok(Filter::Action(actions))
        }
        "EQ_bizStep" => terms(TermField::BizStep),
        "EQ_disposition" => terms(TermField::Disposition),
        "EQ_persistentDisposition_set" => terms(TermField::PersistentSet),
        "EQ_persistentDisposition_unset" => terms(TermField::PersistentUnset),
        "EQ_errorReason" => terms(TermField::ErrorReason),
        "EQ_readPoint" => places(false, false),
        "WD_readPoint" => places(false, true),
        "EQ_bizLocation" => places(true, false),
        "WD_bizLocation" => places(true, true),
        "EQ_transformationID" => texts(TextField::Transformation),
        "EQ_eventID" => texts(TextField::Event),
        "EQ_correctiveEventID" => texts(TextField::Corrective),
        "MATCH_epc" => epcs(EPC_ROLES),
        "MATCH_parentID" => epcs(PARENT_ROLES),
        "MATCH_inputEPC" => epcs(INPUT_ROLES),
        "MATCH_outputEPC" => epcs(OUTPUT_ROLES),
        "MATCH_anyEPC" => epcs(ANY_ROLES),
        "MATCH_epcClass" => classes(CLASS_ROLES),
        "MATCH_inputEPCClass" => classes(INPUT_ROLES),
        "MATCH_outputEPCClass" => classes(OUTPUT_ROLES),
        "MATCH_anyEPCClass" => classes(ANY_CLASS_ROLES),
        "EXISTS_errorDeclaration" => {
            // `false` asks for nothing: events are returned whether or not they declare.
            if boolean(name, value)? {
                Ok(Filter::ErrorDeclared)
            } else {
                Ok(Filter::EventType(Vec::new()))
            }
        }
        "EQ_type" => sensor("type", false, true),
        "EQ_deviceID" => sensor("deviceID", true, true),
        "EQ_dataProcessingMethod" => sensor("dataProcessingMethod", true, true),
        "EQ_microorganism" => sensor("microorganism", false, true),
        "EQ_chemicalSubstance" => sensor("chemicalSubstance", false, true),
        "EQ_bizRules" => sensor("bizRules", true, false),
        "EQ_stringValue" => sensor("stringValue", false, true),
        "EQ_hexBinaryValue" => sensor("hexBinaryValue", false, true),
        "EQ_uriValue" => sensor("uriValue", false, true),
        "EQ_booleanValue" => Ok(Filter::SensorBoolean(boolean(name, value)?)),
        _ => {
            for (prefix, list_kind) in [
                ("EQ_bizTransaction_", TypedList::BizTransaction),
                ("EQ_source_", TypedList::Source),
                ("EQ_destination_", TypedList::Destination),
            ] {
                if let Some(kind) = name.strip_prefix(prefix) {
                    return typed(name, value, list_kind, kind);
                }
            }
            if let Some(field) = name.strip_prefix("EXISTS_") {
                let (scope, field) = field_name(name, field)?;
                if !boolean(name, value)? {
                    return Ok(Filter::EventType(Vec::new()));
                }
                return Ok(Filter::Field {
                    scope,
                    name: field,
                    value: FieldValue::Exists,
                });
            }
            let Some((compare, rest)) = Compare::of_prefix(name) else {
                return Err(unknown(name));
            };
            let numbers = || -> Result<Vec<f64>, QueryError> {
                if compare == Compare::Eq {
                    list(name, value)?
                        .into_iter()
                        .map(|value| number(name, value))
                        .collect()
                } else {
                    Ok(vec![number(name, value)?])
                }
            };
            if let Some((_, uom)) = measured(rest, "quantity") {
                return Ok(Filter::Quantity {
                    uom,
                    compare,
                    values: numbers()?,
                });
            }
            if let Some((member, uom)) = SENSOR_NUMBERS
                .iter()
                .find_map(|member| measured(rest, member))
            {
                return Ok(Filter::SensorNumber {
                    member,
                    uom,
                    compare,
                    values: numbers()?,
                });
            }
            let (scope, field) = field_name(name, rest)?;
            let value = match compare {
                Compare::Eq => {
                    FieldValue::AnyOf(list(name, value)?.into_iter().map(str::to_owned).collect())
                }
                bound => FieldValue::Bound(
                    bound,
                    Scalar::parse(value).ok_or_else(|| {
                        QueryError::new(
                            name,
                            format!("{value:?} is neither a number nor an RFC 3339 date-time"),
                        )
                    })?,
                ),
            };
            Ok(Filter::Field {
                scope,
                name: field,
                value,
            })
        }
    }
}

/// `rest` as a measured member's parameter: `member` alone, or `member_<uom>` with a UN/CEFACT
/// unit code (2 to 4 upper-case letters or digits).
fn measured<'m>(rest: &str, member: &'m str) -> Option<(&'m str, Option<String>)> {
    let tail = rest.strip_prefix(member)?;
    if tail.is_empty() {
        return Some((member, None));
    }
    let uom = tail.strip_prefix('_')?;
    ((2..=4).contains(&uom.len())
        && uom
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()))
    .then(|| (member, Some(uom.to_owned())))
}

fn unknown(name: &str) -> QueryError {
    QueryError::new(
        name,
        "not a parameter of the SimpleEventQuery: see the EPCIS 2.0 query parameters (an extension field is named EQ_<namespace>#<localName>)",
    )
}

/// `EQ_bizTransaction_<type>`, `EQ_source_<type>`, `EQ_destination_<type>`: an entry of that
/// type (a CBV word, or a URI written with its characters) whose value is one of the values.
fn typed(name: &str, value: &str, list_kind: TypedList, kind: &str) -> Result<Filter, QueryError> {
    if kind.is_empty() {
        return Err(QueryError::new(
            name,
            "names no type: write the type after the underscore (EQ_bizTransaction_po)",
        ));
    }
    let vocabulary = match list_kind {
        TypedList::BizTransaction => Vocabulary::BizTransactionType,
        TypedList::Source | TypedList::Destination => Vocabulary::SourceDestinationType,
    };
    if !vocabulary.is_standard(kind) && !pattern::is_uri(kind) {
        return Err(unknown(name));
    }
    Ok(Filter::Typed {
        list: list_kind,
        kind: term(vocabulary, kind),
        values: list(name, value)?.into_iter().map(canonical_id).collect(),
    })
}

/// The scope and name of a field parameter's field: `namespace#localName` (as the standard
/// writes it) or a CURIE `prefix:localName` (as the query schema does), after the scope's
/// infixes (`INNER_`, `ILMD_`, ...).
fn field_name(name: &str, rest: &str) -> Result<(FieldScope, String), QueryError> {
    let (inner, rest) = match rest.strip_prefix("INNER_") {
        Some(rest) => (true, rest),
        None => (false, rest),
    };
    let (within, field) = SCOPES
        .iter()
        .find_map(|(infix, within)| rest.strip_prefix(infix).map(|field| (*within, field)))
        .unwrap_or((Within::Event, rest));
    let named = match field.split_once('#') {
        Some((namespace, local)) => !namespace.is_empty() && !local.is_empty(),
        None => field
            .split_once(':')
            .is_some_and(|(prefix, local)| !prefix.is_empty() && !local.is_empty()),
    };
    if !named {
        return Err(unknown(name));
    }
    Ok((FieldScope { within, inner }, field.to_owned()))
}

impl Filter {
    fn matches(&self, event: &Event, record_time: Option<Timestamp>) -> bool {
        match self {
            Self::EventType(types) => {
                types.is_empty() || types.iter().any(|kind| kind == event.type_name())
            }
            Self::Time {
                field,
                at_or_after,
                nanos,
            } => {
                let times: Vec<Timestamp> = match field {
                    TimeField::Event => event.event_time().into_iter().collect(),
                    TimeField::Record => record_time
                        .or_else(|| event.record_time())
                        .into_iter()
                        .collect(),
                    TimeField::ErrorDeclaration => event
                        .error_declaration()
                        .and_then(|declaration| declaration.declaration_time())
                        .into_iter()
                        .collect(),
                    TimeField::SensorStart => event
                        .sensor_elements()
                        .filter_map(|element| element.metadata()?.start_time())
                        .collect(),
                    TimeField::SensorEnd => event
                        .sensor_elements()
                        .filter_map(|element| element.metadata()?.end_time())
                        .collect(),
                    TimeField::Sensor => event
                        .sensor_elements()
                        .flat_map(|element| {
                            let reports: Vec<Timestamp> = element
                                .reports()
                                .filter_map(|report| report.time())
                                .collect();
                            element
                                .metadata()
                                .and_then(|metadata| metadata.time())
                                .into_iter()
                                .chain(reports)
                        })
                        .collect(),
                };
                times.iter().any(|time| {
                    let at = time.unix_nanos();
                    if *at_or_after {
                        at >= *nanos
                    } else {
                        at < *nanos
                    }
                })
            }
            Self::Action(actions) => event
                .action()
                .is_some_and(|action| actions.contains(&action)),
            Self::Term { field, values } => {
                let vocabulary = field.vocabulary();
                let has = |written: &str| values.contains(&term(vocabulary, written));
                match field {
                    TermField::BizStep => event.biz_step().is_some_and(has),
                    TermField::Disposition => event.disposition().is_some_and(has),
                    TermField::PersistentSet => event
                        .persistent_disposition()
                        .is_some_and(|pd| pd.set().any(has)),
                    TermField::PersistentUnset => event
                        .persistent_disposition()
                        .is_some_and(|pd| pd.unset().any(has)),
                    TermField::ErrorReason => event
                        .error_declaration()
                        .and_then(|declaration| declaration.reason())
                        .is_some_and(has),
                }
            }
            Self::Place {
                biz_location,
                with_descendants,
                values,
            } => {
                let place = if *biz_location {
                    event.biz_location()
                } else {
                    event.read_point()
                };
                place.is_some_and(|place| {
                    let place = canonical_id(place);
                    values.iter().any(|value| {
                        *value == place
                            || (*with_descendants && pattern::descends_from(&place, value))
                    })
                })
            }
            Self::Epcs { roles, patterns } => event.epcs().any(|(role, epc)| {
                if !roles.contains(&role) {
                    return false;
                }
                // Canonical once for every exact value (up to 256 of them), not once each.
                let canonical = std::cell::OnceCell::new();
                patterns.iter().any(|pattern| match pattern {
                    EpcPattern::Exact(wanted) => {
                        *canonical.get_or_init(|| canonical_id(epc)) == *wanted
                    }
                    EpcPattern::Pattern { .. } => pattern.matches(epc),
                })
            }),
            Self::Classes { roles, patterns } => event.quantities().any(|(role, element)| {
                roles.contains(&role)
                    && element
                        .epc_class()
                        .is_some_and(|class| patterns.iter().any(|pattern| pattern.matches(class)))
            }),
            Self::Quantity {
                uom,
                compare,
                values,
            } => event.quantities().any(|(_, element)| {
                uom.as_deref().is_none_or(|uom| element.uom() == Some(uom))
                    && element
                        .quantity()
                        .is_some_and(|quantity| compared(quantity, *compare, values))
            }),
            Self::Typed { list, kind, values } => {
                let vocabulary = match list {
                    TypedList::BizTransaction => Vocabulary::BizTransactionType,
                    TypedList::Source | TypedList::Destination => Vocabulary::SourceDestinationType,
                };
                let fits = |written_kind: Option<&str>, id: Option<&str>| {
                    written_kind.is_some_and(|written| term(vocabulary, written) == *kind)
                        && id.is_some_and(|id| values.contains(&canonical_id(id)))
                };
                match list {
                    TypedList::BizTransaction => event
                        .biz_transactions()
                        .any(|entry| fits(entry.transaction_type(), entry.id())),
                    TypedList::Source => event
                        .sources()
                        .any(|entry| fits(entry.party_type(), entry.id())),
                    TypedList::Destination => event
                        .destinations()
                        .any(|entry| fits(entry.party_type(), entry.id())),
                }
            }
            Self::HasSensorElements => event.sensor_elements().next().is_some(),
            Self::Text { field, values } => {
                let has = |text: &str| values.iter().any(|value| value == text);
                match field {
                    TextField::Event => event.event_id().is_some_and(has),
                    TextField::Transformation => event.transformation_id().is_some_and(has),
                    TextField::Corrective => event
                        .error_declaration()
                        .is_some_and(|declaration| declaration.corrective_event_ids().any(has)),
                }
            }
            Self::ErrorDeclared => event.error_declaration().is_some(),
            Self::Sensor {
                member,
                metadata,
                report,
                values,
            } => event.sensor_elements().any(|element| {
                let has = |object: &Map<String, Value>| {
                    object
                        .get(*member)
                        .and_then(Value::as_str)
                        .is_some_and(|text| values.iter().any(|value| value == text))
                };
                (*metadata && element.metadata().is_some_and(|m| has(m.raw())))
                    || (*report && element.reports().any(|r| has(r.raw())))
            }),
            Self::SensorBoolean(wanted) => event.sensor_elements().any(|element| {
                element
                    .reports()
                    .any(|report| report.raw().get("booleanValue") == Some(&Value::Bool(*wanted)))
            }),
            Self::SensorNumber {
                member,
                uom,
                compare,
                values,
            } => event.sensor_elements().any(|element| {
                element.reports().any(|report| {
                    let raw = report.raw();
                    uom.as_deref()
                        .is_none_or(|uom| raw.get("uom").and_then(Value::as_str) == Some(uom))
                        && raw
                            .get(*member)
                            .and_then(Value::as_f64)
                            .is_some_and(|number| compared(number, *compare, values))
                })
            }),
            Self::Field { scope, name, value } => {
                let found = field_values(event.raw(), *scope, name);
                match value {
                    FieldValue::Exists => !found.is_empty(),
                    FieldValue::AnyOf(values) => found
                        .iter()
                        .any(|found| values.iter().any(|value| equal_value(found, value))),
                    FieldValue::Bound(compare, bound) => found.iter().any(|found| {
                        bound
                            .compare(found)
                            .is_some_and(|ordering| compare.holds(ordering))
                    }),
                }
            }
        }
    }
}

/// Whether `number` compares with one of `values` as asked (`EQ_`: equals any; otherwise with
/// the one bound).
fn compared(number: f64, compare: Compare, values: &[f64]) -> bool {
    values.iter().any(|value| {
        number
            .partial_cmp(value)
            .is_some_and(|ordering| compare.holds(ordering))
    })
}

/// Whether a JSON value equals a parameter value: the same string, or the same number.
fn equal_value(found: &Value, value: &str) -> bool {
    match found {
        Value::String(text) => text == value,
        Value::Number(number) => number
            .as_f64()
            .zip(value.parse::<f64>().ok())
            .is_some_and(|(a, b)| a == b),
        Value::Bool(flag) => value == if *flag { "true" } else { "false" },
        _ => false,
    }
}

/// The values of the field `name` (`namespace#localName` or `prefix:localName`) in `scope` of
/// an event (its JSON object), member names expanded through the event's `@context`.
fn field_values<'a>(
    event: &'a Map<String, Value>,
    scope: FieldScope,
    name: &str,
) -> Vec<&'a Value> {
    let prefixes = context_prefixes(event);
    let wanted = expand(name, &prefixes).unwrap_or_else(|| name.to_owned());
    let names = |member: &str| {
        member == name || expand(member, &prefixes).is_some_and(|expanded| expanded == wanted)
    };
    let object = |member: &str| event.get(member).and_then(Value::as_object);
    let sensor_elements = || {
        event
            .get("sensorElementList")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
    };
    let objects: Vec<&Map<String, Value>> = match scope.within {
        Within::Event => vec![event],
        Within::Ilmd => object("ilmd").into_iter().collect(),
        Within::ErrorDeclaration => object("errorDeclaration").into_iter().collect(),
        Within::ReadPoint => object("readPoint").into_iter().collect(),
        Within::BizLocation => object("bizLocation").into_iter().collect(),
        Within::SensorElement => sensor_elements().collect(),
        Within::SensorMetadata => sensor_elements()
            .filter_map(|element| element.get("sensorMetadata").and_then(Value::as_object))
            .collect(),
        Within::SensorReport => sensor_elements()
            .filter_map(|element| element.get("sensorReport").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_object)
            .collect(),
    };
    let mut found = Vec::new();
    for object in objects {
        for (member, value) in object {
            // Only extension members (a prefix or an absolute URI) are fields of these
            // parameters.
            if !member.contains(':') || member == "@context" {
                continue;
            }
            if scope.inner {
                collect_nested(value, &names, &mut found, 0);
            } else if names(member) {
                found.push(value);
            }
        }
    }
    found
}

/// The deepest nesting searched by `INNER_` parameters.
const MAX_DEPTH: usize = 32;

fn collect_nested<'a>(
    value: &'a Value,
    expands: &dyn Fn(&str) -> bool,
    found: &mut Vec<&'a Value>,
    depth: usize,
) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(object) => {
            for (member, value) in object {
                if expands(member) {
                    found.push(value);
                }
                collect_nested(value, expands, found, depth + 1);
            }
        }
        Value::Array(values) => {
            for value in values {
                collect_nested(value, expands, found, depth + 1);
            }
        }
        _ => {}
    }
}

/// The namespace prefixes an event's `@context` defines (string values of its objects).
fn context_prefixes(event: &Map<String, Value>) -> Vec<(&str, &str)> {
    let objects: Vec<&Map<String, Value>> = match event.get("@context") {
        Some(Value::Object(object)) => vec![object],
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_object).collect(),
        _ => Vec::new(),
    };
    objects
        .into_iter()
        .flatten()
        .filter_map(|(prefix, namespace)| Some((prefix.as_str(), namespace.as_str()?)))
        .collect()
}

/// A member name (or a field parameter's name) expanded to `namespace#local`: `prefix:local`
/// through the event's context, `namespace#local` as it is, and another absolute IRI split at
/// its last `/`. The namespace is written without a trailing `#`, so that
/// `http://ns.example.com/epcis/#myField` and `example:myField` with `example` bound to
/// `http://ns.example.com/epcis/` are the same field.
fn expand(member: &str, prefixes: &[(&str, &str)]) -> Option<String> {
    let (prefix, local) = member.split_once(':')?;
    if let Some((_, namespace)) = prefixes.iter().find(|(name, _)| *name == prefix) {
        let namespace = namespace.trim_end_matches('#');
        return Some(format!("{namespace}#{local}"));
    }
    // An absolute IRI: its last `#` (or `/`) separates namespace and local name.
    let split = member.rfind('#').or_else(|| member.rfind('/'))?;
    let (namespace, local) = member.split_at(split);
    let local = local.trim_start_matches(['#', '/']);
    Some(format!("{}#{local}", namespace.trim_end_matches('#')))
}

#[cfg(test)]
mod tests;
