// A small log made here for trace-api/tests/check_js.mjs: events -> a provenance bundle with a
// checkpoint signed by a new key, inclusion proofs, an index head of one run of the events' EPC
// keys and key proofs of the identifiers asked for, so that histories the golden bundle does not
// have (containers reached two ways, left-out events of any identifier) can be checked.
// logWith({ canonical, epcKey }) -> build({ item, events: [{ ev, keep, authority }], proofsFor,
// omitted, keyName, indexSize }) -> { text, config }.
export function logWith({ canonical, epcKey }) {
  const sha = async (...parts) => Buffer.from(await crypto.subtle.digest("SHA-256", Buffer.concat(parts.map((p) => Buffer.from(p)))));
  const b64 = (x) => Buffer.from(x).toString("base64");
  const split = (n) => { let k = 1; while (k * 2 < n) k *= 2; return k; };
  async function mth(leaves) { // RFC 6962 over leaf hashes
    if (leaves.length === 1) return leaves[0];
    const k = split(leaves.length);
    return sha([1], await mth(leaves.slice(0, k)), await mth(leaves.slice(k)));
  }
  async function path(m, leaves) {
    if (leaves.length === 1) return [];
    const k = split(leaves.length);
    return m < k ? [...await path(m, leaves.slice(0, k)), await mth(leaves.slice(k))]
                 : [...await path(m - k, leaves.slice(k)), await mth(leaves.slice(0, k))];
  }
  async function spans(size, lo, hi, chunkHashes, s = 0, e = size, out = []) {
    if (e <= lo || s >= hi) { out.push(await mth(chunkHashes.slice(s, e))); return out; }
    if (e - s > 1) { const m = s + split(e - s); await spans(size, lo, hi, chunkHashes, s, m, out); await spans(size, lo, hi, chunkHashes, m, e, out); }
    return out;
  }
  const ids = (ev) => [...["epcList", "childEPCs", "inputEPCList", "outputEPCList"].flatMap((m) => ev[m] || []), ...(ev.parentID ? [ev.parentID] : [])];
  // events: [{ev, keep, authority}], proofsFor: identifiers whose proofs the bundle carries.
  async function build({ item, events, proofsFor, omitted, keyName = "demo.example/log", indexSize }) {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, true, ["sign", "verify"]);
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const keyBytes = Buffer.from([1, ...raw]);
    const id = (await sha(Buffer.from(keyName), [10], keyBytes)).subarray(0, 4);
    const keyLine = `${keyName}+${id.toString("hex")}+${b64(keyBytes)}`;
    const texts = events.map((e) => JSON.stringify(e.ev));
    const records = await Promise.all(texts.map(async (t) => Buffer.concat([Buffer.from([2]), Buffer.alloc(32), await sha(Buffer.from(t))])));
    const leafHashes = await Promise.all(records.map((r) => sha([0], r)));
    const root = await mth(leafHashes);
    const n = BigInt(events.length), idx = indexSize ?? events.length;
    // Index: one run, Epc keys only.
    const pairs = [];
    for (const [leaf, e] of events.entries()) {
      if (leaf >= idx) continue;
      const keys = new Set();
      for (const x of ids(e.ev)) keys.add(await epcKey(canonical(x) ?? x));
      for (const k of keys) { const p = Buffer.alloc(17); Buffer.from(k, "hex").copy(p); p.writeBigUInt64BE(BigInt(leaf), 9); pairs.push(p); }
    }
    pairs.sort(Buffer.compare);
    const chunks = [];
    for (let i = 0; i < pairs.length; i += 8) chunks.push(await sha([0], ...pairs.slice(i, i + 8)));
    const runRoot = chunks.length ? await mth(chunks) : await sha([]);
    const head = Buffer.alloc(13 + 56);
    head[0] = 1; head.writeBigUInt64BE(BigInt(idx), 1); head.writeUInt32BE(1, 9);
    head.writeBigUInt64BE(BigInt(idx), 21); head.writeBigUInt64BE(BigInt(pairs.length), 29); runRoot.copy(head, 37);
    const proof = async (keyHex) => {
      const key = Buffer.from(keyHex, "hex");
      const below = Buffer.concat([key, Buffer.alloc(8)]), above = Buffer.concat([key, Buffer.alloc(8, 0xff)]);
      const firstIn = pairs.findIndex((p) => Buffer.compare(p, below) >= 0), fi = firstIn < 0 ? pairs.length : firstIn;
      const fa0 = pairs.findIndex((p) => Buffer.compare(p, above) >= 0), fa = fa0 < 0 ? pairs.length : fa0;
      const C = chunks.length, lo = Math.floor(Math.max(fi - 1, 0) / 8), hi = fa < pairs.length ? Math.floor(fa / 8) + 1 : C;
      const ps = pairs.slice(lo * 8, Math.min(hi * 8, pairs.length)), hs = await spans(C, lo, hi, chunks);
      const h = Buffer.alloc(30); h[0] = 1; key.copy(h, 1); h.writeBigUInt64BE(0n, 10); h.writeBigUInt64BE(2n ** 64n - 1n, 18); h.writeUInt32BE(1, 26);
      const part = Buffer.alloc(21); part.writeBigUInt64BE(BigInt(lo), 0); part.writeBigUInt64BE(BigInt(hi), 8); part.writeUInt32BE(ps.length, 16); part[20] = hs.length;
      return b64(Buffer.concat([h, part, ...ps, ...hs]));
    };
    const proofs = [];
    for (const x of proofsFor) proofs.push(await proof(await epcKey(canonical(x) ?? x)));
    const noteText = `${keyName}\n${n}\n${b64(root)}\ntagtrail-index ${idx} ${b64(await sha([2], head))}\n`;
    const sig = Buffer.from(await crypto.subtle.sign("Ed25519", pair.privateKey, Buffer.from(noteText)));
    const checkpoint = `${noteText}\n\u2014 ${keyName} ${b64(Buffer.concat([id, sig]))}\n`;
    const bevents = [];
    for (const [leaf, e] of events.entries()) {
      if (e.keep === false) continue;
      bevents.push({ event: texts[leaf], leafRecord: b64(records[leaf]),
        inclusion: { leafIndex: leaf, treeSize: Number(n), hashes: (await path(leaf, leafHashes)).map(b64) },
        why: [], authority: e.authority ?? { kind: "authorised" } });
    }
    const bundle = { version: 2, item, checkpoint, events: bevents, index: { head: b64(head), proofs }, ...(omitted ? { omitted } : {}) };
    return { text: JSON.stringify(bundle), config: { item, keys: [keyLine], steps: [] } };
  }
  return build;
}
