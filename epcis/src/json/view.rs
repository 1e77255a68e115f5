//! The read-only view that validation and hashing use, for `serde_json::Value` and [`Node`].

use serde_json::{Map, Number, Value};

use super::node::{Node, Object};

/// One JSON value seen through [`Json::view`].
#[derive(Debug)]
pub(crate) enum View<'a, J: Json> {
    Null,
    Bool(bool),
    Number(&'a Number),
    String(&'a str),
    Array(&'a [J]),
    Object(&'a J::Object),
}

/// A JSON value that can be read member by member.
pub(crate) trait Json: Sized + PartialEq {
    /// The object type of this representation.
    type Object: JsonObject<Value = Self>;

    /// What the value is.
    fn view(&self) -> View<'_, Self>;

    /// The string, if the value is one.
    fn as_str(&self) -> Option<&str> {
        match self.view() {
            View::String(text) => Some(text),
            _ => None,
        }
    }

    /// The elements, if the value is an array.
    fn as_array(&self) -> Option<&[Self]> {
        match self.view() {
            View::Array(items) => Some(items),
            _ => None,
        }
    }

    /// Whether the value is `null`.
    fn is_null(&self) -> bool {
        matches!(self.view(), View::Null)
    }

    /// The value as a `serde_json::Value` (a copy), for the few rare paths that need one.
    fn to_value(&self) -> Value;
}

/// A JSON object: members in document order.
pub(crate) trait JsonObject {
    /// The value type of this representation.
    type Value: Json<Object = Self>;

    /// The members, in document order.
    fn members(&self) -> impl Iterator<Item = (&str, &Self::Value)>;

    /// The value of member `key`.
    fn get(&self, key: &str) -> Option<&Self::Value>;

    /// The number of members.
    fn len(&self) -> usize;

    /// Whether the object has a member `key`.
    fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

impl Json for Value {
    type Object = Map<String, Value>;

    fn view(&self) -> View<'_, Self> {
        match self {
            Value::Null => View::Null,
            Value::Bool(flag) => View::Bool(*flag),
            Value::Number(number) => View::Number(number),
            Value::String(text) => View::String(text),
            Value::Array(items) => View::Array(items),
            Value::Object(object) => View::Object(object),
        }
    }

    fn to_value(&self) -> Value {
        self.clone()
    }
}

impl JsonObject for Map<String, Value> {
    type Value = Value;

    fn members(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.iter().map(|(key, value)| (key.as_str(), value))
    }

    fn get(&self, key: &str) -> Option<&Value> {
        Map::get(self, key)
    }

    fn len(&self) -> usize {
        Map::len(self)
    }
}

impl Json for Node {
    type Object = Object;

    fn view(&self) -> View<'_, Self> {
        match self {
            Node::Null => View::Null,
            Node::Bool(flag) => View::Bool(*flag),
            Node::Number(number) => View::Number(number),
            Node::String(text) => View::String(text),
            Node::Array(items) => View::Array(items),
            Node::Object(object) => View::Object(object),
        }
    }

    fn to_value(&self) -> Value {
        Node::to_value(self)
    }
}

impl JsonObject for Object {
    type Value = Node;

    fn members(&self) -> impl Iterator<Item = (&str, &Node)> {
        self.iter()
    }

    fn get(&self, key: &str) -> Option<&Node> {
        Object::get(self, key)
    }

    fn len(&self) -> usize {
        Object::len(self)
    }
}
