//! What a request asks for besides its path, read from headers and the query string that anyone
//! may send: the language and the form of the scan page's answer, and a resolver link type.
//! Each reader is total (any text gives an answer, never a panic) and fuzzed
//! (`fuzz/fuzz_targets/trace_inputs.rs`).

/// Whether an `Accept` header asks for HTML before JSON: a browser's does (`text/html,...`),
/// an app's (`application/json`) and a bare `*/*` do not.
pub fn wants_html(accept: &str) -> bool {
    let quality = |wanted: &str| {
        accept
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let range = pieces.next()?.trim();
                range.eq_ignore_ascii_case(wanted).then(|| {
                    pieces
                        .find_map(|piece| piece.trim().strip_prefix("q="))
                        .and_then(|q| q.parse::<f32>().ok())
                        .unwrap_or(1.0)
                })
            })
            .fold(0.0_f32, f32::max)
    };
    let html = quality("text/html");
    html > 0.0 && html >= quality("application/json")
}

/// The languages of the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    English,
    Chinese,
}

impl Language {
    /// The first language of an `Accept-Language` header the page is written in (English when
    /// none is): `zh`, `zh-CN`, `zh-Hans` and the like are Simplified Chinese.
    pub fn of(accept_language: &str) -> Self {
        let mut ranked: Vec<(f32, &str)> = accept_language
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let quality = pieces
                    .find_map(|piece| piece.trim().strip_prefix("q="))
                    .and_then(|q| q.parse::<f32>().ok())
                    .unwrap_or(1.0);
                (!tag.is_empty() && quality > 0.0).then_some((quality, tag))
            })
            .collect();
        // Highest quality first; equal ones keep their order.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, tag) in ranked {
            let tag = tag.to_ascii_lowercase();
            if tag == "zh" || tag.starts_with("zh-") {
                // Traditional Chinese is not written here: English serves it better than the
                // wrong script.
                if tag.contains("hant") || tag.ends_with("-tw") || tag.ends_with("-hk") {
                    continue;
                }
                return Self::Chinese;
            }
            if tag == "en" || tag.starts_with("en-") {
                return Self::English;
            }
        }
        Self::English
    }

    /// Its language tag, for the page's `lang`.
    pub fn code(self) -> &'static str {
        match self {
            Self::English => "en",
            Self::Chinese => "zh-Hans",
        }
    }
}

/// The `linkType` of a query string, percent-decoded (the first, if several).
pub fn link_type(query: &str) -> Option<String> {
    let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(query).ok()?;
    pairs
        .into_inner()
        .into_iter()
        .find(|(name, _)| name == "linkType")
        .map(|(_, value)| value)
}
