//! Sealed values in an event's JSON: sealing the fields a capturer names, and finding every
//! sealed value of an event.

use serde_json::{Map, Value};

use super::{
    NAMESPACE, Opening, PREFIX, Random, SealError, SealedField, SealedFormatError, Sealer, commit,
};

/// A sealed value found in an event: where it sits (a JSON Pointer, RFC 6901, from the event's
/// root) and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedAt {
    pub pointer: String,
    pub field: Result<SealedField, SealedFormatError>,
}

/// Every sealed value of an event (an object whose only member is `sealed:field`, at any depth),
/// in document order.
pub fn sealed_fields(event: &Map<String, Value>) -> Vec<SealedAt> {
    let mut found = Vec::new();
    let mut pointer = String::new();
    for (name, member) in event {
        pointer.push('/');
        push_escaped(&mut pointer, name);
        walk(member, &mut pointer, &mut found);
        pointer.clear();
    }
    found
}

/// Whether a value is or holds a sealed value.
fn holds_sealed(value: &Value) -> bool {
    let mut found = Vec::new();
    walk(value, &mut String::new(), &mut found);
    !found.is_empty()
}

fn walk(value: &Value, pointer: &mut String, found: &mut Vec<SealedAt>) {
    if let Some(field) = SealedField::from_json(value) {
        found.push(SealedAt {
            pointer: pointer.clone(),
            field,
        });
        return;
    }
    let at = pointer.len();
    match value {
        Value::Object(object) => {
            for (name, member) in object {
                pointer.push('/');
                push_escaped(pointer, name);
                walk(member, pointer, found);
                pointer.truncate(at);
            }
        }
        Value::Array(items) => {
            for (index, item) in items.iter().enumerate() {
                pointer.push('/');
                pointer.push_str(&index.to_string());
                walk(item, pointer, found);
                pointer.truncate(at);
            }
        }
        _ => {}
    }
}

fn push_escaped(pointer: &mut String, token: &str) {
    for c in token.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// Declares the `sealed` prefix in a document's (or event's) `@context`, unless it is declared
/// already; refuses a context that gives the prefix another meaning.
pub fn declare_namespace(object: &mut Map<String, Value>) -> Result<(), FieldPathError> {
    let declaration = || {
        let mut map = Map::new();
        map.insert(PREFIX.to_owned(), Value::String(NAMESPACE.to_owned()));
        Value::Object(map)
    };
    let declared = |value: &Value| -> Result<bool, FieldPathError> {
        match value.as_object().and_then(|map| map.get(PREFIX)) {
            None => Ok(false),
            Some(Value::String(iri)) if iri == NAMESPACE => Ok(true),
            Some(_) => Err(FieldPathError::PrefixTaken),
        }
    };
    match object.get_mut("@context") {
        None => {
            object.insert("@context".to_owned(), Value::Array(vec![declaration()]));
        }
        Some(Value::Array(items)) => {
            let mut found = false;
            for item in items.iter() {
                found |= declared(item)?;
            }
            if !found {
                items.push(declaration());
            }
        }
        Some(Value::Object(map)) => match map.get(PREFIX) {
            None => {
                map.insert(PREFIX.to_owned(), Value::String(NAMESPACE.to_owned()));
            }
            Some(Value::String(iri)) if iri == NAMESPACE => {}
            Some(_) => return Err(FieldPathError::PrefixTaken),
        },
        Some(other) => {
            let first = other.take();
            *other = Value::Array(vec![first, declaration()]);
        }
    }
    Ok(())
}

/// Seals the fields of `event` named by `pointers` (JSON Pointers from the event's root): for the
/// sealer's recipients, or as commitments only when `sealer` is `None`. Each must name an
/// extension field (a namespaced member name, at the top level of the event or of its `ilmd`)
/// or a part of one's value. Nothing is changed unless every pointer is good. Returns, per
/// pointer, the commitment-only opening (`None` when sealed for recipients).
pub fn seal_event_fields(
    event: &mut Map<String, Value>,
    pointers: &[&str],
    mut sealer: Option<&mut Sealer>,
    random: Random<'_>,
) -> Result<Vec<Option<Opening>>, FieldPathError> {
    let mut paths = Vec::with_capacity(pointers.len());
    for pointer in pointers {
        let tokens = check_path(pointer)?;
        let value = resolve(event, &tokens).ok_or_else(|| FieldPathError::Missing {
            pointer: (*pointer).to_owned(),
        })?;
        if holds_sealed(value) {
            return Err(FieldPathError::AlreadySealed {
                pointer: (*pointer).to_owned(),
            });
        }
        paths.push(tokens);
    }
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            if a.starts_with(b) || b.starts_with(a) {
                return Err(FieldPathError::Overlap {
                    pointer: pointers[i].to_owned(),
                });
            }
        }
    }
    let mut openings = Vec::with_capacity(paths.len());
    for (tokens, pointer) in paths.iter().zip(pointers) {
        let slot = resolve_mut(event, tokens).ok_or_else(|| FieldPathError::Missing {
            pointer: (*pointer).to_owned(),
        })?;
        let text = zeroize::Zeroizing::new(serde_json::to_vec(slot).unwrap_or_default());
        let (field, opening) = match sealer.as_deref_mut() {
            Some(sealer) => (sealer.seal(&text, random)?, None),
            None => {
                let (field, opening) = commit(&text, random)?;
                (field, Some(opening))
            }
        };
        *slot = field.to_json();
        openings.push(opening);
    }
    Ok(openings)
}

/// Whether a member name is an extension field's (`prefix:name`, not a full IRI, not this
/// vocabulary's own): standard fields are never sealed (custody, hashing and queries rest on
/// them).
fn is_extension_name(name: &str) -> bool {
    name.split_once(':').is_some_and(|(prefix, local)| {
        !prefix.is_empty() && !local.is_empty() && prefix != PREFIX && !name.contains('/')
    })
}

fn check_path(pointer: &str) -> Result<Vec<String>, FieldPathError> {
    let bad = |reason: &'static str| FieldPathError::NotSealable {
        pointer: pointer.to_owned(),
        reason,
    };
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| bad("a JSON Pointer starts with `/`"))?;
    let mut tokens = Vec::new();
    for token in rest.split('/') {
        let mut decoded = String::with_capacity(token.len());
        let mut chars = token.chars();
        while let Some(c) = chars.next() {
            decoded.push(match c {
                '~' => match chars.next() {
                    Some('0') => '~',
                    Some('1') => '/',
                    _ => return Err(bad("`~` must be followed by 0 or 1")),
                },
                c => c,
            });
        }
        tokens.push(decoded);
    }
    let field = if tokens[0] == "ilmd" { 1 } else { 0 };
    match tokens.get(field) {
        Some(name) if is_extension_name(name) => Ok(tokens),
        Some(_) => Err(bad(
            "only extension fields (namespaced names such as `example:note`, at the top of the \
             event or of its `ilmd`) may be sealed; standard fields are what custody, hashing \
             and queries rest on",
        )),
        None => Err(bad(
            "`/ilmd` itself cannot be sealed; name a field within it",
        )),
    }
}

fn step<'a>(value: &'a Value, token: &str) -> Option<&'a Value> {
    match value {
        Value::Object(map) => map.get(token),
        Value::Array(items) => items.get(array_index(token)?),
        _ => None,
    }
}

fn step_mut<'a>(value: &'a mut Value, token: &str) -> Option<&'a mut Value> {
    match value {
        Value::Object(map) => map.get_mut(token),
        Value::Array(items) => items.get_mut(array_index(token)?),
        _ => None,
    }
}

fn array_index(token: &str) -> Option<usize> {
    if token == "0" || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit())) {
        token.parse().ok()
    } else {
        None
    }
}

fn resolve<'a>(event: &'a Map<String, Value>, tokens: &[String]) -> Option<&'a Value> {
    let (first, rest) = tokens.split_first()?;
    rest.iter()
        .try_fold(event.get(first)?, |value, token| step(value, token))
}

fn resolve_mut<'a>(event: &'a mut Map<String, Value>, tokens: &[String]) -> Option<&'a mut Value> {
    let (first, rest) = tokens.split_first()?;
    rest.iter()
        .try_fold(event.get_mut(first)?, |value, token| step_mut(value, token))
}

/// A field that cannot be sealed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldPathError {
    #[error("cannot seal `{pointer}`: {reason}")]
    NotSealable {
        pointer: String,
        reason: &'static str,
    },
    #[error("cannot seal `{pointer}`: the event has no such field")]
    Missing { pointer: String },
    #[error("cannot seal `{pointer}`: it is sealed already")]
    AlreadySealed { pointer: String },
    #[error("cannot seal `{pointer}`: another field named lies within it or holds it")]
    Overlap { pointer: String },
    #[error("the `@context` gives the prefix `sealed` another meaning")]
    PrefixTaken,
    #[error(transparent)]
    Seal(#[from] SealError),
}
