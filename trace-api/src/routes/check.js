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
  return { origin: lines[0], size: BigInt(lines[1]), root, key: ok.name + "+" + ok.id, ext: lines.slice(3) };
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

// The verifiable index (ledger/README.md, "Verifiable index, version 1"), so that the device
// sees for itself that no event of the history was left out.
const GS1 = "https://id.gs1.org", PLAIN = /^[-'.0-9;=A-Z_a-z]{1,20}$/, AI = "[-\"'.0-9;<=>A-Z_a-z]";
const CANON = new RegExp(`^https://id\\.gs1\\.org/(00/\\d{18}|01/\\d{14}(/(21|10)/${AI}{0,20}|/235/${AI}{0,28})?` +
  `|414/\\d{13}(/254/${AI}{0,20})?|417/\\d{13}|402/\\d{17}|801[78]/\\d{18})$`);
const LOTTED = new RegExp(`^(https://id\\.gs1\\.org/01/\\d{14})/10/${AI}{0,20}(/21/${AI}{0,20})$`);
const withCheck = (d) => d + (10 - [...d].reverse().reduce((s, c, i) => s + (i % 2 ? 1 : 3) * c, 0) % 10) % 10;
// The event hash's canonical form of an identifier (epcis::hash::canonical_identifier), for the
// SGTIN, SSCC and SGLN URIs of everyday capture with plain serials and for Digital Links already
// in canonical form; null for any other EPC URI or web address (not decided on this device).
function canonical(t) {
  // A serialised item's lot is dropped (only the finest identification counts).
  const lotted = LOTTED.exec(t);
  if (lotted) t = lotted[1] + lotted[2];
  if (/^https?:/.test(t)) return CANON.test(t) ? t : null;
  if (!t.startsWith("urn:epc:")) return t;
  const [, s, cp, ref, x] = /^urn:epc:id:(sgtin|sscc|sgln):(\d{6,12})\.(\d*)(?:\.(.*))?$/.exec(t) || [];
  if (!s || cp.length + ref.length !== { sgtin: 13, sscc: 17, sgln: 12 }[s] ||
    (s === "sscc") !== (x === undefined) || (x !== undefined && !PLAIN.test(x))) return null;
  if (s === "sgln") return GS1 + "/414/" + withCheck(cp + ref) + (x === "0" ? "" : "/254/" + x);
  const sgtin = s === "sgtin";
  return GS1 + (sgtin ? "/01/" : "/00/") + withCheck(ref[0] + cp + ref.slice(1)) + (sgtin ? "/21/" + x : "");
}
// An item a history is told for: a serialised trade item or a logistic unit.
const ITEM = /^https:\/\/id\.gs1\.org\/(00\/\d{18}|01\/\d{14}\/21\/.+)$/;
// The index key of an EPC (kind 0x01): kind || SHA-256(kind || canonical name)[0..8], in hex.
const epcKey = async (name) => hex([1, ...(await sha([1], utf8(name))).slice(0, 8)]);
const u64 = (a, at) => new DataView(a.buffer, a.byteOffset + at, 8).getBigUint64(0);
const u32 = (a, at) => new DataView(a.buffer, a.byteOffset + at, 4).getUint32(0);

// The index a checkpoint commits to: null without extension lines, else its one line
// `tagtrail-index <n> <root>` (ledger::index::IndexCommitment::of_checkpoint).
function commitment(cp) {
  if (!cp.ext.length) return null;
  const m = /^tagtrail-index (0|[1-9]\d*) (\S+)$/.exec(cp.ext.length === 1 ? cp.ext[0] : "") || [], what = "its index line";
  must(m[1] !== undefined && BigInt(m[1]) <= cp.size, "index_head", { what });
  return { n: BigInt(m[1]), root: b64(m[2], 32, "index_head", { what }) };
}
// An index head -> the entries it covers and its runs, each [first, end, pairs, root].
function readHead(h) {
  const r = h.length >= 13 && h[0] === 1 ? u32(h, 9) : -1, runs = [], what = "its runs do not cover the log in order";
  must(r >= 0 && r <= 1024 && h.length === 13 + 56 * r, "index_head", { what: "not an index head of version 1" });
  let at = 0n;
  for (let o = 13; o < h.length; o += 56) {
    const run = [u64(h, o), u64(h, o + 8), u64(h, o + 16), h.slice(o + 24, o + 56)];
    must(run[0] === at && run[1] > at, "index_head", { what });
    runs.push(run);
    at = run[1];
  }
  must(at === u64(h, 1) && at <= 2n ** 63n, "index_head", { what });
  return { n: at, runs };
}
const cmp = (a, b) => { let i = 0; while (i < 16 && a[i] === b[i]) i++; return a[i] - b[i]; };
const pairOf = (key, leaf) => { const p = new Uint8Array(17); p.set(key); new DataView(p.buffer).setBigUint64(9, leaf); return p; };
// The root of a tree of `size` chunks from the hashes of chunks lo..hi and the proof's hashes, by
// RFC 6962's recursion (ledger::index::run::root_from_range); null when the hashes do not fit.
async function rangeRoot(size, lo, hi, leaves, proof) {
  let next = 0;
  const fold = async (s, e) => {
    if (e <= lo || s >= hi) return proof[next++];
    if (e - s === 1n) return leaves[Number(s - lo)];
    let k = 1n;
    while (k << 1n < e - s) k <<= 1n;
    const l = await fold(s, s + k), r = await fold(s + k, e);
    return l && r && node(l, r);
  };
  const root = await fold(0n, size);
  return next === proof.length && root ? root : null;
}
// A key proof checked against the head (ledger::index::KeyProof::verify) -> its key, whether it
// covers every entry, and the entries it lists for that key.
async function proveKey(p, head, n) {
  const no = (what) => { throw ["index_proof", { n, what }]; };
  let at = 0;
  const take = (k) => (at + k > p.length && no("it ends early"), at += k, p.subarray(at - k, at));
  if (take(1)[0] !== 1) no("it is not a key proof of version 1");
  const key = take(9).slice(), from = u64(take(8), 0), to = u64(take(8), 0), leaves = [];
  if (!(key[0] >= 1 && key[0] <= 5) || from >= to) no("its key or its range is not one");
  if (u32(take(4), 0) !== head.runs.length) no("it has parts for another number of runs than the head");
  const below = pairOf(key, from), above = pairOf(key, to);
  for (const [first, end, count, root] of head.runs) {
    const lo = u64(take(8), 0), hi = u64(take(8), 0), np = u32(take(4), 0), nh = take(1)[0], pairs = [], hashes = [];
    for (let i = 0; i < np; i++) pairs.push(take(17));
    for (let i = 0; i < nh; i++) hashes.push(take(32));
    const chunks = (count + 7n) / 8n, len = (c) => (count - 8n * c < 8n ? count - 8n * c : 8n);
    if (!chunks) {
      if (lo || hi || np || nh || !eq(root, await sha([]))) no("a run without pairs has a part or a root");
      continue;
    }
    if (nh > 128 || !(lo < hi && hi <= chunks) || BigInt(np) !== (hi < chunks ? 8n * hi : count) - 8n * lo) {
      no("its chunks are not chunks of the run");
    }
    let under = 0n, over = 0n;
    pairs.forEach((q, i) => {
      const leaf = u64(q, 9);
      if (!(q[0] >= 1 && q[0] <= 5) || leaf < first || leaf >= end || (i && cmp(pairs[i - 1], q) >= 0)) {
        no("pair " + i + " is out of order or outside its run");
      }
      if (cmp(q, below) < 0) under++;
      else if (cmp(q, above) < 0) leaves.push(leaf);
      else over++;
    });
    // The pairs just below and just above the key bound it: no pair of the key lies outside.
    if ((lo && !under) || (hi < chunks && !over) || under > len(lo) || over > len(hi - 1n)) {
      no("it does not show exactly the chunks around the key");
    }
    const chunked = [];
    for (let i = 0; i < np; i += 8) chunked.push(await sha([0], ...pairs.slice(i, i + 8)));
    const got = await rangeRoot(chunks, lo, hi, chunked, hashes);
    if (!got || !eq(got, root)) no("its chunks and hashes do not give the run's root");
  }
  if (at !== p.length) no("bytes follow its last run");
  return { key: hex(key), whole: from === 0n && to >= head.n, leaves };
}

// Whether the bundle holds every event of the history it tells (ledger/src/bundle/complete.rs):
// the identifiers the history follows (the item, the containers it was packed into by events
// not marked unauthorised nor withdrawn, the items a transformation related it to, one step) are worked out
// from the bundle's events, and each one's proof must list only entries the bundle holds, and
// list every event naming it. -> [code, params]: "ok_complete", or why it is not shown.
async function completeness(b, cp, seen) {
  const c = commitment(cp), ix = b.index;
  if (!c) {
    must(ix == null, "index_head", { what: "the checkpoint commits to no index" });
    return ["no_index", {}];
  }
  // A checkpoint commits to its index: whoever strips the proofs cannot strip the line.
  must(ix != null, "stripped", { size: c.n });
  const hb = b64(ix.head, 0, "index_head", { what: "not base64" }), head = readHead(hb);
  must(head.n === c.n && eq(await sha([2], hb), c.root), "index_head", { what: "not the head the checkpoint commits to" });
  must(Array.isArray(ix.proofs), "index_head", { what: "no list of proofs" });
  const proven = new Map();
  for (const [n, s] of ix.proofs.entries()) {
    const r = await proveKey(b64(s, 0, "index_proof", { n, what: "not base64" }), head, n);
    must(!proven.has(r.key), "index_proof", { n, what: "a second proof of one key" });
    proven.set(r.key, r.whole ? r.leaves : null);
  }
  const events = [];
  for (const [leaf, e] of [...seen].sort((x, y) => (x[0] < y[0] ? -1 : 1))) {
    // A version 1 leaf record binds no event bytes: what such an event names is not known here.
    if (b64(e.leafRecord, 0, "record", { leaf })[0] !== 2) return ["unbound", { leaf }];
    let ev;
    try { ev = JSON.parse(e.event); } catch (x) { /* below */ }
    must(ev && typeof ev === "object" && !Array.isArray(ev), "format", { what: "the event at entry " + leaf + " is not a JSON object" });
    // An event without authority, one an error declaration withdrew, and a declaration itself
    // (it repeats the event it declares) relate nothing (ledger::history::withdrawals).
    const inert = (e.authority || {}).kind === "unauthorised" || e.withdrawnBy != null || "errorDeclaration" in ev;
    events.push({ leaf, ev, refused: inert });
  }
  const keys = new Map(), foreign = [];
  const keyOf = async (t) => {
    if (!keys.has(t)) {
      const name = canonical(t);
      if (name === null) foreign.push(t);
      keys.set(t, name === null ? null : await epcKey(name));
    }
    return keys.get(t);
  };
  const ids = (ev, m) => (Array.isArray(ev[m]) ? ev[m] : []).filter((x) => typeof x === "string");
  must(typeof b.item === "string", "format", { what: "no item" });
  const itemKey = ITEM.test(canonical(b.item) || "") ? await keyOf(b.item) : null;
  if (itemKey === null) return ["foreign", { name: b.item }];
  // In rounds, as the history gathers them. An identifier reached more than one way is followed
  // every way any of them allows (the history asks by name, and one key may stand for two
  // names): containers go 8 deep, related items only from the item.
  const follow = new Map([[itemKey, { name: b.item, depth: 0, box: true, make: true }]]);
  for (let grew = true; grew;) {
    const next = [];
    for (const { ev, refused } of events) {
      if (refused) continue;
      if (ev.type === "AggregationEvent" && (ev.action === "ADD" || ev.action === "OBSERVE") && typeof ev.parentID === "string") {
        for (const id of ids(ev, "childEPCs")) {
          const s = follow.get(await keyOf(id));
          if (s && s.box && s.depth < 8) next.push([ev.parentID, { depth: s.depth + 1, box: true, make: false }]);
        }
      }
      if (ev.type !== "TransformationEvent") continue;
      for (const [side, other] of [["inputEPCList", "outputEPCList"], ["outputEPCList", "inputEPCList"]]) {
        for (const id of ids(ev, side)) {
          const k = await keyOf(id), s = follow.get(k);
          if (!s || !s.make) continue;
          for (const o of ids(ev, other)) if (await keyOf(o) !== k) next.push([o, { depth: 1, box: false, make: false }]);
        }
      }
    }
    grew = false;
    for (const [name, s] of next) {
      const k = await keyOf(name), was = follow.get(k);
      if (k === null) continue;
      const now = was ? { name: was.name, depth: Math.min(was.depth, s.depth), box: was.box || s.box, make: was.make || s.make } : { name, ...s };
      if (!was || now.depth !== was.depth || now.box !== was.box || now.make !== was.make) {
        follow.set(k, now);
        grew = true;
      }
    }
    // As many identifiers as a history follows at most (ledger::history::MAX_SUBJECTS).
    if (follow.size > 256) return ["crowded", { count: follow.size }];
  }
  const missing = [], unproven = [], listed = new Set();
  for (const [k, s] of follow) {
    const leaves = proven.get(k);
    if (!leaves) unproven.push(s.name);
    else for (const leaf of leaves) seen.has(leaf) ? listed.add(leaf) : missing.push([leaf, s.name]);
  }
  // The other way round: an event naming a followed identifier must be listed under it.
  for (const { leaf, ev } of events) {
    if (leaf >= head.n) continue;
    const named = ["epcList", "childEPCs", "inputEPCList", "outputEPCList"].flatMap((m) => ids(ev, m));
    for (const id of typeof ev.parentID === "string" ? [...named, ev.parentID] : named) {
      const k = await keyOf(id), leaves = proven.get(k);
      must(!follow.has(k) || !leaves || leaves.includes(leaf), "unlisted", { leaf, name: follow.get(k) && follow.get(k).name });
    }
  }
  missing.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
  const said = (Array.isArray(b.omitted) ? b.omitted : []).reduce((t, o) => t + ((o && Number.isSafeInteger(o.events)) ? o.events : 0), 0);
  const gone = new Set(missing.map((m) => m[0])).size;
  must(gone <= said, "left_out", { leaf: missing.length && missing[0][0], name: missing.length && missing[0][1], count: gone });
  if (foreign.length) return ["foreign", { name: foreign[0] }];
  if (gone) return ["omitted", { said, count: gone }];
  if (unproven.length) return ["unproven", { name: unproven[0], count: unproven.length }];
  if (head.n < cp.size) return ["behind", { through: head.n }];
  return ["ok_complete", { through: head.n, keys: follow.size, listed: listed.size }];
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
    // 6. No event of the history left out, as far as the index proves.
    const [whole, complete] = await completeness(b, cp, seen);
    if (complete.name !== undefined) complete.name = String(complete.name).slice(0, 200);
    // 7. Every step the page shows is one of the events, as the page shows it: time, business
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
    // A bundle proven complete holds every event of the history: a shown step it lacks is not one.
    must(!absent || (whole !== "ok_complete" && checked && Array.isArray(b.omitted) && b.omitted.length), "missing",
      { leaf: (shown.find((s) => !seen.has(BigInt(s[0]))) || [])[0] });
    if (absent) return result("unchecked", "partial", { checked, shown: shown.length }, words);
    // What was not shown complete leaves the check short of verified, saying what passed.
    const done = whole === "ok_complete";
    return result(done ? "verified" : "incomplete", done ? "verified" : whole, { ...complete, size: cp.size,
      key: cp.key, events: b.events.length, bytes, shown: shown.length, ...anchor }, words,
    ["ok_signature", "ok_events", anchor ? "ok_anchored" : "no_anchor", "ok_journey", whole, "not_checked"]);
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
