//! [`Node`]: an owned JSON value whose objects are ordered member lists.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde_json::{Map, Number, Value};

/// A member name: the standard EPCIS names are not allocated.
pub(super) type Key = Cow<'static, str>;

/// A string value: the standard words of EPCIS (event types, actions, CBV bare words) are not
/// allocated.
pub(crate) type Text = Cow<'static, str>;

/// An owned JSON value. It reads and serialises exactly like `serde_json::Value` with the
/// `preserve_order` feature (numbers are `serde_json::Number`s, a repeated member name keeps its
/// first position and its last value), without the cost of a hash index per object.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Number(Number),
    String(Text),
    Array(Vec<Node>),
    Object(Object),
}

/// A JSON object: its members in document order, each name once.
#[derive(Debug, Clone, Default)]
pub(crate) struct Object {
    members: Vec<(Key, Node)>,
}

/// Objects up to this many members find a repeated name by scanning; larger ones build an index.
const SCAN_LIMIT: usize = 32;

impl Node {
    /// A copy of the value as a `serde_json::Value`.
    pub(crate) fn to_value(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(flag) => Value::Bool(*flag),
            Node::Number(number) => Value::Number(number.clone()),
            Node::String(text) => Value::String(text.as_ref().to_owned()),
            Node::Array(items) => Value::Array(items.iter().map(Node::to_value).collect()),
            Node::Object(object) => Value::Object(object.to_map()),
        }
    }

    /// The value as a `serde_json::Value`, moving its strings.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(flag) => Value::Bool(flag),
            Node::Number(number) => Value::Number(number),
            Node::String(text) => Value::String(text.into_owned()),
            Node::Array(items) => Value::Array(items.into_iter().map(Node::into_value).collect()),
            Node::Object(object) => Value::Object(object.into_map()),
        }
    }

    /// Takes a `serde_json::Value` over, moving its strings.
    pub(crate) fn from_value(value: Value) -> Self {
        match value {
            Value::Null => Node::Null,
            Value::Bool(flag) => Node::Bool(flag),
            Value::Number(number) => Node::Number(number),
            Value::String(text) => Node::String(Cow::Owned(text)),
            Value::Array(items) => Node::Array(items.into_iter().map(Node::from_value).collect()),
            Value::Object(map) => Node::Object(Object::from_map(map)),
        }
    }
}

impl Object {
    /// An object of `members`, each name once, in document order.
    pub(super) fn from_members(members: Vec<(Key, Node)>) -> Self {
        Self { members }
    }

    /// The members, in document order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.members
            .iter()
            .map(|(key, value)| (key.as_ref(), value))
    }

    /// The value of member `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.members
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// The value of member `key`, to change it.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut Node> {
        self.members
            .iter_mut()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value)
    }

    /// The number of members.
    pub(crate) fn len(&self) -> usize {
        self.members.len()
    }

    /// A copy of the object as a `serde_json::Map`, members in the same order.
    pub(crate) fn to_map(&self) -> Map<String, Value> {
        let mut map = Map::with_capacity(self.members.len());
        for (key, value) in &self.members {
            map.insert(key.as_ref().to_owned(), value.to_value());
        }
        map
    }

    /// The object as a `serde_json::Map`, moving its strings.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        let mut map = Map::with_capacity(self.members.len());
        for (key, value) in self.members {
            map.insert(key.into_owned(), value.into_value());
        }
        map
    }

    /// Takes a `serde_json::Map` over, moving its strings.
    pub(crate) fn from_map(map: Map<String, Value>) -> Self {
        Self {
            members: map
                .into_iter()
                .map(|(key, value)| (Cow::Owned(key), Node::from_value(value)))
                .collect(),
        }
    }
}

/// Adds a member to the object being read, whose members so far are `members[start..]`: a
/// repeated name keeps its place and takes the last value, as in `serde_json::Map`. `index`
/// starts empty and is built once the object outgrows `SCAN_LIMIT`, so that a hostile input
/// with many members cannot make reading quadratic.
pub(super) fn insert_member(
    members: &mut Vec<(Key, Node)>,
    start: usize,
    index: &mut HashMap<Key, usize>,
    key: Key,
    value: Node,
) {
    let own = &mut members[start..];
    let existing = if own.len() <= SCAN_LIMIT {
        own.iter().position(|(name, _)| *name == key)
    } else {
        if index.is_empty() {
            index.extend(
                own.iter()
                    .enumerate()
                    .map(|(at, (name, _))| (name.clone(), at)),
            );
        }
        index.get(&key).copied()
    };
    match existing {
        Some(at) => own[at].1 = value,
        None => {
            if !index.is_empty() {
                index.insert(key.clone(), own.len());
            }
            members.push((key, value));
        }
    }
}

/// Equal when both have the same members with equal values, in any order (as `serde_json::Map`
/// compares).
impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .iter()
                .all(|(key, value)| other.get(key).is_some_and(|theirs| theirs == value))
    }
}

/// Reads JSON text into a [`Node`], with serde_json's syntax rules and error messages.
///
/// Valid JSON is valid UTF-8 throughout (outside strings it is ASCII), so the input is checked
/// once as a whole, then read by the direct reader of [`super::read`]; what that reader leaves
/// alone (errors included) serde_json reads, so values and errors are serde_json's own.
pub(crate) fn parse(bytes: &[u8]) -> Result<Node, serde_json::Error> {
    match std::str::from_utf8(bytes) {
        Ok(text) => match super::read::read(text) {
            Some(node) => Ok(node),
            None => serde_json::from_str(text),
        },
        Err(_) => serde_json::from_slice(bytes),
    }
}

impl<'de> de::Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        NodeSeed {
            scratch: &mut Scratch::default(),
        }
        .deserialize(deserializer)
    }
}

/// Elements and members of the containers being read, innermost last: each container collects
/// its entries at the end of these stacks and moves them into a vector of exactly the right
/// size when it closes, so that no vector grows while it is filled.
#[derive(Default)]
struct Scratch {
    items: Vec<Node>,
    members: Vec<(Key, Node)>,
}

/// Reads one value, collecting container entries in `scratch`.
struct NodeSeed<'s> {
    scratch: &'s mut Scratch,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_bool<E: de::Error>(self, flag: bool) -> Result<Node, E> {
        Ok(Node::Bool(flag))
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Node, E> {
        Ok(Node::Number(number.into()))
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Node, E> {
        Ok(Node::Number(number.into()))
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Node, E> {
        // As `serde_json::Value` does: JSON text never holds a non-finite number.
        Ok(Number::from_f64(number).map_or(Node::Null, Node::Number))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Node, E> {
        Ok(Node::String(Cow::Owned(text.to_owned())))
    }

    fn visit_string<E: de::Error>(self, text: String) -> Result<Node, E> {
        Ok(Node::String(Cow::Owned(text)))
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        self.deserialize(deserializer)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let scratch = self.scratch;
        let start = scratch.items.len();
        while let Some(item) = seq.next_element_seed(NodeSeed {
            scratch: &mut *scratch,
        })? {
            scratch.items.push(item);
        }
        Ok(Node::Array(scratch.items.drain(start..).collect()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Node, A::Error> {
        let scratch = self.scratch;
        let start = scratch.members.len();
        let mut index = HashMap::new();
        while let Some(key) = access.next_key_seed(KeySeed)? {
            let value = access.next_value_seed(NodeSeed {
                scratch: &mut *scratch,
            })?;
            insert_member(&mut scratch.members, start, &mut index, key, value);
        }
        Ok(Node::Object(Object {
            members: scratch.members.drain(start..).collect(),
        }))
    }
}

/// Reads a member name, without allocating the standard ones.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Key;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Key, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl Visitor<'_> for KeySeed {
    type Value = Key;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a member name")
    }

    fn visit_str<E: de::Error>(self, key: &str) -> Result<Key, E> {
        Ok(match standard_name(key) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(key.to_owned()),
        })
    }

    fn visit_string<E: de::Error>(self, key: String) -> Result<Key, E> {
        Ok(match standard_name(&key) {
            Some(name) => Cow::Borrowed(name),
            None => Cow::Owned(key),
        })
    }
}

/// The static copy of `key` if it is a member name of the EPCIS event schema.
pub(super) fn standard_name(key: &str) -> Option<&'static str> {
    let candidates: &[&'static str] = match key.len() {
        2 => &["id"],
        3 => &["set", "uom"],
        4 => &["ilmd", "time", "type"],
        5 => &["unset", "value"],
        6 => &["action", "reason", "source"],
        7 => &["bizStep", "endTime", "epcList", "eventID", "rawData"],
        8 => &[
            "@context", "bizRules", "deviceID", "epcClass", "parentID", "quantity",
        ],
        9 => &["childEPCs", "eventTime", "readPoint", "startTime"],
        10 => &["recordTime", "sourceList"],
        11 => &["bizLocation", "destination", "disposition"],
        12 => &["inputEPCList", "quantityList", "sensorReport"],
        13 => &["outputEPCList"],
        14 => &["bizTransaction", "deviceMetadata", "sensorMetadata"],
        15 => &["declarationTime", "destinationList"],
        16 => &["errorDeclaration", "transformationID"],
        17 => &[
            "certificationInfo",
            "childQuantityList",
            "inputQuantityList",
            "sensorElementList",
        ],
        18 => &[
            "bizTransactionList",
            "correctiveEventIDs",
            "outputQuantityList",
        ],
        19 => &["eventTimeZoneOffset"],
        20 => &["dataProcessingMethod"],
        21 => &["persistentDisposition"],
        _ => &[],
    };
    candidates.iter().copied().find(|name| *name == key)
}

impl serde::Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Null => serializer.serialize_unit(),
            Node::Bool(flag) => serializer.serialize_bool(*flag),
            Node::Number(number) => number.serialize(serializer),
            Node::String(text) => serializer.serialize_str(text),
            Node::Array(items) => serializer.collect_seq(items),
            Node::Object(object) => object.serialize(serializer),
        }
    }
}

impl serde::Serialize for Object {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.members.len()))?;
        for (key, value) in &self.members {
            map.serialize_entry(key.as_ref(), value)?;
        }
        map.end()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use super::*;

    const SAMPLES: &[&str] = &[
        r#"{"b":1,"a":[true,false,null,-0,1.5e3,18446744073709551615,-9223372036854775808],"c":{}}"#,
        r#"{"type":"x","esc\"aped":"line\nbreak \u00e9 \ud83d\ude00","type":"last wins","z":0.1}"#,
        r#"[1e300, 123456789012345678901234567890, -1.0, 2.5e-10, "", {"id":[]}]"#,
    ];

    #[test]
    fn a_node_serialises_like_a_serde_json_value() {
        for sample in SAMPLES {
            let node: Node = serde_json::from_str(sample).unwrap();
            let value: Value = serde_json::from_str(sample).unwrap();
            assert_eq!(
                serde_json::to_string(&node).unwrap(),
                serde_json::to_string(&value).unwrap()
            );
            assert_eq!(node.to_value(), value);
            assert_eq!(node.clone().into_value(), value);
            assert_eq!(Node::from_value(value), node);
        }
    }

    #[test]
    fn a_repeated_member_keeps_its_place_and_takes_the_last_value() {
        let mut text = String::from("{");
        for n in 0..100 {
            text.push_str(&format!("\"k{n}\":{n},"));
        }
        text.push_str("\"k3\":\"again\",\"k70\":\"again\"}");
        let node: Node = serde_json::from_str(&text).unwrap();
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            serde_json::to_string(&node).unwrap(),
            serde_json::to_string(&value).unwrap()
        );
        let Node::Object(object) = node else {
            panic!("an object")
        };
        assert_eq!(object.len(), 100);
        assert_eq!(object.get("k70"), Some(&Node::String("again".into())));
    }

    #[test]
    fn objects_compare_regardless_of_member_order() {
        let one: Node = serde_json::from_str(r#"{"a":1,"b":[2]}"#).unwrap();
        let other: Node = serde_json::from_str(r#"{"b":[2],"a":1}"#).unwrap();
        let different: Node = serde_json::from_str(r#"{"b":[2],"a":2}"#).unwrap();
        assert_eq!(one, other);
        assert_ne!(one, different);
    }

    #[test]
    fn what_serde_json_rejects_is_rejected() {
        for bad in [
            "{\"a\":}",
            "[1,]",
            "\"\\ud800\"",
            "01",
            "{\"a\":1}x",
            "\"\u{1}\"",
            "1e400",
        ] {
            assert!(
                serde_json::from_str::<Node>(bad).is_err(),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn standard_names_are_recognised_only_exactly() {
        assert_eq!(standard_name("epcList"), Some("epcList"));
        assert_eq!(standard_name("epcLists"), None);
        assert_eq!(standard_name("example:portal"), None);
    }
}
