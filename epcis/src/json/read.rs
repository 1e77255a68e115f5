//! A direct reader of JSON text into [`Node`]s, for the common case.
//!
//! It reads what serde_json reads into the same value, without serde's per-token calls. It
//! does not report errors: on anything it does not accept — a syntax error, a number that is
//! not a plain integer, deep nesting — it gives up, and the caller lets serde_json read the
//! text, which yields serde_json's value or serde_json's error. So the reader only has to
//! be exact for the input it accepts.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::Number;

use super::node::{Key, Node, Object, insert_member, standard_name};
use crate::vocab::Vocabulary;

/// Nesting deeper than this is left to serde_json (whose own limit is 127 levels).
const MAX_DEPTH: usize = 100;

/// Reads `text` as one JSON value, or `None` if it leaves `text` to serde_json (see the
/// module documentation).
pub(super) fn read(text: &str) -> Option<Node> {
    let mut reader = Reader {
        text,
        bytes: text.as_bytes(),
        at: 0,
        depth: 0,
        items: Vec::new(),
        members: Vec::new(),
    };
    let node = reader.value()?;
    reader.skip_whitespace();
    (reader.at == reader.bytes.len()).then_some(node)
}

struct Reader<'t> {
    text: &'t str,
    bytes: &'t [u8],
    at: usize,
    depth: usize,
    /// Elements of the arrays being read, innermost last (see `node::Scratch`).
    items: Vec<Node>,
    /// Members of the objects being read, innermost last.
    members: Vec<(Key, Node)>,
}

impl Reader<'_> {
    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after white space, consumed.
    fn next_token(&mut self) -> Option<u8> {
        self.skip_whitespace();
        let byte = *self.bytes.get(self.at)?;
        self.at += 1;
        Some(byte)
    }

    fn value(&mut self) -> Option<Node> {
        match self.next_token()? {
            b'{' => self.object(),
            b'[' => self.array(),
            b'"' => self
                .string()
                .map(|text| Node::String(Cow::Owned(text.into_owned()))),
            b't' => self.literal(b"rue", Node::Bool(true)),
            b'f' => self.literal(b"alse", Node::Bool(false)),
            b'n' => self.literal(b"ull", Node::Null),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    fn literal(&mut self, rest: &[u8], node: Node) -> Option<Node> {
        let end = self.at + rest.len();
        (self.bytes.get(self.at..end)? == rest).then(|| {
            self.at = end;
            node
        })
    }

    /// A number whose first byte was read. A plain integer that fits an `i64` or a `u64` is
    /// read here as serde_json reads it; any other number (fraction, exponent, `-0`, larger
    /// values) is handed to serde_json on its own, so that it gets the very same value.
    fn number(&mut self) -> Option<Node> {
        let start = self.at - 1;
        let negative = self.bytes[start] == b'-';
        let digits_start = if negative { self.at } else { start };
        let digits_end = self.skip_digits(digits_start);
        let mut end = digits_end;
        if self.bytes.get(end) == Some(&b'.') {
            end = self.skip_digits(end + 1);
        }
        if let Some(b'e' | b'E') = self.bytes.get(end) {
            end += 1;
            if let Some(b'+' | b'-') = self.bytes.get(end) {
                end += 1;
            }
            end = self.skip_digits(end);
        }
        let digits = &self.text[digits_start..digits_end];
        let plain = end == digits_end
            && !digits.is_empty()
            && !(digits.len() > 1 && digits.starts_with('0'));
        let integer = match digits.parse::<u64>() {
            Ok(magnitude) if plain && !negative => Some(Number::from(magnitude)),
            // `-0` is a float in serde_json, left to it below.
            Ok(magnitude) if plain && magnitude > 0 => {
                0i64.checked_sub_unsigned(magnitude).map(Number::from)
            }
            _ => None,
        };
        let number = match integer {
            Some(number) => number,
            None => serde_json::from_str(&self.text[start..end]).ok()?,
        };
        self.at = end;
        Some(Node::Number(number))
    }

    /// The end of the run of ASCII digits from `at`.
    fn skip_digits(&self, mut at: usize) -> usize {
        while self.bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        at
    }

    /// The rest of a string whose opening quote was read.
    fn string(&mut self) -> Option<Cow<'_, str>> {
        let start = self.at;
        let end = plain_run_end(self.bytes, start);
        match *self.bytes.get(end)? {
            b'"' => {
                self.at = end + 1;
                // Quotes are ASCII, so both ends are character boundaries.
                return Some(Cow::Borrowed(&self.text[start..end]));
            }
            b'\\' => {}
            _ => return None,
        }
        let mut owned = String::with_capacity(end - start + 16);
        owned.push_str(&self.text[start..end]);
        self.at = end;
        loop {
            let run = self.at;
            self.at = plain_run_end(self.bytes, run);
            owned.push_str(&self.text[run..self.at]);
            match *self.bytes.get(self.at)? {
                b'"' => {
                    self.at += 1;
                    return Some(Cow::Owned(owned));
                }
                b'\\' => {
                    let escaped = *self.bytes.get(self.at + 1)?;
                    self.at += 2;
                    owned.push(match escaped {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode_escape()?,
                        _ => return None,
                    });
                }
                _ => return None,
            }
        }
    }

    /// The character of a `\u` escape whose `\u` was read; a surrogate pair is two escapes.
    fn unicode_escape(&mut self) -> Option<char> {
        let first = self.hex4()?;
        if !(0xD800..0xE000).contains(&first) {
            return char::from_u32(first);
        }
        // Lone or reversed surrogates are serde_json's to reject.
        if first >= 0xDC00 || self.bytes.get(self.at..self.at + 2)? != b"\\u" {
            return None;
        }
        self.at += 2;
        let second = self.hex4()?;
        if !(0xDC00..0xE000).contains(&second) {
            return None;
        }
        char::from_u32(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00))
    }

    fn hex4(&mut self) -> Option<u32> {
        let digits = self.text.get(self.at..self.at + 4)?;
        if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        self.at += 4;
        u32::from_str_radix(digits, 16).ok()
    }

    /// The value of member `key`: as [`Self::value`], except that a string that is one of the
    /// member's standard words is borrowed from the word list instead of allocated.
    fn member_value(&mut self, key: &str) -> Option<Node> {
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&b'"')
            && let Some(lists) = standard_word_lists(key)
        {
            self.at += 1;
            let text = self.string()?;
            let word = lists.iter().find_map(|words| {
                let at = words.binary_search(&text.as_ref()).ok()?;
                Some(words[at])
            });
            return Some(Node::String(match word {
                Some(word) => Cow::Borrowed(word),
                None => Cow::Owned(text.into_owned()),
            }));
        }
        self.value()
    }

    fn array(&mut self) -> Option<Node> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let start = self.items.len();
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&b']') {
            self.at += 1;
        } else {
            loop {
                let item = self.value()?;
                self.items.push(item);
                match self.next_token()? {
                    b',' => {}
                    b']' => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Node::Array(self.items.drain(start..).collect()))
    }

    fn object(&mut self) -> Option<Node> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return None;
        }
        let start = self.members.len();
        let mut index = HashMap::new();
        self.skip_whitespace();
        if self.bytes.get(self.at) == Some(&b'}') {
            self.at += 1;
        } else {
            loop {
                if self.next_token()? != b'"' {
                    return None;
                }
                let key: Key = match self.string()? {
                    Cow::Borrowed(name) => match standard_name(name) {
                        Some(name) => Cow::Borrowed(name),
                        None => Cow::Owned(name.to_owned()),
                    },
                    Cow::Owned(name) => Cow::Owned(name),
                };
                if self.next_token()? != b':' {
                    return None;
                }
                let value = self.member_value(&key)?;
                insert_member(&mut self.members, start, &mut index, key, value);
                match self.next_token()? {
                    b',' => {}
                    b'}' => break,
                    _ => return None,
                }
            }
        }
        self.depth -= 1;
        Some(Node::Object(Object::from_members(
            self.members.drain(start..).collect(),
        )))
    }
}

/// The five standard event types, sorted.
const EVENT_TYPES: &[&str] = &[
    "AggregationEvent",
    "AssociationEvent",
    "ObjectEvent",
    "TransactionEvent",
    "TransformationEvent",
];

/// The sorted lists of the standard words a member's string value is usually one of, for the
/// members that hold one in every event: `type` (event types; business transaction types),
/// `action`, `bizStep` and `disposition`.
fn standard_word_lists(key: &str) -> Option<&'static [&'static [&'static str]]> {
    const TYPES: &[&[&str]] = &[EVENT_TYPES, Vocabulary::BizTransactionType.standard_words()];
    const ACTIONS: &[&[&str]] = &[&["ADD", "DELETE", "OBSERVE"]];
    const BIZ_STEPS: &[&[&str]] = &[Vocabulary::BizStep.standard_words()];
    const DISPOSITIONS: &[&[&str]] = &[Vocabulary::Disposition.standard_words()];
    match key {
        "type" => Some(TYPES),
        "action" => Some(ACTIONS),
        "bizStep" => Some(BIZ_STEPS),
        "disposition" => Some(DISPOSITIONS),
        _ => None,
    }
}

/// Where the run of plain string content from `from` ends: the position of the first quote,
/// backslash or control character, or the end of `bytes`.
///
/// Eight bytes are tested at a time: for a word `x`, `(x - 0x01…01 * n) & !x & 0x80…80` has
/// the high bit of a byte set where that byte is below `n` (for `n` up to 0x80), and may also
/// set it in more significant bytes above such a byte, so the lowest flagged byte is the first
/// match. Bytes of multi-byte UTF-8 characters (0x80 and up) are never flagged.
fn plain_run_end(bytes: &[u8], from: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
    let rest = bytes.get(from..).unwrap_or_default();
    let mut chunks = rest.chunks_exact(8);
    let mut offset = from;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let word = u64::from_le_bytes(word);
        let found = below(word ^ (ONES * u64::from(b'"')), 1)
            | below(word ^ (ONES * u64::from(b'\\')), 1)
            | below(word, 0x20);
        if found != 0 {
            return offset + (found.trailing_zeros() / 8) as usize;
        }
        offset += 8;
    }
    let tail = chunks.remainder();
    offset
        + tail
            .iter()
            .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
            .unwrap_or(tail.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a failed unwrap is a failed test
mod tests {
    use std::path::Path;

    use super::*;

    /// Every JSON file under `dir`, recursively.
    fn json_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                json_files(&path, found);
            } else if path
                .extension()
                .is_some_and(|ext| ext == "json" || ext == "jsonld")
            {
                found.push(path);
            }
        }
    }

    #[test]
    fn the_reader_agrees_with_serde_json_on_every_test_document() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../testdata");
        let mut files = Vec::new();
        json_files(&root, &mut files);
        assert!(files.len() > 20, "the test data is missing");
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let expected: Node = serde_json::from_str(&text).unwrap();
            let read =
                read(&text).unwrap_or_else(|| panic!("{} was left to serde_json", file.display()));
            assert_eq!(read, expected, "{}", file.display());
            assert_eq!(
                serde_json::to_string(&read).unwrap(),
                serde_json::to_string(&expected).unwrap()
            );
        }
    }

    #[test]
    fn a_plain_run_ends_at_the_first_quote_backslash_or_control_character() {
        for text in [
            "",
            "abc",
            "a\"",
            "0123456789abcdef\\",
            "é漢字 0123456789\u{1f}x\"",
            "\"",
            "ab\u{7f}\u{80}cdefghijkl",
        ] {
            let bytes = text.as_bytes();
            for from in 0..=bytes.len() {
                let expected = bytes[from..]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                    .map_or(bytes.len(), |at| from + at);
                assert_eq!(plain_run_end(bytes, from), expected, "{text:?} from {from}");
            }
        }
    }

    #[test]
    fn escapes_and_numbers_read_as_serde_json_reads_them() {
        let text = r#"{"a\"b":"\\\/\b\f\n\r\t\u00e9\ud83d\ude00 x","n":[0,-1,9223372036854775807,-9223372036854775808,18446744073709551615,18446744073709551616,-9223372036854775809,-0,1.5,-2.5e-3,1E300,0.1e+2],"type":"x","type":[true,false,null]}"#;
        let expected: Node = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::to_string(&read(text).unwrap()).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
    }

    #[test]
    fn standard_words_of_their_own_members_are_not_allocated() {
        let text = r#"{"type":"ObjectEvent","action":"ADD","bizStep":"shipping","disposition":"Ship","x":"ObjectEvent","bizTransactionList":[{"type":"po"}]}"#;
        let Some(Node::Object(event)) = read(text) else {
            panic!("an object")
        };
        let borrowed = |key: &str| match event.get(key) {
            Some(Node::String(text)) => matches!(text, Cow::Borrowed(_)),
            other => panic!("{key}: {other:?}"),
        };
        assert!(borrowed("type") && borrowed("action") && borrowed("bizStep"));
        // Not a standard disposition (they are lower case), and not a member that holds one.
        assert!(!borrowed("disposition") && !borrowed("x"));
        let Some(Node::Array(list)) = event.get("bizTransactionList") else {
            panic!("a list")
        };
        let Node::Object(transaction) = &list[0] else {
            panic!("an object")
        };
        assert!(matches!(
            transaction.get("type"),
            Some(Node::String(Cow::Borrowed("po")))
        ));
        let expected: Node = serde_json::from_str(text).unwrap();
        assert_eq!(Node::Object(event), expected);
    }

    #[test]
    fn what_the_reader_does_not_handle_is_left_to_serde_json() {
        let cases = [
            "{\"a\":}",
            "[1,]",
            "{\"a\":1,}",
            "\"\\ud800\"",
            "\"\\udc00\\ud800\"",
            "01",
            "-",
            "1.",
            "1e",
            "1e400",
            "-01",
            "[1.5.2]",
            "{\"a\":1}x",
            "\"\u{1}\"",
            "\"\\x\"",
            "tru",
            "[",
            "{\"a\" 1}",
            "",
        ];
        for case in cases {
            assert_eq!(read(case), None, "{case:?} was read");
        }
        let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
        assert_eq!(read(&deep), None);
        let shallow = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(read(&shallow).is_some());
    }
}
