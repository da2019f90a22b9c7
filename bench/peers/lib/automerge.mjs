// Automerge peer: changes authored directly in Automerge's binary change format, so that
// any actor and any set of dependencies can be used without cloning documents.
import { release, reserveWasmHeap } from "./wasm-capture.mjs"; // before the library
import * as Automerge from "@automerge/automerge";
import { createHash } from "node:crypto";
import { payload, walkShape, actorHex16 } from "./shape.mjs";

export const packageName = "@automerge/automerge";
release();
export { reserveWasmHeap };

// --- building one change --------------------------------------------------------------
//
// Automerge.encodeChange takes the JSON form of a change, which cannot carry a bytes
// value. So each change is encoded with a placeholder string of P ASCII bytes and then
// patched: in the value-metadata column the type nibble goes from 6 (UTF-8 string) to 7
// (bytes) and the P placeholder bytes in the value column become the payload. Both have
// the same length, so the layout does not move. Then the chunk checksum and the change
// hash (SHA-256 over chunk type, length and contents) are recomputed.

function readUleb(buf, pos) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7;
  }
}

function readSleb(buf, pos) {
  let result = 0;
  let shift = 0;
  let b;
  do {
    b = buf[pos++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
  } while (b & 0x80);
  if (b & 0x40) result -= 2 ** shift;
  return [result, pos];
}

const COL_VALUE_META = 0x56; // column 5, type "value metadata"
const COL_VALUE = 0x57; // column 5, type "value"
const COL_DEFLATE = 0x08;

function patchToBytes(chunk, data) {
  if (chunk[0] !== 0x85 || chunk[1] !== 0x6f || chunk[2] !== 0x4a || chunk[3] !== 0x83) {
    throw new Error("automerge: not a chunk");
  }
  if (chunk[8] !== 1) throw new Error(`automerge: expected an uncompressed change chunk, got type ${chunk[8]}`);
  let pos = 9;
  let len;
  [len, pos] = readUleb(chunk, pos);
  const end = pos + len;
  let n;
  [n, pos] = readUleb(chunk, pos); // deps
  pos += 32 * n;
  [n, pos] = readUleb(chunk, pos); // actor
  pos += n;
  [, pos] = readUleb(chunk, pos); // seq
  [, pos] = readUleb(chunk, pos); // start op
  [, pos] = readSleb(chunk, pos); // time
  [n, pos] = readUleb(chunk, pos); // message
  pos += n;
  let others;
  [others, pos] = readUleb(chunk, pos);
  for (let k = 0; k < others; ++k) {
    [n, pos] = readUleb(chunk, pos);
    pos += n;
  }
  let ncols;
  [ncols, pos] = readUleb(chunk, pos);
  const cols = [];
  for (let k = 0; k < ncols; ++k) {
    let spec, clen;
    [spec, pos] = readUleb(chunk, pos);
    [clen, pos] = readUleb(chunk, pos);
    cols.push([spec, clen]);
  }
  let off = pos;
  let metaAt = -1;
  let valueAt = -1;
  let valueLen = 0;
  for (const [spec, clen] of cols) {
    if ((spec & ~COL_DEFLATE) === COL_VALUE_META || (spec & ~COL_DEFLATE) === COL_VALUE) {
      if (spec & COL_DEFLATE) throw new Error("automerge: deflated value column, cannot patch");
      if (spec === COL_VALUE_META) metaAt = off;
      else [valueAt, valueLen] = [off, clen];
    }
    off += clen;
  }
  if (off > end) throw new Error("automerge: column lengths overrun the chunk");
  // value metadata: one RLE literal run of one uLEB value (length << 4 | type)
  if (metaAt < 0) throw new Error("automerge: no value metadata column");
  let [count, p] = readSleb(chunk, metaAt);
  if (count !== -1) throw new Error(`automerge: unexpected value metadata run ${count}`);
  const [meta] = readUleb(chunk, p);
  if (meta !== data.length * 16 + 6) throw new Error("automerge: unexpected value metadata");
  chunk[p] = (chunk[p] & 0xf0) | 7;
  if (data.length > 0) {
    if (valueLen !== data.length) throw new Error("automerge: value column length mismatch");
    chunk.set(data, valueAt);
  }
  const hash = createHash("sha256").update(chunk.subarray(8, end)).digest();
  chunk.set(hash.subarray(0, 4), 4);
  return hash.toString("hex");
}

// One change by `actorHex` with sequence number `seq` and op counter `startOp`, putting
// `data` under `key` in the root map. Returns { bytes, hash }.
export function buildChange(actorHex, seq, startOp, deps, key, data) {
  const placeholder = "a".repeat(data.length);
  const bytes = Automerge.encodeChange({
    actor: actorHex,
    seq,
    startOp,
    time: 0,
    message: null,
    deps: deps.slice().sort(),
    ops: [{ action: "set", obj: "_root", key, value: placeholder, pred: [] }],
  });
  const hash = patchToBytes(bytes, data);
  return { bytes, hash };
}

function concat(chunks) {
  let total = 0;
  for (const c of chunks) total += c.length;
  const out = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

// All changes of the shape, as { shared: [bytes], sideA: [bytes], sideB: [bytes], heads }.
export function buildShape(params) {
  const { P } = params;
  const actors = new Map();
  const seqs = new Map();
  const out = { shared: [], sideA: [], sideB: [] };
  const r = walkShape(params, (i, name, deps, phase) => {
    let actor = actors.get(name);
    if (actor === undefined) {
      actor = actorHex16(name);
      actors.set(name, actor);
    }
    const seq = (seqs.get(name) ?? 0) + 1;
    seqs.set(name, seq);
    // Lamport rule: one more than the largest op counter in the change's history. With one
    // op per change that is max over the deps' own counters.
    let startOp = 1;
    for (const d of deps) if (d.op + 1 > startOp) startOp = d.op + 1;
    const { bytes, hash } = buildChange(actor, seq, startOp, deps.map((d) => d.key), `k${i}`, payload(i, P));
    out[phase].push(bytes);
    return { key: hash, op: startOp };
  });
  out.sharedHeads = r.sharedHeads.map((h) => h.key).sort();
  out.aHeads = r.aHeads.map((h) => h.key).sort();
  out.bHeads = r.bHeads.map((h) => h.key).sort();
  out.finalHeads = [...new Set([...r.aHeads, ...r.bHeads].map((h) => h.key))].sort();
  return out;
}

const sameHeads = (x, y) => {
  const a = x.slice().sort();
  const b = y.slice().sort();
  return a.length === b.length && a.every((h, k) => h === b[k]);
};

// Self-check of the change construction on one small change.
export function selfCheck() {
  const data = payload(0, 64);
  const { bytes, hash } = buildChange(actorHex16("actor 0"), 1, 1, [], "k0", data);
  const dc = Automerge.decodeChange(bytes);
  // decodeChange renders a bytes value as a plain array of numbers
  const v = dc.ops[0].value;
  if (!Array.isArray(v) && !(v instanceof Uint8Array)) throw new Error("automerge self-check: value is not bytes");
  if (Buffer.compare(Buffer.from(Uint8Array.from(v)), Buffer.from(data)) !== 0) {
    throw new Error("automerge self-check: payload did not round-trip as bytes");
  }
  if (dc.hash !== hash) throw new Error("automerge self-check: hash mismatch");
  const doc = Automerge.load(bytes);
  const got = doc.k0;
  if (!(got instanceof Uint8Array) || Buffer.compare(Buffer.from(got), Buffer.from(data)) !== 0) {
    throw new Error("automerge self-check: loaded document does not hold the payload");
  }
}

// A sync endpoint over one document and one sync state.
class Peer {
  constructor(doc, state) {
    this.doc = doc;
    this.state = state;
  }
  generate() {
    const [state, msg] = Automerge.generateSyncMessage(this.doc, this.state);
    this.state = state;
    return msg;
  }
  receive(msg) {
    const [doc, state] = Automerge.receiveSyncMessage(this.doc, this.state, msg);
    this.doc = doc;
    this.state = state;
  }
}

// Prepares the two replicas. Returns { a, b, changeBytes(messages), converged() }.
export function prepare(params, scenario, { log, pingPong }) {
  selfCheck();
  let t = performance.now();
  let shape = buildShape(params);
  const { sharedHeads, finalHeads, aHeads, bHeads } = shape;
  log(`automerge: built ${shape.shared.length + shape.sideA.length + shape.sideB.length} changes in ${(performance.now() - t).toFixed(0)} ms`);
  t = performance.now();
  let docA;
  let docB;
  let stateA = Automerge.initSyncState();
  let stateB = Automerge.initSyncState();
  if (scenario === "a") {
    // Each replica is loaded straight from the shared history plus its side's changes.
    let bytesA = concat([...shape.shared, ...shape.sideA]);
    let bytesB = concat([...shape.shared, ...shape.sideB]);
    shape = null; // keep the JS heap small while the documents load
    docA = Automerge.load(bytesA);
    bytesA = null;
    docB = Automerge.load(bytesB);
    bytesB = null;
    if (!sameHeads(Automerge.getHeads(docA), aHeads) || !sameHeads(Automerge.getHeads(docB), bHeads)) {
      throw new Error("automerge: loaded heads differ from the constructed ones");
    }
    log(`automerge: loaded both replicas in ${(performance.now() - t).toFixed(0)} ms`);
  } else {
    const history = concat(shape.shared);
    docA = Automerge.load(history);
    docB = Automerge.clone(docA);
    if (!sameHeads(Automerge.getHeads(docA), sharedHeads)) throw new Error("automerge: shared heads differ from the constructed ones");
    log(`automerge: loaded shared history (${history.length} bytes of changes) in ${(performance.now() - t).toFixed(0)} ms`);
    // A previous session synced the shared history to completion; both sides persisted
    // their sync state (encodeSyncState) and load it back now.
    const a = new Peer(docA, stateA);
    const b = new Peer(docB, stateB);
    const r = pingPong(a, b);
    log(`automerge: previous session took ${r.messages} messages`);
    docA = a.doc;
    docB = b.doc;
    stateA = Automerge.decodeSyncState(Automerge.encodeSyncState(a.state));
    stateB = Automerge.decodeSyncState(Automerge.encodeSyncState(b.state));
    t = performance.now();
    if (shape.sideA.length) docA = Automerge.loadIncremental(docA, concat(shape.sideA));
    if (shape.sideB.length) docB = Automerge.loadIncremental(docB, concat(shape.sideB));
    shape = null;
    log(`automerge: applied side changes in ${(performance.now() - t).toFixed(0)} ms`);
  }
  const a = new Peer(docA, stateA);
  const b = new Peer(docB, stateB);
  return {
    a,
    b,
    changeBytes(messages) {
      let total = 0;
      for (const m of messages) for (const c of Automerge.decodeSyncMessage(m).changes) total += c.length;
      return total;
    },
    converged() {
      const ha = Automerge.getHeads(a.doc);
      const hb = Automerge.getHeads(b.doc);
      return sameHeads(ha, hb) && sameHeads(ha, finalHeads);
    },
  };
}

// Realtime rounds on a shared history of N changes (bench scenario (f)): two replicas in
// sync, their sync states kept from the exchange that synced them; then each round one side
// (alternating) commits one change and both sync until quiet. Returns
// { round(r) -> wire bytes, converged() }.
export function prepareRealtime(params, { log, pingPong }) {
  selfCheck();
  let t = performance.now();
  const shape = buildShape({ ...params, D: 0 });
  const history = concat(shape.shared);
  shape.shared = null;
  const a = new Peer(Automerge.load(history, actorHex16("sideA")), Automerge.initSyncState());
  const b = new Peer(Automerge.load(history, actorHex16("sideB")), Automerge.initSyncState());
  log(`automerge: loaded two replicas of ${params.N} changes in ${(performance.now() - t).toFixed(0)} ms`);
  t = performance.now();
  pingPong(a, b);
  log(`automerge: first sync took ${(performance.now() - t).toFixed(0)} ms`);
  return {
    round(r) {
      const author = r % 2 ? b : a;
      const data = payload(params.N + r, params.P);
      author.doc = Automerge.change(author.doc, (d) => {
        d[`r${r}`] = data;
      });
      return pingPong(a, b).wireBytes;
    },
    converged() {
      return sameHeads(Automerge.getHeads(a.doc), Automerge.getHeads(b.doc));
    },
  };
}
