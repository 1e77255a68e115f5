//! The scan page: the verdict a scan route answers in JSON, written as one HTML page for the
//! consumer's browser. Mobile first, no asset from elsewhere (the CSS is inline; the one script,
//! `/check.js`, comes from this service and is cached by version),
//! readable without the script, landmarks and headings for screen readers, text that says what
//! colour only hints at, in English or Simplified Chinese by `Accept-Language`. Every text that
//! comes from the log (identifiers, places, reporters, details) is escaped; nothing personal is
//! shown, since the verdict's journey holds no event fields but the standard ones. A long journey
//! is cut to its last [`SHOWN_STEPS`] steps so that the page stays under 30 KB.
//!
//! The script ([`CHECK_SCRIPT`], `check.js`) re-checks on the consumer's own device what the
//! page rests on: it fetches the item's provenance bundle and verifies, with WebCrypto, the log's
//! signature on its checkpoint (against the keys of `ledger.checkpoint_keys`, handed over in a
//! JSON data block), each event's exact bytes against its leaf record, each inclusion proof, the
//! consistency proof to the anchored checkpoint and that checkpoint's signature, and that every
//! journey step shown is one of the bundle's events, and that the verifiable index lists no
//! event of the history the bundle left out. It then says "verified on this device" or exactly
//! what failed. The [`CONTENT_SECURITY_POLICY`] lets that one script run (by its hash, the page
//! naming it with its subresource integrity) and fetch from this origin only.

use std::sync::LazyLock;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

pub use crate::negotiate::{Language, wants_html};

/// The most journey steps a page shows (the newest); the rest are in the history.
pub const SHOWN_STEPS: usize = 24;

/// The most reasons a page shows (in the verdict's order: the table's); the rest are in the
/// JSON answer.
pub const SHOWN_REASONS: usize = 16;

/// The fixed words of the page, in one language.
struct Words {
    title: &'static str,
    verdicts: [(&'static str, &'static str, &'static str); 4],
    why: &'static str,
    journey: &'static str,
    earlier: &'static str,
    checked: &'static str,
    checkpoint: &'static str,
    anchored: &'static str,
    not_anchored: &'static str,
    bundle: &'static str,
    history: &'static str,
    by: &'static str,
    refused: &'static str,
    /// Said of a step an error declaration withdrew.
    withdrawn: &'static str,
    /// Said of an error declaration.
    correction: &'static str,
    entries: &'static str,
    nothing: &'static str,
    device: &'static str,
    /// Said first, above the verdict, when the item is under recall: a heading and what to do.
    recalled: (&'static str, &'static str),
    /// Said first, when a link names a product whose lots are under recall (`lots_recalled`):
    /// a heading and what to do.
    lots_recalled: (&'static str, &'static str),
    /// The in-browser check's words, by the codes `check.js` reports (`{name}`: a value it
    /// fills in).
    check: &'static [(&'static str, &'static str)],
}

const ENGLISH: Words = Words {
    title: "Is it genuine?",
    verdicts: [
        (
            "genuine",
            "Genuine",
            "Its maker brought it into being, nothing in its journey is suspicious, and every record is anchored.",
        ),
        (
            "suspicious",
            "Suspicious",
            "Something in its records cannot be explained by one genuine item. Do not rely on it.",
        ),
        (
            "unknown",
            "Unknown",
            "Nothing we hold shows that its maker brought it into being.",
        ),
        (
            "not_anchored_yet",
            "Not anchored yet",
            "Nothing is suspicious so far, but some records are not anchored yet. Check again in a few minutes.",
        ),
    ],
    why: "Why",
    journey: "Its journey",
    earlier: "earlier steps are in the full history",
    checked: "How this was checked",
    checkpoint: "Log checkpoint",
    anchored: "Anchored on chain up to entry",
    not_anchored: "No checkpoint is anchored on chain yet",
    bundle: "Download the proof bundle",
    history: "The full history (JSON)",
    by: "reported by",
    refused: "reported without authority: changed nothing",
    withdrawn: "declared erroneous by whoever reported it: changed nothing",
    correction: "a correction of the record above",
    entries: "entries",
    nothing: "No event names this item.",
    device: "Checked on this device",
    recalled: (
        "Recalled",
        "This product has been recalled. Do not use it, and follow the recall notice below.",
    ),
    lots_recalled: (
        "Some lots recalled",
        "Some lots of this product have been recalled. Compare the lot number on your pack with \
         those below: if it is one of them, do not use it.",
    ),
    check: &[
        ("checking", "Checking the proofs on this device…"),
        ("verified", "Verified on this device"),
        (
            "failed",
            "The check on this device failed: do not rely on this page",
        ),
        ("unchecked", "Not checked on this device"),
        (
            "incomplete",
            "Checked on this device, except that no event was left out",
        ),
        (
            "ok_signature",
            "The log's signature on its checkpoint of {size} entries (key {key}).",
        ),
        (
            "ok_events",
            "{events} events are in that checkpoint's tree, and {bytes} of them are byte for byte the ones the log recorded.",
        ),
        (
            "ok_anchored",
            "That checkpoint is consistent with the one anchored on chain {chain} in block {block} ({anchored} entries), which holds {covered} of these events.",
        ),
        (
            "no_anchor",
            "No anchored checkpoint covers these records yet.",
        ),
        (
            "ok_journey",
            "Each of the {shown} steps shown above is one of these events, as shown: its time, step, place, reporter and refusal.",
        ),
        (
            "partial",
            "{checked} of the {shown} steps shown above are in the proof bundle, as shown; its writer left out others' events, so the rest could not be checked.",
        ),
        ("norecord", "There is no record of this item to check."),
        (
            "ok_complete",
            "The log's index, to which that checkpoint commits, lists {listed} entries under the identifiers this history follows ({keys} in all: the item, its containers, what it was made from or into), and the bundle holds every one: no event up to entry {through} was left out.",
        ),
        (
            "no_index",
            "That checkpoint commits to no index of the log, so nothing shows that no event of this history was left out.",
        ),
        (
            "foreign",
            "This device cannot work out the index key of {name}, so it cannot show that no event of this history was left out (tagtrail verify can).",
        ),
        (
            "crowded",
            "This history follows more than 256 identifiers ({count}); this device does not show it complete.",
        ),
        (
            "unbound",
            "The event at entry {leaf} has an older leaf record that does not bind its bytes, so this device cannot show that no event of this history was left out.",
        ),
        (
            "omitted",
            "The bundle's writer says it left out {said} events of this history, and the log's index lists {count} entries the bundle does not hold: the history is not shown complete.",
        ),
        (
            "unproven",
            "The bundle carries no index proof of every entry naming {name} ({count} identifiers without one): events naming it are not shown complete.",
        ),
        (
            "behind",
            "No event up to entry {through} was left out, but the log's index does not cover the rest of the checkpoint's {size} entries: nothing shows that none of those was left out.",
        ),
        (
            "not_checked",
            "Not checked here: the verdict itself, whether each reporter had the authority the bundle says, the devices' signatures, the event hashes and the anchoring transaction (tagtrail verify checks all but the verdict).",
        ),
        (
            "unsupported",
            "This browser cannot check Ed25519 signatures: nothing was checked on this device.",
        ),
        (
            "nokey",
            "This service publishes no key of its log to check against: nothing was checked on this device.",
        ),
        ("fetch", "The proof bundle could not be fetched ({status})."),
        ("format", "The proof bundle cannot be read: {what}."),
        (
            "note",
            "The log's checkpoint is not a well-formed signed note.",
        ),
        (
            "note_anchored",
            "The anchored checkpoint is not a well-formed signed note.",
        ),
        (
            "signature",
            "No signature by the log's key verifies on its checkpoint.",
        ),
        (
            "signature_anchored",
            "No signature by the log's key verifies on the anchored checkpoint.",
        ),
        (
            "size",
            "The event at entry {leaf} is proved in a tree of {got} entries, not in the checkpoint's {want}.",
        ),
        (
            "bytes",
            "The event at entry {leaf} is not, byte for byte, the one the log recorded.",
        ),
        (
            "record",
            "The leaf record of the event at entry {leaf} is malformed.",
        ),
        (
            "inclusion",
            "The event at entry {leaf} is not in the checkpoint's tree: its inclusion proof fails.",
        ),
        (
            "consistency",
            "The checkpoint of {old} entries is not consistent with the one of {new}: the log was forked or rewritten.",
        ),
        (
            "missing",
            "The step at entry {leaf} shown above is not in the proof bundle.",
        ),
        (
            "step",
            "The step at entry {leaf} shown above is not what the log recorded for it.",
        ),
        ("origin", "The anchored checkpoint is another log's."),
        (
            "stripped",
            "The log's checkpoint commits to an index of {size} entries, and the proof bundle carries none of its proofs: they were removed.",
        ),
        (
            "index_head",
            "The index head in the proof bundle is not the one the log's checkpoint commits to: {what}.",
        ),
        (
            "index_proof",
            "Index proof {n} in the proof bundle does not verify: {what}.",
        ),
        (
            "left_out",
            "The log's index lists entry {leaf} under {name}, and the proof bundle does not hold it: an event of this history was left out ({count} in all).",
        ),
        (
            "unlisted",
            "The event at entry {leaf} names {name}, yet the index proof of that identifier does not list it: the index leaves an entry out.",
        ),
    ],
};

const CHINESE: Words = Words {
    title: "是正品吗？",
    verdicts: [
        (
            "genuine",
            "正品",
            "由其制造方创建，流转过程中没有可疑之处，所有记录均已锚定。",
        ),
        (
            "suspicious",
            "可疑",
            "其记录中有无法用同一件正品解释的情况。请勿轻信。",
        ),
        (
            "unknown",
            "未知",
            "我们掌握的记录无法证明它由其制造方创建。",
        ),
        (
            "not_anchored_yet",
            "尚未锚定",
            "目前没有可疑之处，但部分记录尚未锚定。请几分钟后再查。",
        ),
    ],
    why: "依据",
    journey: "流转记录",
    earlier: "更早的步骤见完整历史",
    checked: "如何核验",
    checkpoint: "日志检查点",
    anchored: "已锚定到区块链，截至条目",
    not_anchored: "尚无检查点锚定到区块链",
    bundle: "下载证明包",
    history: "完整历史（JSON）",
    by: "报告方",
    refused: "无权报告：未被采纳",
    withdrawn: "已被报告方声明为错误：未被采纳",
    correction: "对上述记录的更正",
    entries: "条",
    nothing: "没有事件提到此商品。",
    device: "在本机核验",
    recalled: (
        "已召回",
        "此产品已被召回。请停止使用，并按下方的召回通知处理。",
    ),
    lots_recalled: (
        "部分批次已召回",
        "此产品的部分批次已被召回。请核对包装上的批号：如在下列批次中，请停止使用。",
    ),
    check: &[
        ("checking", "正在本机核验证明……"),
        ("verified", "已在本机核验"),
        ("failed", "本机核验失败：请勿相信本页"),
        ("unchecked", "未在本机核验"),
        ("incomplete", "已在本机核验，但未能证明没有遗漏事件"),
        (
            "ok_signature",
            "日志对其 {size} 条检查点的签名（密钥 {key}）。",
        ),
        (
            "ok_events",
            "{events} 个事件在该检查点的树中，其中 {bytes} 个与日志记录的逐字节一致。",
        ),
        (
            "ok_anchored",
            "该检查点与链 {chain} 第 {block} 块中锚定的检查点（{anchored} 条）一致，其中包含 {covered} 个这些事件。",
        ),
        ("no_anchor", "尚无锚定的检查点涵盖这些记录。"),
        (
            "ok_journey",
            "上面显示的 {shown} 个步骤都是这些事件之一，时间、步骤、地点、报告方和是否被拒均与显示一致。",
        ),
        (
            "partial",
            "上面显示的 {shown} 个步骤中有 {checked} 个在证明包中且与显示一致；证明包的生成方省略了他方的事件，其余步骤无法核验。",
        ),
        ("norecord", "没有此商品的记录可供核验。"),
        (
            "ok_complete",
            "该检查点所承诺的日志索引在此历史涉及的标识（共 {keys} 个：商品本身、其容器、其原料或产物）下列出 {listed} 个条目，证明包全部包含：截至条目 {through} 没有遗漏任何事件。",
        ),
        (
            "no_index",
            "该检查点未承诺日志索引，因此无法证明此历史没有遗漏事件。",
        ),
        (
            "foreign",
            "本机无法算出 {name} 的索引键，因此无法证明此历史没有遗漏事件（tagtrail verify 可以）。",
        ),
        (
            "crowded",
            "此历史涉及超过 256 个标识（{count} 个）；本机无法证明其完整。",
        ),
        (
            "unbound",
            "条目 {leaf} 的事件使用不绑定事件字节的旧版叶记录，因此本机无法证明此历史没有遗漏事件。",
        ),
        (
            "omitted",
            "证明包的生成方称省略了此历史的 {said} 个事件，日志索引列出 {count} 个证明包中没有的条目：无法证明历史完整。",
        ),
        (
            "unproven",
            "证明包中没有涵盖 {name} 全部条目的索引证明（共 {count} 个标识缺少证明）：提到它的事件无法证明完整。",
        ),
        (
            "behind",
            "截至条目 {through} 没有遗漏事件，但日志索引未涵盖检查点 {size} 条中的其余条目：无法证明其中没有遗漏。",
        ),
        (
            "not_checked",
            "此处未核验：判定本身、各报告方是否具有证明包所述的权限、设备签名、事件哈希和锚定交易（tagtrail verify 会核验判定以外的全部内容）。",
        ),
        (
            "unsupported",
            "此浏览器无法核验 Ed25519 签名：未在本机核验任何内容。",
        ),
        (
            "nokey",
            "此服务未公布可用于核验的日志密钥：未在本机核验任何内容。",
        ),
        ("fetch", "无法获取证明包（{status}）。"),
        ("format", "无法读取证明包：{what}。"),
        ("note", "日志的检查点不是格式正确的签名笔记。"),
        ("note_anchored", "锚定的检查点不是格式正确的签名笔记。"),
        ("signature", "检查点上没有可通过核验的日志密钥签名。"),
        (
            "signature_anchored",
            "锚定的检查点上没有可通过核验的日志密钥签名。",
        ),
        (
            "size",
            "条目 {leaf} 的事件证明所用的树有 {got} 条，而不是检查点的 {want} 条。",
        ),
        ("bytes", "条目 {leaf} 的事件与日志记录的不是逐字节一致。"),
        ("record", "条目 {leaf} 的事件的叶记录格式错误。"),
        (
            "inclusion",
            "条目 {leaf} 的事件不在检查点的树中：其包含证明不成立。",
        ),
        (
            "consistency",
            "{old} 条的检查点与 {new} 条的检查点不一致：日志被分叉或改写。",
        ),
        ("missing", "上面显示的条目 {leaf} 的步骤不在证明包中。"),
        ("step", "上面显示的条目 {leaf} 的步骤与日志记录的不一致。"),
        ("origin", "锚定的检查点属于另一个日志。"),
        (
            "stripped",
            "日志的检查点承诺了 {size} 条的索引，而证明包不含任何索引证明：它们被删除了。",
        ),
        (
            "index_head",
            "证明包中的索引头不是日志检查点所承诺的：{what}。",
        ),
        ("index_proof", "证明包中的索引证明 {n} 不成立：{what}。"),
        (
            "left_out",
            "日志索引在 {name} 下列出条目 {leaf}，而证明包中没有它：此历史遗漏了事件（共 {count} 个）。",
        ),
        (
            "unlisted",
            "条目 {leaf} 的事件提到 {name}，但该标识的索引证明没有列出它：索引遗漏了条目。",
        ),
    ],
};

/// HTML text: `&`, `<`, `>`, `"` and `'` escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A CBV term without its namespace, readable (`retail selling`).
fn term(value: &Value) -> Option<String> {
    let text = value.as_str()?;
    let bare = text
        .rsplit_once(['-', ':'])
        .filter(|_| text.starts_with("urn:") || text.starts_with("http"))
        .map_or(text, |(_, bare)| bare);
    Some(bare.replace('_', " "))
}

const STYLE: &str = "body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#1a1a1a;background:#fff}\
header,main,footer{max-width:40rem;margin:0 auto;padding:1rem}\
.v{border-radius:.5rem;padding:1rem;border:3px solid}\
.genuine{background:#e6f4ea;border-color:#1e7b34}.suspicious{background:#fdecea;border-color:#b3261e}\
.unknown{background:#f1f3f4;border-color:#5f6368}.recall{background:#b3261e;color:#fff;border-color:#7a1a14;margin-bottom:1rem}\
.recall .d{color:#fff}.not_anchored_yet{background:#fff4e0;border-color:#8a5a00}\
h1{font-size:1.1rem;margin:0}.v p{margin:.25rem 0 0}.v strong{font-size:1.6rem}\
#tt-status{font-weight:600;margin:.75rem 0 .25rem}[data-state=verified] #tt-status{color:#1e7b34}\
[data-state=failed] #tt-status{color:#b3261e}[data-state=incomplete] #tt-status{color:#8a5a00}[data-state=verified] #tt-status::before{content:\"\\2713  \"}\
[data-state=failed] #tt-status::before{content:\"\\2717  \"}summary{cursor:pointer;color:#444}\
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}ul,ol{padding-left:1.25rem}li{margin:.35rem 0}\
.d{color:#444;font-size:.9rem;word-break:break-word}a{color:#0b57d0}footer{color:#444;font-size:.85rem}";

/// The script that re-checks the page's bundle in the browser, served at `/check.js`.
pub const CHECK_SCRIPT: &str = include_str!("check.js");

/// [`CHECK_SCRIPT`]'s SHA-256 in standard base64: its integrity, and the hash the
/// [`CONTENT_SECURITY_POLICY`] lets run.
static SCRIPT_HASH: LazyLock<String> = LazyLock::new(|| {
    ledger::Hash::from_bytes(Sha256::digest(CHECK_SCRIPT.as_bytes()).into()).to_base64()
});

/// The version the page names the script by (`/check.js?v=`): the first 16 hex digits of its
/// SHA-256, so that a new script is a new address and the old one can be cached for good.
static SCRIPT_VERSION: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(CHECK_SCRIPT.as_bytes());
    ledger::Hash::from_bytes(digest.into()).to_hex()[..16].to_owned()
});

/// The page's Content-Security-Policy: no asset from elsewhere, inline styles, the one script
/// [`CHECK_SCRIPT`] by its hash, fetches from this origin only, nothing framed.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; script-src 'sha256-{}'; \
         connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        SCRIPT_HASH.as_str()
    )
});

/// `GET /check.js`: the page's script. Asked for by its current version (`?v=`, as the page
/// names it) it may be cached for a year; otherwise (no version, or another one) it is
/// revalidated each time, by its `ETag`.
pub async fn script(request: HttpRequest) -> HttpResponse {
    let version = SCRIPT_VERSION.as_str();
    let current = request
        .query_string()
        .split('&')
        .any(|pair| pair.strip_prefix("v=") == Some(version));
    let etag = format!("\"{version}\"");
    let cache = match current {
        true => "public, max-age=31536000, immutable",
        false => "no-cache",
    };
    let fresh = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|tag| tag.trim() == etag));
    let mut answer = match fresh {
        true => HttpResponse::NotModified().finish(),
        false => HttpResponse::Ok()
            .content_type("text/javascript; charset=utf-8")
            .body(CHECK_SCRIPT),
    };
    let headers = answer.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    if let Ok(etag) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, etag);
    }
    answer
}

/// JSON to go inside a `<script>` element: `<` written as `\u003c`, so no `</script>` (or
/// `<!--`) in the data can end the element early.
fn script_data(value: &Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

/// The page of a scan's `answer` (the JSON the scan route answers) in `language`; its script
/// checks the bundle against `checkpoint_keys` (verifier key texts).
pub fn render(answer: &Value, language: Language, checkpoint_keys: &[String]) -> String {
    let words = match language {
        Language::English => &ENGLISH,
        Language::Chinese => &CHINESE,
    };
    let verdict = answer["verdict"].as_str().unwrap_or("unknown");
    let (_, headline, explanation) = words
        .verdicts
        .iter()
        .find(|(code, _, _)| *code == verdict)
        .copied()
        .unwrap_or(words.verdicts[2]);
    let item = escape(answer["item"]["asked"].as_str().unwrap_or(""));
    // A recall is said first, above the verdict, with the brand's entry that says it.
    // A product link whose lots are recalled says so as loudly, telling the consumer to compare
    // the lot number on the pack.
    let detail_of = |code: &str| {
        answer["reasons"]
            .as_array()
            .and_then(|reasons| reasons.iter().find(|reason| reason["code"] == code))
            .and_then(|reason| reason["detail"].as_str())
    };
    let banner = match (
        answer["recalled"].as_bool() == Some(true),
        detail_of("lots_recalled"),
    ) {
        (true, _) => Some((words.recalled, detail_of("recalled").unwrap_or(""))),
        (false, Some(lots)) => Some((words.lots_recalled, lots)),
        (false, None) => None,
    };
    let recall = match banner {
        Some(((heading, what), detail)) => format!(
            "<section class=\"v recall\" role=\"alert\"><strong>{}</strong><p>{}</p>\
             <p class=\"d\">{}</p></section>",
            escape(heading),
            escape(what),
            escape(detail)
        ),
        None => String::new(),
    };
    let title = match banner {
        None => format!("{} {}", escape(headline), escape(words.title)),
        Some(((heading, _), _)) => format!(
            "{} · {} {}",
            escape(heading),
            escape(headline),
            escape(words.title)
        ),
    };
    let mut page = String::with_capacity(8 * 1024);
    page.push_str(&format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title><style>{STYLE}</style></head><body>",
        language.code(),
    ));
    page.push_str(&format!(
        "<header><h1>{}</h1><p class=\"d\">{item}</p></header><main>\
         {recall}<section class=\"v {verdict}\" aria-live=\"polite\"><strong>{}</strong><p>{}</p></section>\
         <section id=\"tt-check\" hidden aria-live=\"polite\"><p id=\"tt-status\"></p>\
         <details><summary>{}</summary><ul id=\"tt-details\"></ul></details></section>",
        escape(words.title),
        escape(headline),
        escape(explanation),
        escape(words.device),
    ));
    // Why: each reason's meaning, and what was found.
    page.push_str(&format!("<section><h2>{}</h2><ul>", escape(words.why)));
    let reasons: &[Value] = answer["reasons"].as_array().map_or(&[], Vec::as_slice);
    for reason in reasons.iter().take(SHOWN_REASONS) {
        let code = reason["code"].as_str().unwrap_or("");
        let meaning = ledger::verdict::rule(code).map_or(code, |rule| match language {
            Language::English => rule.meaning,
            Language::Chinese => rule.meaning_zh,
        });
        page.push_str(&format!(
            "<li>{}<br><span class=\"d\">{}</span></li>",
            escape(meaning),
            escape(reason["detail"].as_str().unwrap_or(""))
        ));
    }
    page.push_str("</ul>");
    if reasons.len() > SHOWN_REASONS {
        page.push_str(&format!(
            "<p class=\"d\">+{}</p>",
            reasons.len() - SHOWN_REASONS
        ));
    }
    page.push_str("</section>");
    // The journey, newest steps last, cut to the newest SHOWN_STEPS.
    page.push_str(&format!("<section><h2>{}</h2>", escape(words.journey)));
    let steps: &[Value] = answer["journey"].as_array().map_or(&[], Vec::as_slice);
    // What the check compares each shown step with: entry, time, business step, type, place,
    // reporter, refused.
    let mut shown: Vec<Value> = Vec::with_capacity(steps.len().min(SHOWN_STEPS));
    if steps.is_empty() {
        page.push_str(&format!("<p>{}</p>", escape(words.nothing)));
    } else {
        let skipped = steps.len().saturating_sub(SHOWN_STEPS);
        if skipped > 0 {
            page.push_str(&format!(
                "<p class=\"d\">{skipped} {}</p>",
                escape(words.earlier)
            ));
        }
        page.push_str("<ol>");
        for step in &steps[skipped..] {
            let place = step["bizLocation"]
                .as_str()
                .or(step["readPoint"].as_str())
                .map_or(Value::Null, |place| json!(place));
            let refused = step["authority"]["kind"] == "unauthorised";
            shown.push(json!([
                step["leafIndex"],
                step["eventTime"],
                step["bizStep"],
                step["type"],
                place,
                step["reportedBy"],
                refused
            ]));
            // A step without a business step says its disposition (a recall: "recalled").
            let what = term(&step["bizStep"])
                .or_else(|| term(&step["disposition"]))
                .or_else(|| step["type"].as_str().map(str::to_owned))
                .unwrap_or_default();
            let place = step["bizLocation"]
                .as_str()
                .or(step["readPoint"].as_str())
                .unwrap_or("");
            // What the step changed: nothing when refused or withdrawn; a correction repeats
            // the step it corrects.
            let note = if step["authority"]["kind"] == "unauthorised" {
                format!(" — {}", words.refused)
            } else if step["withdrawnBy"].is_u64() {
                format!(" — {}", words.withdrawn)
            } else if step["correction"] == true {
                format!(" — {}", words.correction)
            } else {
                String::new()
            };
            page.push_str(&format!(
                "<li><strong>{}</strong> <time>{}</time><br><span class=\"d\">{} · {} {}{}</span></li>",
                escape(&what),
                escape(step["eventTime"].as_str().unwrap_or("")),
                escape(place),
                escape(words.by),
                escape(step["reportedBy"].as_str().unwrap_or("?")),
                escape(&note)
            ));
        }
        page.push_str("</ol>");
    }
    page.push_str("</section>");
    // How it was checked.
    let checkpoint = &answer["checkpoint"];
    let anchoring = match checkpoint["anchoredTreeSize"].as_u64() {
        Some(size) => format!("{} {size}", escape(words.anchored)),
        None => escape(words.not_anchored),
    };
    page.push_str(&format!(
        "<section><h2>{}</h2><ul><li>{}: {} {}</li><li>{anchoring}</li>",
        escape(words.checked),
        escape(words.checkpoint),
        checkpoint["treeSize"].as_u64().unwrap_or(0),
        escape(words.entries),
    ));
    // A lot or a product has no bundle to check on the device: its page has neither the links
    // nor the script.
    let Some(bundle) = answer["links"]["bundle"].as_str() else {
        page.push_str("</ul></section></main><footer>tagtrail</footer></body></html>");
        return page;
    };
    page.push_str(&format!(
        "<li><a href=\"{}\">{}</a></li><li><a href=\"{}\">{}</a></li></ul></section>",
        escape(bundle),
        escape(words.bundle),
        escape(answer["links"]["history"].as_str().unwrap_or("")),
        escape(words.history),
    ));
    // What the check on the consumer's device needs (its section, under the verdict, is
    // hidden until the script runs).
    let data = json!({
        "bundle": bundle,
        "keys": checkpoint_keys,
        "item": answer["item"]["asked"],
        "steps": shown,
        "words": words.check.iter().map(|(code, text)| (code.to_string(), json!(text))).collect::<Map<String, Value>>(),
    });
    page.push_str(&format!(
        "<script type=\"application/json\" id=\"tt-check-data\">{}</script>\
         <script src=\"/check.js?v={}\" integrity=\"sha256-{}\" defer></script>",
        script_data(&data),
        SCRIPT_VERSION.as_str(),
        SCRIPT_HASH.as_str()
    ));
    page.push_str("</main><footer>tagtrail</footer></body></html>");
    page
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(steps: usize) -> Value {
        let step = json!({"leafIndex": 1, "eventTime": "2026-03-01T10:00:00Z",
            "type": "ObjectEvent", "bizStep": "urn:epcglobal:cbv:bizstep:retail_selling",
            "readPoint": "urn:epc:id:sgln:0614141.00002.<script>alert(1)</script>",
            "reportedBy": "shop & co", "authority": {"kind": "authorised"}});
        json!({
            "item": {"asked": "https://id.gs1.org/01/80614141123458/21/6789"},
            "verdict": "suspicious",
            "reasons": [{"code": "tid_mismatch", "weight": "suspicious", "evidence": [1, 2],
                "detail": "chips <A>, \"B\" were read"}],
            "checkpoint": {"treeSize": 12, "anchoredTreeSize": 10},
            "journey": vec![step; steps],
            "links": {"history": "/items/x/history", "bundle": "/items/x/bundle"},
        })
    }

    #[test]
    fn the_page_says_the_verdict_and_escapes_what_the_log_gave() {
        let page = render(&answer(3), Language::English, &[]);
        assert!(page.starts_with("<!doctype html><html lang=\"en\">"));
        assert!(page.contains("<strong>Suspicious</strong>"));
        assert!(page.contains("<strong>retail selling</strong>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("shop &amp; co"));
        assert!(page.contains("chips &lt;A&gt;, &quot;B&quot; were read"));
        // The page's own two scripts (the data block and the check), nothing the log wrote.
        assert_eq!(page.matches("<script").count(), 2);
        assert!(page.contains("Anchored on chain up to entry 10"));
        assert!(page.contains("<a href=\"/items/x/bundle\">"));
    }

    #[test]
    fn a_recall_is_said_first_above_the_verdict_in_both_languages() {
        let mut recalled = answer(2);
        recalled["recalled"] = json!(true);
        recalled["reasons"] = json!([{"code": "recalled", "weight": "recall", "evidence": [7],
            "detail": "A <b>recalled</b> the item at 2026-03-02T00:00:00Z"}]);
        let page = render(&recalled, Language::English, &[]);
        let banner = page
            .find("<section class=\"v recall\" role=\"alert\">")
            .unwrap();
        assert!(banner < page.find("<strong>Suspicious</strong>").unwrap());
        assert!(page.contains("<title>Recalled · Suspicious Is it genuine?</title>"));
        assert!(page.contains("Do not use it"));
        assert!(page.contains("A &lt;b&gt;recalled&lt;/b&gt; the item"));
        let page = render(&recalled, Language::Chinese, &[]);
        assert!(page.contains("<strong>已召回</strong>"));
        // Not recalled: no banner.
        let page = render(&answer(2), Language::English, &[]);
        assert!(!page.contains("class=\"v recall\""));
        // A product's link whose lots are recalled: a banner of its own, naming the lots.
        let mut lots = answer(0);
        lots["reasons"] = json!([{"code": "lots_recalled", "weight": "note", "evidence": [7],
            "detail": "lot L7 of this product is under recall: compare the lot number on the pack"}]);
        let page = render(&lots, Language::English, &[]);
        let banner = page
            .find("<section class=\"v recall\" role=\"alert\"><strong>Some lots recalled")
            .unwrap();
        assert!(banner < page.find("<strong>Suspicious</strong>").unwrap());
        assert!(page.contains("lot L7 of this product is under recall"));
        assert!(page.contains("<title>Some lots recalled · "));
        let page = render(&lots, Language::Chinese, &[]);
        assert!(page.contains("<strong>部分批次已召回</strong>"));
    }

    #[test]
    fn the_check_gets_the_keys_the_shown_steps_and_data_that_cannot_end_its_element() {
        let mut hostile = answer(2);
        hostile["links"]["bundle"] = json!("/items/</script><script>alert(1)<!--/bundle");
        let keys = ["trace.test/log+0a1b2c3d+AQ".to_owned()];
        let page = render(&hostile, Language::English, &keys);
        assert_eq!(page.matches("<script").count(), 2);
        assert_eq!(page.matches("</script>").count(), 2);
        let start = page.find("id=\"tt-check-data\">").unwrap() + "id=\"tt-check-data\">".len();
        let end = start + page[start..].find("</script>").unwrap();
        let data: Value = serde_json::from_str(&page[start..end]).unwrap();
        assert_eq!(
            data["bundle"],
            "/items/</script><script>alert(1)<!--/bundle"
        );
        assert_eq!(data["keys"], json!(keys));
        let step = json!([
            1,
            "2026-03-01T10:00:00Z",
            "urn:epcglobal:cbv:bizstep:retail_selling",
            "ObjectEvent",
            "urn:epc:id:sgln:0614141.00002.<script>alert(1)</script>",
            "shop & co",
            false
        ]);
        assert_eq!(data["steps"], json!([step.clone(), step]));
        assert_eq!(data["item"], "https://id.gs1.org/01/80614141123458/21/6789");
        assert_eq!(data["words"]["verified"], "Verified on this device");
        let csp = CONTENT_SECURITY_POLICY.as_str();
        assert!(csp.contains("script-src 'sha256-") && csp.contains("connect-src 'self'"));
        assert!(page.contains(&format!(
            "<script src=\"/check.js?v={}\" integrity=\"sha256-{}\" defer></script>",
            SCRIPT_VERSION.as_str(),
            SCRIPT_HASH.as_str()
        )));
    }

    #[actix_web::test]
    async fn the_script_is_cached_for_good_only_under_its_version() {
        use actix_web::test::TestRequest;
        let ask = |uri: &str| TestRequest::with_uri(uri).to_http_request();
        let header = |answer: &HttpResponse, name: header::HeaderName| {
            answer
                .headers()
                .get(name)
                .unwrap()
                .to_str()
                .unwrap()
                .to_owned()
        };
        let version = SCRIPT_VERSION.as_str();
        let answer = script(ask(&format!("/check.js?v={version}"))).await;
        assert_eq!(answer.status(), 200);
        assert_eq!(
            header(&answer, header::CONTENT_TYPE),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(
            header(&answer, header::CACHE_CONTROL),
            "public, max-age=31536000, immutable"
        );
        assert_eq!(header(&answer, header::ETAG), format!("\"{version}\""));
        let body = actix_web::body::to_bytes(answer.into_body()).await.unwrap();
        assert_eq!(body, CHECK_SCRIPT.as_bytes());
        // The page's integrity and the policy's hash are the served bytes'.
        let digest = ledger::Hash::from_bytes(Sha256::digest(&body).into());
        assert_eq!(digest.to_base64(), SCRIPT_HASH.as_str());
        assert_eq!(&digest.to_hex()[..16], version);
        // Another version, or none: the same script, revalidated every time.
        for uri in ["/check.js", "/check.js?v=0123456789abcdef", "/check.js?x=1"] {
            let answer = script(ask(uri)).await;
            assert_eq!(answer.status(), 200, "{uri}");
            assert_eq!(header(&answer, header::CACHE_CONTROL), "no-cache", "{uri}");
        }
        // Revalidated: not sent again.
        let again = TestRequest::with_uri("/check.js")
            .insert_header((header::IF_NONE_MATCH, format!("W/\"x\", \"{version}\"")))
            .to_http_request();
        let answer = script(again).await;
        assert_eq!(answer.status(), 304);
        assert!(
            actix_web::body::to_bytes(answer.into_body())
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn both_languages_word_every_outcome_of_the_check() {
        let codes = |words: &Words| {
            words
                .check
                .iter()
                .map(|(code, _)| *code)
                .collect::<Vec<_>>()
        };
        assert_eq!(codes(&ENGLISH), codes(&CHINESE));
        for code in codes(&ENGLISH) {
            let named = code.trim_end_matches("_anchored");
            assert!(CHECK_SCRIPT.contains(named), "check.js never names {code}");
        }
    }

    #[test]
    fn chinese_is_chosen_by_accept_language() {
        assert_eq!(Language::of("zh-CN,zh;q=0.9,en;q=0.8"), Language::Chinese);
        assert_eq!(Language::of("en-GB,zh-CN;q=0.5"), Language::English);
        assert_eq!(Language::of("fr;q=1, zh-Hans;q=0.8"), Language::Chinese);
        assert_eq!(Language::of("zh-TW"), Language::English);
        assert_eq!(Language::of("en;q=0.1, zh;q=0.9"), Language::Chinese);
        assert_eq!(Language::of(""), Language::English);
        assert_eq!(Language::of("zh;q=0"), Language::English);
        let page = render(&answer(1), Language::Chinese, &[]);
        assert!(page.starts_with("<!doctype html><html lang=\"zh-Hans\">"));
        assert!(page.contains("<strong>可疑</strong>"));
        assert!(page.contains("以此商品的 EPC 读到了另一枚标签芯片"));
    }

    #[test]
    fn browsers_get_html_and_apps_json() {
        assert!(wants_html(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(!wants_html("application/json"));
        assert!(!wants_html("*/*"));
        assert!(!wants_html(""));
        assert!(!wants_html("text/html;q=0.5, application/json"));
        assert!(!wants_html("text/html;q=0"));
        assert!(wants_html("application/json;q=0.5, text/html"));
    }

    #[test]
    fn a_long_journey_keeps_the_page_under_30_kb() {
        let mut long = answer(10_000);
        let reason = long["reasons"][0].clone();
        long["reasons"] = json!(vec![reason; 500]);
        // Both languages, with two checkpoint keys (a rotation) for the check.
        let keys = [
            "tagtrail.example/log+0a1b2c3d+AQ2xlx0mm1dUU5C3Ch3k0hYWdE3mLdUcw8I+gZo9JmbA".to_owned(),
            "tagtrail.example/log+4e5f6a7b+AUtxcVQ4l+0N6pybMfO9D6Lhe0bUc1F7bZIwY6tPpNBI".to_owned(),
        ];
        for language in [Language::English, Language::Chinese] {
            let page = render(&long, language, &keys);
            assert!(page.len() < 30 * 1024, "{language:?}: {} bytes", page.len());
            assert_eq!(page.matches("<li><strong>").count(), SHOWN_STEPS);
        }
        let page = render(&long, Language::English, &keys);
        assert!(page.contains(&format!("{} earlier steps", 10_000 - SHOWN_STEPS)));
    }
}
