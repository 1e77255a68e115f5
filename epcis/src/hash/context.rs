//! [`HashContext`]: the namespace prefixes and ignored fields that the event hash depends on.

use serde_json::{Map, Value};

use super::error::HashError;

/// The prefixes declared by the standard EPCIS 2.0 JSON-LD context
/// (`https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld`).
const GS1_PREFIXES: [(&str, &str); 9] = [
    ("epcis", "https://ref.gs1.org/epcis/"),
    ("cbv", "https://ref.gs1.org/cbv/"),
    ("cbvmda", "urn:epcglobal:cbv:mda:"),
    ("gs1", "https://gs1.org/voc/"),
    ("rdfs", "http://www.w3.org/2000/01/rdf-schema#"),
    ("rdf", "http://www.w3.org/1999/02/22-rdf-syntax-ns#"),
    ("owl", "http://www.w3.org/2002/07/owl#"),
    ("xsd", "http://www.w3.org/2001/XMLSchema#"),
    ("dcterms", "http://purl.org/dc/terms/"),
];

/// The IRI the standard EPCIS 2.0 context gives `prefix`, if it declares it.
pub(crate) fn standard_prefix_iri(prefix: &str) -> Option<&'static str> {
    GS1_PREFIXES
        .iter()
        .find(|(name, _)| *name == prefix)
        .map(|(_, iri)| *iri)
}

/// What the pre-hash of an event needs from its surroundings: the JSON-LD namespace prefixes in
/// scope (to expand `example:myField` into `{https://ns.example.com/epcis/}myField` and CURIE
/// values into full URIs) and the extension fields a document asks to leave out of the hash
/// (its `…:ignoreFields` list).
///
/// [`HashContext::default`] holds the prefixes of the standard EPCIS 2.0 context. Build one per
/// document with [`HashContext::from_document`] and reuse it for every event of that document;
/// [`super::prehash`] applies an event's own `@context` on top by itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashContext {
    /// Prefix → IRI, later declarations last (searched from the end, so they win).
    prefixes: Vec<(String, String)>,
    /// The first bytes of the declared prefixes, so that a value whose prefix starts otherwise
    /// (`urn:…`, `https:…`: most values) is known not to be a CURIE without a search.
    first_bytes: ByteSet,
    /// Expanded names (`{iri}local` or the plain name) of top-level event fields to leave out.
    ignored: Vec<String>,
}

impl Default for HashContext {
    fn default() -> Self {
        let mut context = Self {
            prefixes: Vec::with_capacity(GS1_PREFIXES.len()),
            first_bytes: ByteSet::default(),
            ignored: Vec::new(),
        };
        for (prefix, iri) in GS1_PREFIXES {
            context.push_prefix(prefix.to_owned(), iri.to_owned());
        }
        context
    }
}

/// A set of bytes, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn insert(&mut self, byte: u8) {
        self.0[usize::from(byte >> 6)] |= 1 << (byte & 63);
    }

    fn contains(self, byte: u8) -> bool {
        self.0[usize::from(byte >> 6)] & (1 << (byte & 63)) != 0
    }
}

impl HashContext {
    /// The standard EPCIS 2.0 prefixes and no ignored fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// The context of a document: the standard prefixes, the prefixes its `@context` declares,
    /// and the fields named by an `ignoreFields` list (any prefix, e.g.
    /// `repository-x:ignoreFields`) at the document root or in `epcisBody.queryResults`.
    pub fn from_document(document: &Value) -> Result<Self, HashError> {
        let root = document.as_object().ok_or(HashError::DocumentNotAnObject)?;
        Self::from_document_root(root)
    }

    /// [`HashContext::from_document`] for a document's root object, as
    /// [`crate::document::Document::root`] gives it.
    pub fn from_document_root(root: &serde_json::Map<String, Value>) -> Result<Self, HashError> {
        let mut context = Self::default();
        if let Some(declared) = root.get("@context") {
            context.declare(declared)?;
        }
        context.collect_ignore_fields(root)?;
        let query_results = root
            .get("epcisBody")
            .and_then(|body| body.get("queryResults"))
            .and_then(Value::as_object);
        if let Some(query_results) = query_results {
            context.collect_ignore_fields(query_results)?;
        }
        Ok(context)
    }

    /// This context with the prefixes of a JSON-LD `@context` value (a URL string, an object of
    /// term definitions, or an array of those) added on top. Remote contexts (URL strings) are
    /// not fetched: the standard one's prefixes are already known.
    pub fn with_context(&self, declared: &Value) -> Result<Self, HashError> {
        let mut context = self.clone();
        context.declare(declared)?;
        Ok(context)
    }

    /// This context with one more prefix declaration (overriding an earlier one).
    pub fn with_prefix(mut self, prefix: impl Into<String>, iri: impl Into<String>) -> Self {
        self.push_prefix(prefix.into(), iri.into());
        self
    }

    /// This context with one more top-level event field to leave out of the hash, named as in
    /// the document (`example:captureID`).
    pub fn ignoring(mut self, field: &str) -> Self {
        let expanded = self.expand_key(field).into_owned();
        self.ignored.push(expanded);
        self
    }

    /// The IRI bound to `prefix`, if declared.
    pub fn prefix_iri(&self, prefix: &str) -> Option<&str> {
        let first = prefix.as_bytes().first();
        if first.is_some_and(|&byte| !self.first_bytes.contains(byte)) {
            return None;
        }
        self.prefixes
            .iter()
            .rev()
            // Comparing the first byte before the whole prefix keeps misses (`urn`, `https`)
            // cheap: this runs for every value of every event.
            .find(|(p, _)| p.as_bytes().first() == first && p == prefix)
            .map(|(_, iri)| iri.as_str())
    }

    /// Expands a compact key `prefix:local` into `{iri}local` when the prefix is declared;
    /// other keys are returned unchanged.
    pub fn expand_key<'a>(&self, key: &'a str) -> std::borrow::Cow<'a, str> {
        match key.split_once(':') {
            Some((prefix, local)) => match self.prefix_iri(prefix) {
                Some(iri) => std::borrow::Cow::Owned(format!("{{{iri}}}{local}")),
                None => std::borrow::Cow::Borrowed(key),
            },
            None => std::borrow::Cow::Borrowed(key),
        }
    }

    /// Appends the expanded form of a key (see [`Self::expand_key`]) without allocating.
    pub(crate) fn write_key(&self, out: &mut String, key: &str) {
        if let Some((prefix, local)) = key.split_once(':')
            && let Some(iri) = self.prefix_iri(prefix)
        {
            out.push('{');
            out.push_str(iri);
            out.push('}');
            out.push_str(local);
            return;
        }
        out.push_str(key);
    }

    /// The IRI and local part of a CURIE value whose prefix is declared.
    pub(crate) fn split_curie<'v>(&self, value: &'v str) -> Option<(&str, &'v str)> {
        // A byte scan: the colon, when there is one, is near the start, and this runs for every
        // value of every event.
        let colon = value.bytes().position(|b| b == b':')?;
        let (prefix, local) = (&value[..colon], &value[colon + 1..]);
        // JSON-LD 1.1: a value whose suffix starts with `//` is an absolute IRI, not a CURIE.
        if local.starts_with("//") {
            return None;
        }
        Some((self.prefix_iri(prefix)?, local))
    }

    /// A CURIE value whose prefix is declared, expanded to its full IRI (as the hash reads it);
    /// any other value as written.
    pub(crate) fn expand_value<'v>(&self, value: &'v str) -> std::borrow::Cow<'v, str> {
        match self.split_curie(value) {
            Some((iri, local)) => std::borrow::Cow::Owned(format!("{iri}{local}")),
            None => std::borrow::Cow::Borrowed(value),
        }
    }

    /// Whether a top-level event field (written as in the event) is to be left out of the hash.
    pub(crate) fn is_ignored(&self, key: &str) -> bool {
        if self.ignored.is_empty() {
            return false;
        }
        let expanded = self.expand_key(key);
        self.ignored.iter().any(|name| *name == expanded)
    }

    /// Declares `prefix` (overriding an earlier declaration of it).
    fn push_prefix(&mut self, prefix: String, iri: String) {
        if let Some(&byte) = prefix.as_bytes().first() {
            self.first_bytes.insert(byte);
        }
        self.prefixes.push((prefix, iri));
    }

    fn declare(&mut self, declared: &Value) -> Result<(), HashError> {
        match declared {
            Value::String(_) | Value::Null => Ok(()),
            Value::Array(items) => items.iter().try_for_each(|item| self.declare(item)),
            Value::Object(terms) => {
                for (term, definition) in terms {
                    if term.starts_with('@') {
                        continue;
                    }
                    let iri = match definition {
                        Value::String(iri) => Some(iri),
                        Value::Object(expanded) => match expanded.get("@id") {
                            Some(Value::String(iri)) => Some(iri),
                            _ => None,
                        },
                        _ => None,
                    };
                    if let Some(iri) = iri {
                        self.push_prefix(term.clone(), iri.clone());
                    }
                }
                Ok(())
            }
            Value::Bool(_) | Value::Number(_) => Err(HashError::InvalidContext {
                reason: "an @context entry must be a URL, an object or an array",
            }),
        }
    }

    fn collect_ignore_fields(&mut self, object: &Map<String, Value>) -> Result<(), HashError> {
        for (key, value) in object {
            let local = key
                .rsplit_once(':')
                .map_or(key.as_str(), |(_, local)| local);
            if local != "ignoreFields" {
                continue;
            }
            let names = match value {
                Value::Array(names) => names.as_slice(),
                Value::String(_) => std::slice::from_ref(value),
                _ => {
                    return Err(HashError::InvalidIgnoreFields {
                        reason: "expected an array of field names",
                    });
                }
            };
            for name in names {
                let name = name.as_str().ok_or(HashError::InvalidIgnoreFields {
                    reason: "every entry must be a field name string",
                })?;
                let expanded = self.expand_key(name).into_owned();
                self.ignored.push(expanded);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)] // a failed unwrap is a failed test
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_default_context_knows_the_standard_gs1_prefixes() {
        let context = HashContext::default();
        assert_eq!(context.prefix_iri("gs1"), Some("https://gs1.org/voc/"));
        assert_eq!(context.prefix_iri("cbv"), Some("https://ref.gs1.org/cbv/"));
        assert_eq!(context.prefix_iri("example"), None);
    }

    #[test]
    fn a_document_context_adds_prefixes_and_later_declarations_win() {
        let document = json!({
            "@context": [
                "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld",
                {"example": "https://ns.example.com/epcis/"},
                {"example": "https://other.example.com/", "ext": {"@id": "https://ext.example/"}}
            ],
            "epcisBody": {"eventList": []}
        });
        let context = HashContext::from_document(&document).unwrap();
        assert_eq!(
            context.prefix_iri("example"),
            Some("https://other.example.com/")
        );
        assert_eq!(context.expand_key("ext:a"), "{https://ext.example/}a");
        assert_eq!(context.expand_key("unknown:a"), "unknown:a");
        assert_eq!(context.expand_key("bizStep"), "bizStep");
    }

    #[test]
    fn ignore_fields_are_found_at_the_root_and_in_query_results() {
        let document = json!({
            "@context": [{"x": "https://x.example/", "example": "https://ns.example.com/epcis/"}],
            "x:ignoreFields": ["x:hash"],
            "epcisBody": {"queryResults": {"ignoreFields": ["example:captureID"]}}
        });
        let context = HashContext::from_document(&document).unwrap();
        assert!(context.is_ignored("x:hash"));
        assert!(context.is_ignored("example:captureID"));
        assert!(!context.is_ignored("example:other"));
    }

    #[test]
    fn malformed_contexts_are_rejected_with_the_reason() {
        let document = json!({"@context": [3], "epcisBody": {}});
        assert!(matches!(
            HashContext::from_document(&document),
            Err(HashError::InvalidContext { .. })
        ));
        let document = json!({"x:ignoreFields": 1, "epcisBody": {}});
        assert!(matches!(
            HashContext::from_document(&document),
            Err(HashError::InvalidIgnoreFields { .. })
        ));
        assert!(matches!(
            HashContext::from_document(&json!([])),
            Err(HashError::DocumentNotAnObject)
        ));
    }
}
