"use strict";
// tagtrail: re-checks an item's provenance bundle on this device with WebCrypto.
// verify(text, config) never throws; the bootstrap at the end runs it on the scan page.
const C = () => crypto.subtle, utf8 = (s) => new TextEncoder().encode(s), DEC = /^(0|[1-9]\d*)$/;
const sha = async (...a) => new Uint8Array(await C().digest("SHA-256", Uint8Array.from(a.flatMap((x) => [...x]))));
const node = (l, r) => sha([1], l, r);
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const hex = (a) => Array.from(a, (x) => (x + 256).toString(16).slice(1)).join("");
// A failed check is thrown as [code, params].
const must = (ok, code, p = {}) => { if (!ok) throw [code, p]; };

// Standard base64, canonical only; n = 0: any length.
function b64(s, n, code, p) {
  let t;
  try { t = atob(s); } catch (e) { s = null; }
  must(btoa(t) === s && (!n || t.length === n), code, p);
  return Uint8Array.from(t, (c) => c.charCodeAt(0));
}
const path = (v, code, p) => (must(Array.isArray(v), code, p), v.map((h) => b64(h, 32, code, p)));
// Sizes and indexes may pass 2^53: lifted to strings before JSON.parse, read as BigInt.
const LIFT = /("(?:leafIndex|treeSize|oldSize|newSize)"\s*:\s*)(\d+)(?=\s*[,}])/g;
const big = (v, what) => (must(typeof v === "string" && DEC.test(v), "format", { what }), BigInt(v));

// name+id+base64(0x01 || key), id = SHA-256(name 0x0A 0x01 key)[0..4]
async function readKey(line) {
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(line) || [], raw = b64(m[3], 33, "nokey");
  must(raw[0] === 1 && hex((await sha(utf8(m[1]), [10], raw)).slice(0, 4)) === m[2], "nokey");
  const key = await C().importKey("raw", raw.slice(1), { name: "Ed25519" }, false, ["verify"]).catch(() => 0);
  must(key, "nokey");
  return { name: m[1], id: m[2], key };
}

// A checkpoint (signed note) -> its size, root and the trusted key that signed it.
async function openNote(note, keys, which) {
  const p = { which };
  must(typeof note === "string" && !/[\0-\t\v-\x1f\x7f]/.test(note), "note", p);
  const cut = note.lastIndexOf("\n\n"), text = note.slice(0, cut + 1);
  const lines = text.split("\n").slice(0, -1), sigs = note.slice(cut + 2).split("\n");
  must(cut > 0 && sigs.pop() === "" && sigs.length && sigs.length <= 100 && lines.length > 2 &&
    lines.every(Boolean) && DEC.test(lines[1]) && BigInt(lines[1]) <= 2n ** 63n, "note", p);
  const root = b64(lines[2], 32, "note", p);
  let ok;
  for (const line of sigs) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line) || [], sig = b64(m[2], 0, "note", p);
    // Only this log's keys (name = origin) count, by name and id; other signatures are ignored.
    const k = keys.find((k) => k.name === m[1] && k.name === lines[0] && k.id === hex(sig.slice(0, 4)));
    if (!k) continue;
    must(sig.length === 68 && await C().verify("Ed25519", k.key, sig.slice(4), utf8(text)), "signature", p);
    ok = k;
  }
  must(ok, "signature", p);
  return { origin: lines[0], size: BigInt(lines[1]), root, key: ok.name + "+" + ok.id };
}

// RFC 9162 2.1.3.2 and 2.1.4.2: the path walk -> [first root, second root], or null.
async function walk(fn, sn, h, hashes) {
  let fr = h, sr = h;
  for (const c of hashes) {
    if (!sn) return null;
    if (fn & 1n || fn === sn) {
      fr = await node(c, fr); sr = await node(c, sr);
      while (!(fn & 1n) && fn) { fn >>= 1n; sn >>= 1n; }
    } else sr = await node(sr, c);
    fn >>= 1n; sn >>= 1n;
  }
  return sn ? null : [fr, sr];
}
async function consistent(m, n, hs, a, b) {
  if (m === n) return !hs.length && eq(a, b);
  if (!m || !hs.length) return false;
  if (!(m & (m - 1n))) hs = [a, ...hs];
  let fn = m - 1n, sn = n - 1n;
  while (fn & 1n) { fn >>= 1n; sn >>= 1n; }
  const w = await walk(fn, sn, hs[0], hs.slice(1));
  return !!w && eq(w[0], a) && eq(w[1], b);
}

// The result, its lines from the templates ({x} -> params.x; no template: the code).
function result(state, code, p, words, codes = [code]) {
  for (const k in p) p[k] = String(p[k]);
  const fill = (c) => String((p.which === "anchored" && words[c + "_anchored"]) || words[c] || c)
    .replace(/\{(\w+)\}/g, (m, k) => (k in p ? p[k] : m));
  return { state, code, params: p, lines: codes.map(fill) };
}

async function verify(text, config) {
  config = config || {};
  const words = config.words || {}, base = new Uint8Array(32).fill(102);
  base[0] = 88; // the Ed25519 base point
  try {
    // 1. WebCrypto, then the keys.
    if (!await sha([]).then(() => C().importKey("raw", base, { name: "Ed25519" }, false, ["verify"])).catch(() => 0)) {
      return result("unchecked", "unsupported", {}, words);
    }
    must(Array.isArray(config.keys) && config.keys.length, "nokey");
    const keys = [];
    for (const line of config.keys) keys.push(await readKey(line));
    // 2. The bundle.
    let b;
    try { b = JSON.parse(String(text).replace(LIFT, '$1"$2"')); } catch (e) { /* below */ }
    const bad = (ok, what) => must(ok, "format", { what });
    bad(b && typeof b === "object", "not JSON");
    bad(b.version === 1 || b.version === 2, "version " + b.version);
    // The bundle of this page's item, not another's.
    bad(config.item === undefined || b.item === config.item, "it is the bundle of another item");
    bad(typeof b.checkpoint === "string" && Array.isArray(b.events) && b.events.length, "no checkpoint or events");
    // 3. The checkpoint. 4. The events.
    const cp = await openNote(b.checkpoint, keys, "checkpoint"), seen = new Map();
    let bytes = 0;
    for (const e of b.events) {
      const inc = (e && e.inclusion) || {}, leaf = big(inc.leafIndex, "leaf index");
      const size = big(inc.treeSize, "tree size"), p = { leaf };
      must(size === cp.size, "size", { leaf, got: size, want: cp.size });
      bad(!seen.has(leaf), "entry " + leaf + " twice");
      seen.set(leaf, e);
      const r = b64(e.leafRecord, 0, "record", p);
      must(r[0] === 2 ? r.length >= 65 : r[0] === 1 && r.length >= 33, "record", p);
      if (r[0] === 2) { // version 1 binds no event bytes
        must(typeof e.event === "string" && eq(r.slice(33, 65), await sha(utf8(e.event))), "bytes", p);
        bytes++;
      }
      const w = leaf < size && await walk(leaf, size - 1n, await sha([0], r), path(inc.hashes, "inclusion", p));
      must(w && eq(w[1], cp.root), "inclusion", p);
    }
    // 5. The anchored checkpoint, and consistency from the smaller tree to the larger.
    const an = b.anchored;
    let anchor = null;
    if (an != null) {
      bad(Array.isArray(an.anchors) && an.anchors[0], "no anchor");
      const ac = await openNote(an.checkpoint, keys, "anchored"), c = an.consistency || {};
      const [lo, hi] = cp.size <= ac.size ? [cp, ac] : [ac, cp], p = { old: lo.size, new: hi.size };
      must(ac.origin === cp.origin, "origin");
      must(c.oldSize === "" + lo.size && c.newSize === "" + hi.size &&
        await consistent(lo.size, hi.size, path(c.hashes, "consistency", p), lo.root, hi.root), "consistency", p);
      // How many of the events the anchored tree holds (a newer event is not anchored yet).
      const covered = [...seen.keys()].filter((leaf) => leaf < ac.size).length;
      anchor = { anchored: ac.size, covered, chain: an.anchors[0].chainId, block: an.anchors[0].blockNumber };
    }
    // 6. Every step the page shows is one of the events, as the page shows it: time, business
    // step, type, place, reporter and whether it was refused. A step missing from a bundle whose
    // writer says it left events out (a flood of others' events is cut shorter in a bundle than
    // in a history) leaves the check partial, never verified.
    const shown = config.steps || [];
    bad(shown.every((s) => Array.isArray(s) && Number.isSafeInteger(s[0])), "shown steps");
    let checked = 0;
    for (const [leaf, time, step, type, place, by, refused] of shown) {
      const e = seen.get(BigInt(leaf));
      if (!e) continue;
      let ev = {};
      try { ev = JSON.parse(e.event); } catch (x) { /* its bytes were checked: not reached */ }
      const id = (m) => (ev[m] && ev[m].id) || null;
      must(ev.eventTime === time && (ev.bizStep || null) === step && ev.type === type &&
        (id("bizLocation") || id("readPoint")) === place && (e.reportedBy || null) === by &&
        ((e.authority || {}).kind === "unauthorised") === refused, "step", { leaf });
      checked++;
    }
    const absent = shown.length - checked;
    must(!absent || (checked && Array.isArray(b.omitted) && b.omitted.length), "missing",
      { leaf: (shown.find((s) => !seen.has(BigInt(s[0]))) || [])[0] });
    if (absent) return result("unchecked", "partial", { checked, shown: shown.length }, words);
    return result("verified", "verified", { size: cp.size, key: cp.key, events: b.events.length, bytes,
      shown: shown.length, ...anchor }, words,
    ["ok_signature", "ok_events", anchor ? "ok_anchored" : "no_anchor", "ok_journey", "not_checked"]);
  } catch (e) {
    const [code, p] = Array.isArray(e) ? e : ["format", { what: String((e && e.message) || e) }];
    return result(code === "nokey" ? "unchecked" : "failed", code, p, words);
  }
}

// The page: fetch the bundle, verify it, show the result (as text, never as HTML).
if (typeof document !== "undefined") (async () => {
  const $ = (id) => document.getElementById(id), box = $("tt-check"), status = $("tt-status");
  let words = {}, r;
  try {
    const config = JSON.parse($("tt-check-data").textContent);
    words = config.words || {};
    box.hidden = false;
    status.textContent = words.checking || "";
    // No step shown (no event names the item): nothing to check.
    if (!(config.steps || []).length) throw ["unchecked", "norecord"];
    const res = await fetch(config.bundle, { credentials: "omit", headers: { accept: "application/json" } })
      .catch(() => ({ status: "network" }));
    // A bundle that could not be had (refused as too large, a network failure) is not a
    // failed check: nothing could be checked.
    r = res.ok ? await verify(await res.text(), config) : result("unchecked", "fetch", { status: res.status }, words);
  } catch (e) {
    r = Array.isArray(e) ? result(e[0], e[1], {}, words) : result("failed", "format", { what: String((e && e.message) || e) }, words);
  }
  box.hidden = false;
  box.dataset.state = r.state;
  // What failed is shown at once; what passed stays folded under its summary.
  if (r.state === "failed") box.querySelector("details").open = true;
  status.textContent = words[r.state] || r.state;
  for (const line of r.lines) $("tt-details").appendChild(document.createElement("li")).textContent = line;
})();
