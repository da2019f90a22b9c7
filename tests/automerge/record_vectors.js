// Records golden vectors from the real @automerge/automerge package into vectors/*.txt, which
// the core test binary replays without Node (tests/core/automerge/test_vectors.cpp).
//   NODE_PATH=<dir>/node_modules node record_vectors.js OUT_DIR
// Deterministic: fixed actor ids and times, so rerunning it rewrites the same files.
// One vector per line: kind, then space-separated fields (hex bytes, comma-separated hash lists,
// "-" for an empty list).
'use strict';
const A = require('@automerge/automerge');
const zlib = require('zlib');
const fs = require('fs');
const path = require('path');

const out = process.argv[2] || path.join(__dirname, 'vectors');
const hex = (b) => Buffer.from(b).toString('hex');
const list = (hashes) => (hashes.length ? [...hashes].sort().join(',') : '-');
const lines = [];
const fail = (why) => { console.error('record_vectors: ' + why); process.exit(1); };

function uleb(n) {
  const b = [];
  do { let x = n & 0x7f; n = Math.floor(n / 128); if (n) x |= 0x80; b.push(x); } while (n);
  return Buffer.from(b);
}

// A change chunk: its bytes, hash, actor, seq, deps, time and message as Automerge reads them.
function record_change(bytes) {
  const c = A.decodeChange(bytes);
  lines.push(['change', hex(bytes), c.hash, c.actor, c.seq, list(c.deps), c.time,
              Buffer.from(c.message || '').toString('hex') || '-'].join(' '));
  return c;
}

// Histories: a 16-byte actor, a 21-byte one (as Automerge's isolated actors are), a merge with
// two deps, a change above the 256-byte compression threshold, a negative time.
let a = A.init({ actor: '0123456789abcdef0123456789abcdef' });
a = A.change(a, { message: 'first', time: 1700000000 }, (d) => { d.items = ['x']; });
a = A.change(a, { time: 1700000001 }, (d) => { d.items.push('y'); });
let b = A.clone(a, { actor: '13b2230901fedcba9876543210fedcba9876543210' });
b = A.change(b, { message: 'héllo wörld', time: -5 }, (d) => { d.title = 'from b'; });
a = A.change(a, { time: 1700000002 }, (d) => { d.items.push('z'); });
a = A.merge(a, b);
a = A.change(a, { message: 'long', time: 1700000003 }, (d) => {
  d.text = 'lorem ipsum dolor sit amet '.repeat(40);
});
const changes = A.getAllChanges(a);
for (const ch of changes) record_change(ch);
if (!changes.some((ch) => A.decodeChange(ch).deps.length === 2)) fail('no merge change');

// Compressed chunks (type 2): Automerge writes raw DEFLATE of the type-1 body under the
// type-1 checksum. Built here with zlib and proven by loading into the real package.
for (const ch of changes) {
  if (ch.length <= 256) continue;
  const buf = Buffer.from(ch);
  let at = 9;
  let len = 0;
  for (let shift = 0; ; shift += 7) { const x = buf[at++]; len += (x & 0x7f) * 2 ** shift; if (!(x & 0x80)) break; }
  const body = buf.subarray(at, at + len);
  const deflated = zlib.deflateRawSync(body);
  const chunk = Buffer.concat([buf.subarray(0, 8), Buffer.from([2]), uleb(deflated.length), deflated]);
  const hash = A.decodeChange(ch).hash;
  // The package accepts it: a document holding every other change takes it and its hash
  // becomes a head.
  let partial = A.init();
  const ancestors = changes.filter((c) => c !== ch);
  partial = A.loadIncremental(partial, Buffer.concat(ancestors.map((c) => Buffer.from(c))));
  partial = A.loadIncremental(partial, chunk);
  if (!A.getHeads(partial).includes(hash)) fail('type 2 did not apply');
  lines.push(['compressed', chunk.toString('hex'), hash, hex(ch)].join(' '));
}

// Sync sessions on diverged histories: every message, as bytes and as the package decodes
// it; the Bloom filters with the hashes they were built on; the sync states afterwards. In
// the first session neither peer sees the other's trailer (as with a V1-only peer such as
// dagsync), so both send V1 messages of change chunks; in the second they do, and send V2
// messages holding whole documents (kind message_v2, which dagsync refuses).
let p = A.init({ actor: 'aa'.repeat(16) });
p = A.change(p, { time: 1 }, (d) => { d.n = 1; });
let q = A.clone(p, { actor: 'bb'.repeat(16) });
for (let i = 0; i < 3; i++) p = A.change(p, { time: 2 + i }, (d) => { d['p' + i] = i; });
for (let i = 0; i < 2; i++) q = A.change(q, { time: 10 + i }, (d) => { d['q' + i] = i; });
let ps = A.initSyncState();
let qs = A.initSyncState();
function record_message(m, doc, kind = 'message') {
  const d = A.decodeSyncMessage(m);
  const haves = d.have.map((h) => list(h.lastSync)).join(';') || '-';
  lines.push([kind, hex(m), list(d.heads), list(d.need), haves, d.changes.length].join(' '));
  if (kind !== 'message') return;
  for (const h of d.have) {
    // The filter holds every change of `doc` not covered by last_sync.
    const decoded = A.getAllChanges(doc).map((c) => A.decodeChange(c));
    const all = decoded.map((c) => c.hash);
    const deps = new Map(decoded.map((c) => [c.hash, c.deps]));
    const covered = new Set();
    const stack = [...h.lastSync];
    while (stack.length) {
      const x = stack.pop();
      if (covered.has(x)) continue;
      covered.add(x);
      stack.push(...(deps.get(x) || []));
    }
    const inside = all.filter((x) => !covered.has(x));
    lines.push(['bloom', hex(h.bloom) || '-', list(inside)].join(' '));
  }
}
// The message less its trailer (02 02 84 in 3.5.0), as a V1-only peer would send it.
function strip(m) {
  const b = Buffer.from(m);
  if (b.subarray(b.length - 3).toString('hex') !== '020284') fail('unexpected trailer');
  return new Uint8Array(b.subarray(0, b.length - 3));
}
const p0 = A.clone(p);
const q0 = A.clone(q);
for (let round = 0; round < 20; round++) {
  let m1, m2;
  [ps, m1] = A.generateSyncMessage(p, ps);
  if (m1) { record_message(m1, p); [q, qs] = A.receiveSyncMessage(q, qs, strip(m1)); }
  [qs, m2] = A.generateSyncMessage(q, qs);
  if (m2) { record_message(m2, q); [p, ps] = A.receiveSyncMessage(p, ps, strip(m2)); }
  if (!m1 && !m2) break;
}
if (list(A.getHeads(p)) !== list(A.getHeads(q))) fail('peers did not converge');
{
  let p2 = p0, q2 = q0, p2s = A.initSyncState(), q2s = A.initSyncState();
  for (let round = 0; round < 20; round++) {
    let m1, m2;
    [p2s, m1] = A.generateSyncMessage(p2, p2s);
    if (m1) { record_message(m1, p2, 'message_v2'); [q2, q2s] = A.receiveSyncMessage(q2, q2s, m1); }
    [q2s, m2] = A.generateSyncMessage(q2, q2s);
    if (m2) { record_message(m2, q2, 'message_v2'); [p2, p2s] = A.receiveSyncMessage(p2, p2s, m2); }
    if (!m1 && !m2) break;
  }
}
for (const s of [ps, qs, A.initSyncState()]) {
  const enc = A.encodeSyncState(s);
  lines.push(['state', hex(enc), list(A.decodeSyncState(enc).sharedHeads)].join(' '));
}

// The installed version (the package's exports hide its package.json from require).
function package_version() {
  const main = require.resolve('@automerge/automerge');
  let dir = path.dirname(main);
  while (!fs.existsSync(path.join(dir, 'package.json')) ||
         JSON.parse(fs.readFileSync(path.join(dir, 'package.json'))).name !== '@automerge/automerge') {
    dir = path.dirname(dir);
  }
  return JSON.parse(fs.readFileSync(path.join(dir, 'package.json'))).version;
}

fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(path.join(out, 'vectors.txt'),
  '# Recorded from @automerge/automerge ' + package_version() +
  ' by tests/automerge/record_vectors.js; replayed by tests/core/automerge/test_vectors.cpp.\n' +
  lines.join('\n') + '\n');
console.log('record_vectors: ' + lines.length + ' vectors in ' + path.join(out, 'vectors.txt'));
