//! Where a check is looking (a path built on the stack, turned into a JSON pointer only when
//! something is wrong) and the list of violations found so far.

use std::fmt::Write as _;

use super::{Rule, Violation};
use crate::hash::HashContext;

/// A location in the input: a chain of member names and list indices back to a base pointer.
#[derive(Debug, Clone, Copy)]
pub(super) struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    step: Step<'a>,
}

#[derive(Debug, Clone, Copy)]
enum Step<'a> {
    /// An already escaped pointer to start from (`""` or `/epcisBody/eventList`).
    Base(&'a str),
    Key(&'a str),
    Index(usize),
}

impl<'a> Path<'a> {
    /// The path at `pointer`, which must already be a valid, escaped JSON pointer.
    pub(super) fn base(pointer: &'a str) -> Self {
        Self {
            parent: None,
            step: Step::Base(pointer),
        }
    }

    /// The member `key` of the object here.
    pub(super) fn key(&'a self, key: &'a str) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Key(key),
        }
    }

    /// The element `index` of the list here.
    pub(super) fn index(&'a self, index: usize) -> Path<'a> {
        Path {
            parent: Some(self),
            step: Step::Index(index),
        }
    }

    /// The RFC 6901 pointer (`~` and `/` in member names escaped as `~0` and `~1`).
    pub(super) fn pointer(&self) -> String {
        let mut steps = Vec::new();
        let mut here = Some(self);
        while let Some(path) = here {
            steps.push(path.step);
            here = path.parent;
        }
        let mut pointer = String::new();
        for step in steps.iter().rev() {
            match *step {
                Step::Base(base) => pointer.push_str(base),
                Step::Key(key) => {
                    pointer.push('/');
                    for c in key.chars() {
                        match c {
                            '~' => pointer.push_str("~0"),
                            '/' => pointer.push_str("~1"),
                            c => pointer.push(c),
                        }
                    }
                }
                Step::Index(index) => {
                    // Writing into a `String` cannot fail.
                    let _ = write!(pointer, "/{index}");
                }
            }
        }
        pointer
    }

    /// The member name at the end of the path, for messages (`"(root)"` at the top).
    pub(super) fn name(&self) -> String {
        match self.step {
            Step::Key(key) => key.to_owned(),
            Step::Index(index) => match self.parent {
                Some(parent) => format!("{}[{index}]", parent.name()),
                None => format!("[{index}]"),
            },
            Step::Base(_) => "(root)".to_owned(),
        }
    }
}

/// The violations found so far, the event being checked, and the JSON-LD prefixes in scope
/// there (to read a compact IRI as the event hash does).
#[derive(Debug, Default)]
pub(super) struct Report {
    event: Option<usize>,
    violations: Vec<Violation>,
    prefixes: HashContext,
}

impl Report {
    /// The prefixes in scope: the standard context's, the document's and the event's own.
    pub(super) fn prefixes(&self) -> &HashContext {
        &self.prefixes
    }

    /// Puts `prefixes` in scope, returning those it replaces.
    pub(super) fn set_prefixes(&mut self, prefixes: HashContext) -> HashContext {
        std::mem::replace(&mut self.prefixes, prefixes)
    }

    /// Attributes the following violations to event `index` (or to no event).
    pub(super) fn set_event(&mut self, index: Option<usize>) {
        self.event = index;
    }

    /// Records a violation at `path`.
    pub(super) fn add(&mut self, path: &Path<'_>, rule: Rule, message: impl Into<String>) {
        self.violations
            .push(Violation::new(self.event, path.pointer(), rule, message));
    }

    pub(super) fn into_result(self) -> Result<(), Vec<Violation>> {
        if self.violations.is_empty() {
            Ok(())
        } else {
            Err(self.violations)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pointers_escape_tilde_and_slash_in_member_names() {
        let base = Path::base("/epcisBody/eventList");
        let event = base.index(3);
        let member = event.key("https://example.org/ns/a~b");
        assert_eq!(
            member.pointer(),
            "/epcisBody/eventList/3/https:~1~1example.org~1ns~1a~0b"
        );
    }

    #[test]
    fn the_root_pointer_is_empty() {
        assert_eq!(Path::base("").pointer(), "");
        assert_eq!(Path::base("").key("type").pointer(), "/type");
    }

    #[test]
    fn names_of_list_elements_mention_the_list() {
        let base = Path::base("");
        let list = base.key("epcList");
        assert_eq!(list.index(2).name(), "epcList[2]");
    }
}
