//! Borrowing iterators over list members of an event's JSON object.

use std::slice;

use serde_json::{Map, Value};

use crate::json::{Json, Node};

/// The strings of a JSON list member (`epcList`, `childEPCs`, `set`, ...), in order. Elements
/// that are not strings are skipped; an absent or non-list member yields nothing.
#[derive(Debug, Clone)]
pub struct Strings<'a> {
    single: Option<&'a str>,
    items: Items<'a>,
}

/// The list a [`Strings`] walks: from a `serde_json::Value` or from the parsed event itself.
#[derive(Debug, Clone)]
enum Items<'a> {
    Values(slice::Iter<'a, Value>),
    Nodes(slice::Iter<'a, Node>),
}

impl<'a> Strings<'a> {
    pub(crate) fn of(member: Option<&'a Value>) -> Self {
        let items: &'a [Value] = match member {
            Some(Value::Array(items)) => items,
            _ => &[],
        };
        Self {
            single: None,
            items: Items::Values(items.iter()),
        }
    }

    /// The strings of a list member of a parsed event (no `serde_json::Value` built).
    pub(crate) fn of_node(member: Option<&'a Node>) -> Self {
        let items: &'a [Node] = member.and_then(Json::as_array).unwrap_or_default();
        Self {
            single: None,
            items: Items::Nodes(items.iter()),
        }
    }

    pub(crate) fn one(single: &'a str) -> Self {
        Self {
            single: Some(single),
            items: Items::Values([].iter()),
        }
    }
}

impl<'a> Iterator for Strings<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        if let Some(single) = self.single.take() {
            return Some(single);
        }
        match &mut self.items {
            Items::Values(items) => items.by_ref().find_map(Value::as_str),
            Items::Nodes(items) => items.by_ref().find_map(Json::as_str),
        }
    }
}

/// Typed views of the objects in a JSON list member (`quantityList`, `sensorElementList`, ...),
/// in order. Elements that are not objects are skipped.
#[derive(Debug, Clone)]
pub struct Objects<'a, T> {
    items: slice::Iter<'a, Value>,
    view: fn(&'a Map<String, Value>) -> T,
}

impl<'a, T> Objects<'a, T> {
    pub(crate) fn of(member: Option<&'a Value>, view: fn(&'a Map<String, Value>) -> T) -> Self {
        let items: &'a [Value] = match member {
            Some(Value::Array(items)) => items,
            _ => &[],
        };
        Self {
            items: items.iter(),
            view,
        }
    }
}

impl<'a, T> Iterator for Objects<'a, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let view = self.view;
        self.items
            .by_ref()
            .find_map(|item| item.as_object().map(view))
    }
}
