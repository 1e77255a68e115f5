//! Just enough PromQL for the operations checks: the metric names an expression selects, and the
//! operands of an alert expression's comparisons and set operations (`a > 60 and b > c` has the
//! operands `a`, `b` and `c`), which must each return data while the pipeline flows even though the
//! whole expression returns nothing when all is well. Prometheus itself parses and evaluates every
//! expression; this only has to find its parts, and fails loudly on what it does not read.

/// A token, with its place in the expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Token<'a> {
    kind: Kind,
    text: &'a str,
    start: usize,
    end: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Identifier,
    /// A number or a duration (`0.5`, `1e3`, `5m`, `1h30m`).
    Number,
    String,
    Open,
    Close,
    /// Any operator or separator (`+`, `>=`, `=~`, `,`, `:`, `@`).
    Operator,
}

/// Keywords that are never metric names.
const KEYWORDS: &[&str] = &[
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

/// Aggregation operators: `sum by (job) (x)` has the keyword after the name, not a parenthesis.
const AGGREGATIONS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// Keywords followed by a list of label names in parentheses.
const LABEL_LIST_KEYWORDS: &[&str] = &[
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];

const COMPARISONS: &[&str] = &["==", "!=", ">", "<", ">=", "<="];
const SET_OPERATIONS: &[&str] = &["and", "or", "unless"];

fn tokens(expr: &str) -> Result<Vec<Token<'_>>, String> {
    let bytes = expr.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let start = i;
        let kind = match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' | b'\'' | b'`' => {
                i += 1;
                while i < bytes.len() && bytes[i] != c {
                    if bytes[i] == b'\\' && c != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
                if i >= bytes.len() {
                    return Err(format!("unterminated string at {start} in {expr:?}"));
                }
                i += 1;
                Kind::String
            }
            b'(' | b'[' | b'{' => {
                i += 1;
                Kind::Open
            }
            b')' | b']' | b'}' => {
                i += 1;
                Kind::Close
            }
            b'0'..=b'9' | b'.' => {
                while i < bytes.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || bytes[i] == b'.'
                        || bytes[i] == b'_'
                        // An exponent's sign: `1e-3`.
                        || ((bytes[i] == b'-' || bytes[i] == b'+')
                            && matches!(bytes[i - 1], b'e' | b'E')
                            && bytes[start].is_ascii_digit()))
                {
                    i += 1;
                }
                Kind::Number
            }
            c if c.is_ascii_alphabetic() || c == b'_' || c == b':' => {
                // A lone `:` is the subquery separator, not a name.
                if c == b':' && !bytes.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
                    i += 1;
                    Kind::Operator
                } else {
                    while i < bytes.len()
                        && (bytes[i].is_ascii_alphanumeric()
                            || bytes[i] == b'_'
                            || bytes[i] == b':')
                    {
                        i += 1;
                    }
                    Kind::Identifier
                }
            }
            _ => {
                let two = expr.get(i..i + 2).unwrap_or("");
                i += if ["==", "!=", ">=", "<=", "=~", "!~"].contains(&two) {
                    2
                } else if "+-*/%^<>=,@".contains(c as char) {
                    1
                } else {
                    return Err(format!("unexpected {:?} at {i} in {expr:?}", c as char));
                };
                Kind::Operator
            }
        };
        out.push(Token {
            kind,
            text: &expr[start..i],
            start,
            end: i,
        });
    }
    Ok(out)
}

/// The index of the token closing the group `tokens[open]` opens.
fn closing(tokens: &[Token<'_>], open: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    for (index, token) in tokens.iter().enumerate().skip(open) {
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => {
                depth -= 1;
                if depth == 0 {
                    return Ok(index);
                }
            }
            _ => {}
        }
    }
    Err(format!("unbalanced {:?}", tokens[open].text))
}

/// Every metric name `expr` selects, in order of appearance, without repeats.
pub fn metric_names(expr: &str) -> Result<Vec<String>, String> {
    let tokens = tokens(expr)?;
    let mut names: Vec<String> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        let next_opens = tokens
            .get(i + 1)
            .is_some_and(|next| next.kind == Kind::Open && next.text == "(");
        match token.kind {
            // Label matchers and ranges hold no metric names.
            Kind::Open if token.text != "(" => i = closing(&tokens, i)?,
            Kind::Identifier if LABEL_LIST_KEYWORDS.contains(&token.text) && next_opens => {
                i = closing(&tokens, i + 1)?;
            }
            Kind::Identifier
                if !next_opens
                    && !KEYWORDS.contains(&token.text)
                    && !AGGREGATIONS.contains(&token.text)
                    && !["inf", "nan"].contains(&token.text.to_ascii_lowercase().as_str()) =>
            {
                names.push(token.text.to_owned());
            }
            _ => {}
        }
        i += 1;
    }
    let mut seen = std::collections::BTreeSet::new();
    names.retain(|name| seen.insert(name.clone()));
    if expr.contains("__name__") {
        return Err(format!(
            "{expr:?} selects by __name__: name its metrics, so the checks can see them"
        ));
    }
    Ok(names)
}

/// The operands of an alert expression's comparisons and set operations at its top level (and in
/// parentheses around them), without number literals: what must return data for the alert to
/// mean anything.
pub fn operands(expr: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    collect_operands(expr.trim(), &mut out)?;
    Ok(out)
}

fn collect_operands(expr: &str, out: &mut Vec<String>) -> Result<(), String> {
    let tokens = tokens(expr)?;
    let Some(first) = tokens.first() else {
        return Err("an empty operand".to_owned());
    };
    // `( ... )` around the whole: look inside.
    if first.text == "(" && closing(&tokens, 0)? == tokens.len() - 1 {
        let inner = &expr[first.end..tokens[tokens.len() - 1].start];
        return collect_operands(inner.trim(), out);
    }
    // Split at the top-level comparisons and set operations.
    let mut parts = Vec::new();
    let mut part_start = 0;
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        match token.kind {
            Kind::Open => depth += 1,
            Kind::Close => depth -= 1,
            Kind::Operator | Kind::Identifier
                if depth == 0
                    && (COMPARISONS.contains(&token.text)
                        || SET_OPERATIONS.contains(&token.text)) =>
            {
                parts.push(&expr[part_start..token.start]);
                // Skip the operator's modifiers: bool, on/ignoring (...), group_left/right (...).
                i += 1;
                while let Some(modifier) = tokens.get(i) {
                    if modifier.text == "bool" {
                        i += 1;
                    } else if LABEL_LIST_KEYWORDS.contains(&modifier.text) {
                        i += 1;
                        if tokens.get(i).is_some_and(|next| next.text == "(") {
                            i = closing(&tokens, i)? + 1;
                        }
                    } else {
                        break;
                    }
                }
                part_start = tokens.get(i).map_or(expr.len(), |next| next.start);
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if parts.is_empty() {
        // No comparison here: this is an operand.
        let literal = tokens
            .iter()
            .all(|token| token.kind == Kind::Number || token.text == "-");
        if !literal {
            out.push(expr.to_owned());
        }
        return Ok(());
    }
    parts.push(&expr[part_start..]);
    for part in parts {
        collect_operands(part.trim(), out)?;
    }
    Ok(())
}
