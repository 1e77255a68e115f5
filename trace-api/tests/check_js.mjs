// Exercises trace-api/src/routes/check.js (the scan page's in-browser check) under Node 20:
//   node trace-api/tests/check_js.mjs <path to check.js> <path to ledger/tests/golden>
// Every case asserts the exact state and code (and, where it matters, params and lines).
// Exit status 0 when all pass, 1 otherwise (one message per failure).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import vm from "node:vm";
import { logWith } from "./check_js_log.mjs";

const [scriptPath, goldenDir] = process.argv.slice(2);
if (!scriptPath || !goldenDir) {
  console.error("usage: node check_js.mjs <check.js> <golden dir>");
  process.exit(2);
}
const source = readFileSync(scriptPath, "utf8");
// Version 2: its checkpoint commits to the verifiable index, and it carries the index proofs.
const goldenText = readFileSync(join(goldenDir, "provenance-v2.json"), "utf8");
const goldenV1 = readFileSync(join(goldenDir, "provenance-v1.json"), "utf8");
const logKey = readFileSync(join(goldenDir, "log-key.pub"), "utf8").trim();

// A fresh context per load: only what a browser would give the script, and no document.
const load = (extra = {}) =>
  vm.runInNewContext(source + "\n;({verify, canonical, epcKey})", { crypto: globalThis.crypto, TextEncoder, atob, btoa, ...extra });
const { verify, canonical, epcKey } = load();

// Templates with every placeholder, so the lines show what was passed.
const words = {
  checking: "checking", verified: "VERIFIED", failed: "FAILED", unchecked: "UNCHECKED", incomplete: "INCOMPLETE",
  ok_complete: "complete to {through}: {listed} entries under {keys} keys", no_index: "no index",
  foreign: "foreign {name}", crowded: "crowded {count}", unbound: "unbound {leaf}", omitted: "omitted {said} {count}",
  unproven: "unproven {name} {count}", behind: "behind {through} of {size}", stripped: "stripped {size}",
  index_head: "index head: {what}", index_proof: "index proof {n}: {what}",
  left_out: "left out {leaf} {name} {count}", unlisted: "unlisted {leaf} {name}",
  ok_signature: "signature on {size} (key {key})",
  ok_events: "{events} events, {bytes} byte-checked",
  ok_anchored: "anchored {anchored} on chain {chain} block {block}, holding {covered}",
  no_anchor: "no anchor",
  ok_journey: "{shown} shown", partial: "{checked} of {shown} shown", norecord: "no record",
  step: "step {leaf}", origin: "origin",
  not_checked: "not checked here",
  unsupported: "unsupported", nokey: "no key", fetch: "fetch {status}", format: "format: {what}",
  note: "note", note_anchored: "anchored note",
  signature: "signature", signature_anchored: "anchored signature",
  size: "size {leaf} {got} {want}", bytes: "bytes {leaf}", record: "record {leaf}",
  inclusion: "inclusion {leaf}", consistency: "consistency {old} {new}", missing: "missing {leaf}",
};
// The shown steps of `leaves` as the page gives them: entry, time, business step, type, place,
// reporter, refused (from the golden bundle's events; a leaf it lacks gets a made-up step).
const stepsFor = (leaves) => leaves.map((leaf) => {
  const e = JSON.parse(goldenText).events.find((e) => e.inclusion.leafIndex === leaf);
  if (!e) return [leaf, "2026-01-01T00:00:00Z", null, "ObjectEvent", null, null, false];
  const ev = JSON.parse(e.event);
  const place = (ev.bizLocation && ev.bizLocation.id) || (ev.readPoint && ev.readPoint.id) || null;
  return [leaf, ev.eventTime, ev.bizStep || null, ev.type, place, e.reportedBy || null, (e.authority || {}).kind === "unauthorised"];
});
const config = ({ leaves = [2, 4], ...over } = {}) =>
  ({ bundle: "/items/x/bundle", item: JSON.parse(goldenText).item, keys: [logKey], steps: stepsFor(leaves), words, ...over });

// Helpers to tamper with the golden bundle.
const golden = () => JSON.parse(goldenText);
const text = (b) => JSON.stringify(b);
const flipB64 = (s, at) => {
  const bytes = Buffer.from(s, "base64");
  bytes[at] ^= 0x01;
  return bytes.toString("base64");
};
// Flips one byte of the note's first signature (past the 4-byte key id).
const flipNoteSig = (note) => {
  const lines = note.split("\n");
  const i = lines.findIndex((l) => l.startsWith("\u2014 "));
  const parts = lines[i].split(" ");
  parts[2] = flipB64(parts[2], 10);
  lines[i] = parts.join(" ");
  return lines.join("\n");
};
// Changes the root line (line 3) to another valid 32-byte root.
const flipNoteRoot = (note) => {
  const lines = note.split("\n");
  lines[2] = flipB64(lines[2], 0);
  return lines.join("\n");
};
const b64 = (bytes) => Buffer.from(bytes).toString("base64");
const sha = async (...parts) => new Uint8Array(await crypto.subtle.digest("SHA-256", Buffer.concat(parts.map((p) => Buffer.from(p)))));

// A new Ed25519 key named like the golden log: its verifier key line, and a signer of notes.
async function otherKey(name = logKey.split("+")[0]) {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
  const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const keyBytes = new Uint8Array([1, ...raw]);
  const idBytes = (await sha(Buffer.from(name, "utf8"), [0x0a], keyBytes)).slice(0, 4);
  const line = `${name}+${Buffer.from(idBytes).toString("hex")}+${b64(keyBytes)}`;
  // Signs note text (ending in a newline) as a C2SP signed note.
  const sign = async (noteText) => {
    const sig = new Uint8Array(await crypto.subtle.sign("Ed25519", pair.privateKey, Buffer.from(noteText, "utf8")));
    return `${noteText}\n\u2014 ${name} ${b64([...idBytes, ...sig])}\n`;
  };
  return { line, sign };
}
const otherKeyLine = async () => (await otherKey()).line;

// The cases: [name, bundle text, config, expected state, expected code, extra check or null].
const cases = [];
const add = (name, bundleText, cfg, state, code, extra = null) => cases.push({ name, bundleText, cfg, state, code, extra });
const expectParams = (want) => (r) =>
  Object.entries(want).filter(([k, v]) => r.params[k] !== v).map(([k, v]) => `params.${k} = ${JSON.stringify(r.params[k])}, want ${JSON.stringify(v)}`);

const g = golden();
const v2 = g.events.filter((e) => Buffer.from(e.leafRecord, "base64")[0] === 2).length;
add("golden bundle, leaves [2,4]", goldenText, config(), "verified", "verified", (r) => {
  const want = [
    `signature on 10 (key ${logKey.split("+").slice(0, 2).join("+")})`,
    `${g.events.length} events, ${v2} byte-checked`,
    `anchored 16 on chain 31337 block 12, holding ${g.events.length}`,
    "2 shown",
    "complete to 10: 5 entries under 3 keys",
    "not checked here",
  ];
  return JSON.stringify(r.lines) === JSON.stringify(want) ? [] : [`lines ${JSON.stringify(r.lines)}, want ${JSON.stringify(want)}`];
});
add("golden bundle, every leaf shown", goldenText, config({ leaves: [2, 4, 5, 7, 8] }), "verified", "verified");
// Version 1: no index, so nothing shows the history complete; everything else passes.
add("golden version 1 bundle", goldenV1, config({ leaves: [2, 4, 5, 7, 8] }), "incomplete", "no_index",
  (r) => (r.lines[4] === "no index" && r.lines[3] === "5 shown" ? [] : [`lines ${JSON.stringify(r.lines)}`]));
{
  const b = golden();
  delete b.anchored;
  add("no anchored checkpoint", text(b), config(), "verified", "verified", (r) => (r.lines[2] === "no anchor" ? [] : [`line 3 ${r.lines[2]}`]));
}
{
  const b = golden();
  b.anchored.checkpoint = b.checkpoint;
  b.anchored.consistency = { oldSize: 10, newSize: 10, hashes: [] };
  add("anchored checkpoint equal to the bundle's", text(b), config(), "verified", "verified",
    (r) => (r.lines[2] === `anchored 10 on chain 31337 block 12, holding ${g.events.filter((e) => e.inclusion.leafIndex < 10).length}` ? [] : [`line 3 ${r.lines[2]}`]));
  const c = golden();
  c.anchored.checkpoint = c.checkpoint;
  c.anchored.consistency = { oldSize: 10, newSize: 10, hashes: [c.anchored.consistency.hashes[0]] };
  add("equal sizes with a non-empty path", text(c), config(), "failed", "consistency", expectParams({ old: "10", new: "10" }));
}
add("no keys", goldenText, config({ keys: [] }), "unchecked", "nokey");
add("key with a wrong id", goldenText, config({ keys: [logKey.replace(/\+[0-9a-f]{8}\+/, "+00000000+")] }), "unchecked", "nokey");
add("key not base64 of 0x01 || key", goldenText, config({ keys: [logKey.replace(/\+A/, "+B")] }), "unchecked", "nokey");
add("another key of the same name", goldenText, config({ keys: [await otherKeyLine()] }), "failed", "signature", expectParams({ which: "checkpoint" }));
add("both the other key and the log's", goldenText, config({ keys: [await otherKeyLine(), logKey] }), "verified", "verified");
{
  const b = golden();
  b.events[1].event = b.events[1].event.replace("packing", "packinh");
  add("an event's text changed", text(b), config(), "failed", "bytes", expectParams({ leaf: "4" }));
}
{
  const b = golden();
  b.events[0].inclusion.hashes[1] = flipB64(b.events[0].inclusion.hashes[1], 5);
  add("an inclusion proof hash changed", text(b), config(), "failed", "inclusion", expectParams({ leaf: "2" }));
  const c = golden();
  c.events[0].inclusion.hashes.pop();
  add("an inclusion proof hash dropped", text(c), config(), "failed", "inclusion", expectParams({ leaf: "2" }));
  const d = golden();
  d.events[0].inclusion.leafIndex = 3;
  add("another leaf index", text(d), config({ leaves: [4] }), "failed", "inclusion", expectParams({ leaf: "3" }));
}
{
  const b = golden();
  b.events[2].inclusion.treeSize = 11;
  add("an event's tree size changed", text(b), config(), "failed", "size", expectParams({ leaf: "5", got: "11", want: "10" }));
  const big = goldenText.replace('"treeSize": 10', '"treeSize": 9007199254740993');
  add("a tree size past 2^53 (exact)", big, config(), "failed", "size", expectParams({ leaf: "2", got: "9007199254740993" }));
  add("a negative leaf index", goldenText.replace('"leafIndex": 2', '"leafIndex": -2'), config(), "failed", "format");
  add("a fractional leaf index", goldenText.replace('"leafIndex": 2', '"leafIndex": 2.5'), config(), "failed", "format");
}
{
  const b = golden();
  b.checkpoint = flipNoteSig(b.checkpoint);
  add("checkpoint signature byte changed", text(b), config(), "failed", "signature", expectParams({ which: "checkpoint" }));
  const c = golden();
  c.checkpoint = flipNoteRoot(c.checkpoint);
  add("checkpoint root line changed", text(c), config(), "failed", "signature", expectParams({ which: "checkpoint" }));
  // A second signature line by the trusted key that does not verify rejects the note.
  const f = golden();
  const sigLine = f.checkpoint.split("\n").find((l) => l.startsWith("\u2014 "));
  f.checkpoint += flipNoteSig(sigLine) + "\n";
  add("a second, bad signature by the trusted key", text(f), config(), "failed", "signature", expectParams({ which: "checkpoint" }));
  // Signatures by unknown keys (another id, another name) are ignored.
  const h = golden();
  const [, keyName] = sigLine.split(" ");
  h.checkpoint += `\u2014 ${keyName} ${b64(new Uint8Array(68).fill(7))}\n\u2014 other.example/log ${b64(new Uint8Array(68))}\n`;
  add("extra signatures by unknown keys", text(h), config(), "verified", "verified");
  // Re-signed by a new key of the log's name: verifies; with another origin it does not.
  const other = await otherKey();
  const noteText = (origin) => golden().checkpoint.split("\n\n")[0].replace(/^[^\n]*/, origin) + "\n";
  const i = golden();
  delete i.anchored;
  i.checkpoint = await other.sign(noteText(logKey.split("+")[0]));
  add("checkpoint re-signed by a new trusted key", text(i), config({ keys: [other.line] }), "verified", "verified");
  i.checkpoint = await other.sign(noteText("evil.example/log"));
  add("checkpoint of another origin", text(i), config({ keys: [other.line] }), "failed", "signature", expectParams({ which: "checkpoint" }));
  const d = golden();
  d.checkpoint = d.checkpoint.replace("\n\n", "\n");
  add("checkpoint without its blank line", text(d), config(), "failed", "note", expectParams({ which: "checkpoint" }));
  const e = golden();
  e.checkpoint = e.checkpoint.replace("\n10\n", "\n010\n");
  add("checkpoint size with a leading zero", text(e), config(), "failed", "note", expectParams({ which: "checkpoint" }));
}
{
  const b = golden();
  b.anchored.consistency.hashes[1] = flipB64(b.anchored.consistency.hashes[1], 7);
  add("consistency hash changed", text(b), config(), "failed", "consistency", expectParams({ old: "10", new: "16" }));
  const c = golden();
  c.anchored.consistency.oldSize = 9;
  add("consistency for other sizes", text(c), config(), "failed", "consistency", expectParams({ old: "10", new: "16" }));
}
{
  const b = golden();
  b.anchored.checkpoint = flipNoteSig(b.anchored.checkpoint);
  add("anchored checkpoint signature changed", text(b), config(), "failed", "signature", (r) => [
    ...expectParams({ which: "anchored" })(r),
    ...(r.lines[0] === "anchored signature" ? [] : [`line ${r.lines[0]}`]),
  ]);
}
add("leaves [3]", goldenText, config({ leaves: [3] }), "failed", "missing", expectParams({ leaf: "3" }));
{
  // The page shows a step other than the log recorded it: another time, another reporter, a
  // refused event shown as accepted.
  const steps = stepsFor([2, 4]);
  const timed = steps.map((s) => [...s]);
  timed[1][1] = "2019-01-01T00:00:00Z";
  add("a shown step's time differs", goldenText, config({ steps: timed }), "failed", "step", expectParams({ leaf: "4" }));
  const reported = steps.map((s) => [...s]);
  reported[0][5] = "someone-else";
  add("a shown step's reporter differs", goldenText, config({ steps: reported }), "failed", "step", expectParams({ leaf: "2" }));
  const refused = steps.map((s) => [...s]);
  refused[0][6] = !refused[0][6];
  add("a shown step's refusal differs", goldenText, config({ steps: refused }), "failed", "step", expectParams({ leaf: "2" }));
  add("the bundle of another item", goldenText, config({ item: "urn:epc:id:sgtin:0614141.107346.9999" }), "failed", "format",
    expectParams({ what: "it is the bundle of another item" }));
}
{
  // An anchored checkpoint of another log (its own key trusted too): refused, whatever its proof.
  const other = await otherKey("other.test/log");
  const b = golden();
  const root = b.anchored.checkpoint.split("\n")[2];
  b.anchored.checkpoint = await other.sign(`other.test/log\n16\n${root}\n`);
  add("an anchored checkpoint of another log", text(b), config({ keys: [logKey, other.line] }), "failed", "origin");
}
{
  // A bundle whose writer says it left events out, not proven complete (version 1): a shown step
  // not in it is not a failure, and the lines say how many shown steps were checked.
  const b = JSON.parse(goldenV1);
  b.omitted = [{ reportedBy: "rival", events: 3 }];
  add("leaves [2, 3] with events omitted: partial, never verified", text(b), config({ leaves: [2, 3] }), "unchecked", "partial",
    expectParams({ checked: "1", shown: "2" }));
  add("leaves [3] with events omitted: none found", text(b), config({ leaves: [3] }), "failed", "missing", expectParams({ leaf: "3" }));
  add("leaves [2, 3] with an empty omitted", text({ ...golden(), omitted: [] }), config({ leaves: [2, 3] }), "failed", "missing",
    expectParams({ leaf: "3" }));
}
{
  const b = golden();
  b.version = 3;
  add("version 3", text(b), config(), "failed", "format", expectParams({ what: "version 3" }));
}
add("not JSON", "<html>oops</html>", config(), "failed", "format");
add("no events", text({ ...golden(), events: [] }), config(), "failed", "format");
{
  const b = golden();
  b.events.push(b.events[0]);
  add("duplicate leaf", text(b), config(), "failed", "format");
}
{
  const b = golden();
  const record = Buffer.from(b.events[3].leafRecord, "base64");
  record[0] = 0x07;
  b.events[3].leafRecord = record.toString("base64");
  add("leaf record version 0x07", text(b), config(), "failed", "record", expectParams({ leaf: "7" }));
  const c = golden();
  c.events[3].leafRecord = c.events[3].leafRecord.replace(/=$/, "");
  add("leaf record not canonical base64", text(c), config(), "failed", "record", expectParams({ leaf: "7" }));
}

// Completeness (the verifiable index). The golden index lists leaves 2, 4 and 7 under the item,
// 4 and 5 under its case, 7 and 8 under the item a transformation made of it.
const ITEM = g.item, CASE = "urn:epc:id:sscc:0614141.1234567890", MADE = "urn:epc:id:sgtin:0614141.107346.9001";
const keyHex = async (id) => epcKey(canonical(id));
const proofKey = (p) => Buffer.from(p, "base64").subarray(1, 10).toString("hex");
for (const [leaf, name] of [[2, ITEM], [4, ITEM], [5, CASE], [7, ITEM], [8, MADE]]) {
  const b = golden();
  b.events = b.events.filter((e) => e.inclusion.leafIndex !== leaf);
  add(`event ${leaf} left out`, text(b), config({ leaves: [] }), "failed", "left_out",
    expectParams({ leaf: String(leaf), name, count: "1" }));
  // Said to be left out (a flood of others' events): not proven complete, never a failure.
  b.omitted = [{ reportedBy: "rival", events: 1 }];
  add(`event ${leaf} left out, as the writer says`, text(b), config({ leaves: [] }), "incomplete", "omitted",
    (r) => [...expectParams({ said: "1", count: "1" })(r), ...(r.lines[4] === "omitted 1 1" && r.lines[0].startsWith("signature on 10") ? [] : [`lines ${r.lines}`])]);
}
{
  const b = golden();
  delete b.index;
  add("index proofs stripped", text(b), config(), "failed", "stripped", expectParams({ size: "10" }));
  const c = golden();
  c.index.proofs = [];
  add("no proof at all", text(c), config(), "incomplete", "unproven", expectParams({ name: ITEM, count: "3" }));
  for (const [who, name] of [["item", ITEM], ["case", CASE], ["transformation's output", MADE]]) {
    const d = golden(), k = await keyHex(name);
    d.index.proofs = d.index.proofs.filter((p) => proofKey(p) !== k);
    add(`the ${who}'s proof removed`, text(d), config(), "incomplete", "unproven", expectParams({ name, count: "1" }));
  }
  const e = golden();
  e.index.proofs.push(e.index.proofs[0]);
  add("a proof given twice", text(e), config(), "failed", "index_proof", expectParams({ n: "3", what: "a second proof of one key" }));
  const v1 = JSON.parse(goldenV1);
  v1.index = golden().index;
  add("index proofs under a checkpoint without an index", text(v1), config(), "failed", "index_head",
    expectParams({ what: "the checkpoint commits to no index" }));
}
{
  const flipAt = (s, at) => { const x = Buffer.from(s, "base64"); x[at < 0 ? x.length + at : at] ^= 1; return x.toString("base64"); };
  const cut = (s, by) => Buffer.from(s, "base64").subarray(0, -by).toString("base64");
  const headCases = [
    ["a run root changed", (h) => flipAt(h, -1), "not the head the checkpoint commits to"],
    ["a run's end changed", (h) => flipAt(h, 20), "its runs do not cover the log in order"],
    ["the head cut short", (h) => cut(h, 1), "not an index head of version 1"],
    ["the head not base64", (h) => h + "=", "not base64"],
  ];
  for (const [name, change, what] of headCases) {
    const b = golden();
    b.index.head = change(b.index.head);
    add(`index head: ${name}`, text(b), config(), "failed", "index_head", expectParams({ what }));
  }
  const proofCases = [
    ["a hash changed", (p) => flipAt(p, -1), "its chunks and hashes do not give the run's root"],
    ["a pair's leaf changed", (p) => flipAt(p, 30 + 21 + 16), "pair 1 is out of order or outside its run"],
    ["the pair count raised", (p) => flipAt(p, 30 + 16 + 3), "its chunks are not chunks of the run"],
    ["cut short", (p) => cut(p, 1), "it ends early"],
    ["a byte after it", (p) => Buffer.concat([Buffer.from(p, "base64"), Buffer.from([0])]).toString("base64"), "bytes follow its last run"],
    ["version 2", (p) => Buffer.from([2, ...Buffer.from(p, "base64").subarray(1)]).toString("base64"), "it is not a key proof of version 1"],
    ["another key kind", (p) => Buffer.from([1, 9, ...Buffer.from(p, "base64").subarray(2)]).toString("base64"), "its key or its range is not one"],
  ];
  for (const [name, change, what] of proofCases) {
    const b = golden();
    b.index.proofs[1] = change(b.index.proofs[1]);
    add(`index proof: ${name}`, text(b), config(), "failed", "index_proof", expectParams({ n: "1", what }));
  }
}
{
  // A shown step the bundle lacks, when the bundle is proven complete: not one of the history's,
  // whatever the writer says it left out.
  const b = golden();
  b.omitted = [{ reportedBy: "rival", events: 3 }];
  add("a shown step missing from a complete bundle", text(b), config({ leaves: [2, 3] }), "failed", "missing",
    expectParams({ leaf: "3" }));
  // Not an item: a product (GTIN) or text. Nothing is keyed for it.
  for (const item of ["https://id.gs1.org/01/10614141073464", "not an item"]) {
    const c = golden();
    c.item = item;
    add(`the bundle of ${item}`, text(c), config({ item }), "incomplete", "foreign", expectParams({ name: item }));
  }
}
{
  // The item under a name this device cannot key (an escaped serial): not shown complete.
  const b = golden();
  b.item = "urn:epc:id:sgtin:0614141.812345.6789%2F";
  add("an item this device cannot key", text(b), config({ item: b.item }), "incomplete", "foreign", expectParams({ name: b.item }));
}
// An index the log's key holder made up: re-signed by a new key of the log's name, one run of one
// chunk of `pairs` ([identifier, leaf]) covering `n` entries, and a proof of every key it holds.
async function madeUp(pairs, n) {
  const other = await otherKey(), b = golden();
  const bytes = [];
  for (const [id, leaf] of pairs) {
    const p = Buffer.alloc(17);
    Buffer.from(await keyHex(id), "hex").copy(p);
    p.writeBigUInt64BE(BigInt(leaf), 9);
    bytes.push(p);
  }
  bytes.sort(Buffer.compare);
  const head = Buffer.alloc(13 + 56);
  head[0] = 1;
  head.writeBigUInt64BE(BigInt(n), 1);
  head.writeUInt32BE(1, 9);
  head.writeBigUInt64BE(BigInt(n), 21);
  head.writeBigUInt64BE(BigInt(bytes.length), 29);
  Buffer.from(await sha([0], ...bytes)).copy(head, 37);
  const proof = (key) => {
    const p = Buffer.alloc(51);
    p[0] = 1;
    key.copy(p, 1);
    p.writeBigUInt64BE(2n ** 64n - 1n, 18);
    p.writeUInt32BE(1, 26);
    p.writeBigUInt64BE(1n, 38);
    p.writeUInt32BE(bytes.length, 46);
    return Buffer.concat([p, ...bytes]).toString("base64");
  };
  const keys = [...new Set(bytes.map((p) => p.subarray(0, 9).toString("hex")))];
  b.index = { head: head.toString("base64"), proofs: keys.map((k) => proof(Buffer.from(k, "hex"))) };
  const [origin, size, root] = b.checkpoint.split("\n");
  b.checkpoint = await other.sign(`${origin}\n${size}\n${root}\ntagtrail-index ${n} ${b64(await sha([2], head))}\n`);
  return [text(b), config({ keys: [logKey, other.line] })];
}
// Histories in a log made here: a container reached two ways, and a container's container.
{
  const log = logWith({ canonical, epcKey });
  const I = ITEM, X = CASE, P = "urn:epc:id:sscc:0614141.2222222222";
  const at = (type, day, extra) => ({ type, eventTime: `2024-03-0${day}T08:00:00.000Z`, eventTimeZoneOffset: "+00:00", ...extra });
  const packed = [
    { ev: at("ObjectEvent", 1, { action: "ADD", epcList: [I] }) },
    { ev: at("AggregationEvent", 2, { action: "ADD", parentID: X, childEPCs: [I] }) },
    { ev: at("AggregationEvent", 3, { action: "ADD", parentID: P, childEPCs: [X] }) },
    { ev: at("ObjectEvent", 4, { action: "OBSERVE", epcList: [P] }) },
  ];
  const made = async (name, spec, state, code, extra) => {
    const { text: t, config: c } = await log(spec);
    add(name, t, { ...c, words }, state, code, extra);
  };
  await made("a made log: the pallet's container followed", { item: I, proofsFor: [I, X, P], events: packed },
    "verified", "verified", expectParams({ keys: "3", listed: "4" }));
  await made("a made log: the pallet's event left out", { item: I, proofsFor: [I, X, P],
    events: packed.map((e, i) => (i === 3 ? { ...e, keep: false } : e)) }, "failed", "left_out", expectParams({ leaf: "3", name: P }));
  await made("a made log: the pallet's event and proof left out", { item: I, proofsFor: [I, X],
    events: packed.map((e, i) => (i === 3 ? { ...e, keep: false } : e)) }, "incomplete", "unproven", expectParams({ name: P }));
  // The case first reached as a transformation's output (by its Digital Link: not followed into
  // containers that way), then as the item's container: followed into its pallet all the same.
  const both = [
    packed[0],
    { ev: at("TransformationEvent", 2, { inputEPCList: [I], outputEPCList: [canonical(X)] }) },
    { ev: at("AggregationEvent", 3, { action: "ADD", parentID: X, childEPCs: [I] }) },
    { ev: at("AggregationEvent", 4, { action: "ADD", parentID: P, childEPCs: [X] }) },
    { ev: at("ObjectEvent", 5, { action: "OBSERVE", epcList: [P] }), keep: false },
  ];
  await made("a made log: a case reached two ways, its pallet's proof left out", { item: I, proofsFor: [I, X], events: both },
    "incomplete", "unproven", expectParams({ name: P }));
  // An unauthorised packing leads nowhere: the pallet is not followed.
  const refused = packed.map((e, i) => (i === 2 ? { ...e, authority: { kind: "unauthorised", reason: "no custody" } } : e));
  await made("a made log: an unauthorised packing is not followed", { item: I, proofsFor: [I, X],
    events: refused.map((e, i) => (i === 3 ? { ...e, keep: false } : e)) }, "verified", "verified", expectParams({ keys: "2" }));
}

const truePairs = [[ITEM, 2], [ITEM, 4], [ITEM, 7], [CASE, 4], [CASE, 5], [MADE, 7], [MADE, 8]];
add("an index made here that tells the truth", ...await madeUp(truePairs, 10), "verified", "verified",
  (r) => (r.lines[4] === "complete to 10: 5 entries under 3 keys" ? [] : [`line 5 ${r.lines[4]}`]));
add("an index that does not list an event naming the item", ...await madeUp(truePairs.filter(([id, l]) => id !== ITEM || l !== 4), 10),
  "failed", "unlisted", expectParams({ leaf: "4", name: ITEM }));
add("an index listing an entry the bundle lacks", ...await madeUp([...truePairs, [CASE, 6]], 10),
  "failed", "left_out", expectParams({ leaf: "6", name: CASE, count: "1" }));
add("an index behind its checkpoint", ...await madeUp(truePairs, 9), "incomplete", "behind",
  (r) => [...expectParams({ through: "9" })(r), ...(r.lines[4] === "behind 9 of 10" ? [] : [`line 5 ${r.lines[4]}`])]);
add("an index line beyond the checkpoint's tree", ...await madeUp(truePairs, 11), "failed", "index_head",
  expectParams({ what: "its index line" }));

let failures = 0;
const fail = (name, message) => {
  failures++;
  console.log(`FAIL ${name}: ${message}`);
};
for (const c of cases) {
  let r;
  try {
    r = await verify(c.bundleText, c.cfg);
  } catch (e) {
    fail(c.name, `verify threw ${e}`);
    continue;
  }
  const problems = [];
  if (r.state !== c.state || r.code !== c.code) problems.push(`got ${r.state}/${r.code}, want ${c.state}/${c.code}`);
  if (!Array.isArray(r.lines) || !r.lines.length) problems.push("no lines");
  if (c.extra) problems.push(...c.extra(r));
  if (problems.length) fail(c.name, `${problems.join("; ")} (lines: ${JSON.stringify(r.lines)})`);
  else console.log(`ok   ${c.name}: ${r.state}/${r.code}: ${r.lines.join(" | ")}`);
}

// The identifiers' canonical forms (epcis::digital_link's vectors) and index keys (the golden
// index's); what this device does not convert is null, never a guess.
{
  const vectors = [
    ["urn:epc:id:sgtin:0614141.107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"],
    ["urn:epc:id:sgln:0614141.07346.1234", "https://id.gs1.org/414/0614141073467/254/1234"],
    ["urn:epc:id:sgln:0012345.11111.0", "https://id.gs1.org/414/0012345111112"],
    ["urn:epc:id:sscc:4012345.0111111111", "https://id.gs1.org/00/040123451111111110"],
    ["urn:epc:id:sgtin:415056789012.0.987654", "https://id.gs1.org/01/04150567890128/21/987654"],
    ["https://id.gs1.org/01/04150567890128/21/987654", "https://id.gs1.org/01/04150567890128/21/987654"],
    ["https://id.gs1.org/00/040123451111111110", "https://id.gs1.org/00/040123451111111110"],
    ["urn:uuid:6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", "urn:uuid:6f1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"],
    ["urn:epc:id:sgtin:0614141.812345.6789%2F%26%25%22!%3F()", null],
    // A serialised item's lot is dropped; a 12-digit company prefix leaves an SGLN no reference.
    ["https://id.gs1.org/01/04150567890128/10/L-7/21/987654", "https://id.gs1.org/01/04150567890128/21/987654"],
    ["https://id.gs1.org/01/04150567890128/10/L-7", "https://id.gs1.org/01/04150567890128/10/L-7"],
    ["urn:epc:id:sgln:061414112345..0", "https://id.gs1.org/414/0614141123452"],
    ["urn:epc:id:sgtin:4012345.011111.98%22", null],
    ["urn:epc:id:sgtin:061414.1107346.2017", "https://id.gs1.org/01/10614141073464/21/2017"],
    ["urn:epc:id:sgtin:0614141.10734.2017", null],
    ["urn:epc:id:sscc:0614141.1234567890.1", null],
    ["urn:epc:id:grai:0614141.12345.400", null],
    ["https://example.com/01/04150567890128/21/987654", null],
    ["https://id.gs1.org/01/04150567890128/21/987654?linkType=all", null],
    ["http://id.gs1.org/01/04150567890128", null],
  ];
  const problems = vectors.filter(([t, want]) => canonical(t) !== want).map(([t, want]) => `${t} -> ${canonical(t)}, want ${want}`);
  const golden = readFileSync(join(goldenDir, "index-v1.txt"), "utf8").split("\n").filter((l) => l.startsWith("key epc "));
  for (const line of golden) {
    const [, , name, want] = line.split(" ");
    if (await epcKey(canonical(name)) !== want) problems.push(`key of ${name}: ${await epcKey(canonical(name))}, want ${want}`);
  }
  if (!golden.length) problems.push("no epc key in index-v1.txt");
  if (problems.length) fail("canonical identifiers and keys", problems.join("; "));
  else console.log(`ok   canonical identifiers and keys: ${vectors.length} identifiers, ${golden.length} golden keys`);
}

// No WebCrypto: unchecked/unsupported.
{
  const name = "no WebCrypto";
  const r = await vm.runInNewContext(source + "\n;({verify})", { TextEncoder, atob, btoa }).verify(goldenText, config());
  if (r.state === "unchecked" && r.code === "unsupported") console.log(`ok   ${name}: ${r.state}/${r.code}`);
  else fail(name, `got ${r.state}/${r.code}`);
}

// The bootstrap, with a minimal document and fetch.
async function page(respond, cfg = config()) {
  const el = (tag) => ({
    tag, hidden: true, textContent: "", dataset: {}, children: [],
    appendChild(child) { this.children.push(child); return child; },
  });
  const nodes = { "tt-check": el("section"), "tt-status": el("p"), "tt-details": el("ul"), "tt-check-data": el("script") };
  const folded = el("details");
  folded.open = false;
  nodes["tt-check"].querySelector = (selector) => (selector === "details" ? folded : null);
  nodes.folded = folded;
  nodes["tt-check-data"].textContent = JSON.stringify(cfg);
  const requests = [];
  const document = { getElementById: (id) => nodes[id] || null, createElement: el };
  const fetch = async (url, init) => {
    requests.push({ url, init });
    return respond();
  };
  load({ document, fetch });
  for (let i = 0; i < 200 && !nodes["tt-check"].dataset.state; i++) await new Promise((r) => setTimeout(r, 10));
  return { nodes, requests };
}
{
  const name = "bootstrap, bundle served";
  const { nodes, requests } = await page(async () => ({ ok: true, status: 200, text: async () => goldenText }));
  const problems = [];
  const init = requests[0] && requests[0].init;
  if (requests.length !== 1 || requests[0].url !== "/items/x/bundle" || init.credentials !== "omit" || init.headers.accept !== "application/json")
    problems.push(`request ${JSON.stringify(requests)}`);
  if (nodes["tt-check"].hidden !== false || nodes["tt-check"].dataset.state !== "verified") problems.push(`section ${JSON.stringify(nodes["tt-check"])}`);
  if (nodes["tt-status"].textContent !== "VERIFIED") problems.push(`status ${nodes["tt-status"].textContent}`);
  if (nodes["tt-details"].children.length !== 6 || nodes["tt-details"].children.some((li) => li.tag !== "li")) problems.push("details");
  if (nodes.folded.open) problems.push("what passed is unfolded");
  if (problems.length) fail(name, problems.join("; "));
  else console.log(`ok   ${name}: ${nodes["tt-status"].textContent}: ${nodes["tt-details"].children.map((li) => li.textContent).join(" | ")}`);
}
for (const [name, respond, want] of [
  ["bootstrap, 404", async () => ({ ok: false, status: 404 }), "fetch 404"],
  ["bootstrap, 422 (too large a bundle)", async () => ({ ok: false, status: 422 }), "fetch 422"],
  ["bootstrap, network error", async () => { throw new TypeError("Failed to fetch"); }, "fetch network"],
]) {
  const { nodes } = await page(respond);
  const lines = nodes["tt-details"].children.map((li) => li.textContent);
  // Nothing could be checked: not a failure of the log's proofs.
  if (nodes["tt-check"].dataset.state === "unchecked" && nodes["tt-status"].textContent === "UNCHECKED" && lines.join() === want && !nodes.folded.open)
    console.log(`ok   ${name}: unchecked: ${lines.join(" | ")}`);
  else fail(name, `state ${nodes["tt-check"].dataset.state}, lines ${JSON.stringify(lines)}`);
}
{
  // No step shown (no event names the item): nothing is fetched, and the page says so.
  const name = "bootstrap, no step shown";
  const { nodes, requests } = await page(async () => ({ ok: true, status: 200, text: async () => goldenText }), config({ leaves: [] }));
  const lines = nodes["tt-details"].children.map((li) => li.textContent);
  if (requests.length === 0 && nodes["tt-check"].dataset.state === "unchecked" && nodes["tt-status"].textContent === "UNCHECKED" && lines.join() === "no record")
    console.log(`ok   ${name}: unchecked: ${lines.join(" | ")}`);
  else fail(name, `requests ${requests.length}, state ${nodes["tt-check"].dataset.state}, lines ${JSON.stringify(lines)}`);
}

console.log(failures ? `${failures} failed` : "all passed");
process.exit(failures ? 1 : 0);
