// Syncs a bare @automerge/automerge peer (generateSyncMessage / receiveSyncMessage) with
// dagsync's core over a pipe (pipe_peer, a C++ program), and the same histories between two
// Automerge peers, in both directions: diverged histories from fresh sync states, again
// from saved sync states, and with one side restored from an old copy. Asserts that both
// sides end with equal heads, that the Automerge side's document is the merge it should be,
// and that dagsync's core takes no more messages than two Automerge peers take.
//   NODE_PATH=<dir>/node_modules node interop.js PIPE_PEER
// Prints one line per scenario: messages with dagsync, messages between Automerge peers.
'use strict';
const A = require('@automerge/automerge');
const { spawn } = require('child_process');
const readline = require('readline');
const assert = require('assert');

const hex = (b) => Buffer.from(b).toString('hex');
const unhex = (s) => new Uint8Array(Buffer.from(s, 'hex'));
const sorted = (hs) => [...hs].sort().join(',');

// The C++ side: one command a line, one reply a line.
class PipePeer {
  constructor(binary) {
    this.proc = spawn(binary, [], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.lines = readline.createInterface({ input: this.proc.stdout });
    this.waiting = [];
    this.lines.on('line', (l) => this.waiting.shift()(l));
  }
  ask(cmd) {
    return new Promise((resolve, reject) => {
      this.waiting.push((reply) => (reply.startsWith('error') ? reject(new Error(cmd.split(' ')[0] + ': ' + reply)) : resolve(reply)));
      this.proc.stdin.write(cmd + '\n');
    });
  }
  async add(changes) { for (const c of changes) await this.ask('add ' + hex(c)); }
  async generate() { const r = await this.ask('generate'); return r === 'none' ? null : unhex(r.slice(4)); }
  async receive(m) { await this.ask('receive ' + hex(m)); }
  async heads() { const r = (await this.ask('heads')).slice(6); return r === '-' ? [] : r.split(','); }
  async changes() { const r = (await this.ask('changes')).split(' ').slice(1); return r.map(unhex); }
  async save() { return unhex((await this.ask('save')).slice(6)); }
  async load(s) { await this.ask('load ' + hex(s)); }
  close() { this.proc.stdin.end(); }
}

// An Automerge peer with the same interface.
class JsPeer {
  constructor(doc, state = A.initSyncState()) { this.doc = doc; this.state = state; }
  async generate() { let m; [this.state, m] = A.generateSyncMessage(this.doc, this.state); return m; }
  async receive(m) { [this.doc, this.state] = A.receiveSyncMessage(this.doc, this.state, m); }
  async heads() { return A.getHeads(this.doc); }
}

// The loop every peer runs: first speaks first; a round is each side generating once.
// Records each peer's messages in `peer.sent`.
async function sync(first, second) {
  let messages = 0;
  first.sent = [];
  second.sent = [];
  for (let round = 0; round < 50; round++) {
    const m1 = await first.generate();
    if (m1) { messages++; first.sent.push(m1); await second.receive(m1); }
    const m2 = await second.generate();
    if (m2) { messages++; second.sent.push(m2); await first.receive(m2); }
    if (!m1 && !m2) return messages;
  }
  throw new Error('no convergence in 50 rounds');
}

// A reset: our heads, an empty have (no last_sync, an empty filter), nothing else.
function is_reset(m) {
  const d = A.decodeSyncMessage(m);
  return d.heads.length > 0 && d.need.length === 0 && d.changes.length === 0 &&
    d.have.length === 1 && d.have[0].lastSync.length === 0 && d.have[0].bloom.length === 0;
}

// Diverged histories: a shared root, then edits on each side, by different actors.
function histories(seed) {
  let a = A.init({ actor: 'a1'.repeat(16) });
  a = A.change(a, { time: 1 }, (d) => { d.list = ['root']; d.seed = seed; });
  let b = A.clone(a, { actor: '13b2230901' + 'b2'.repeat(16) });  // a 21-byte actor
  for (let i = 0; i < 4 + seed; i++) a = A.change(a, { time: 2 + i }, (d) => { d.list.push('a' + i); d['a' + i] = i; });
  for (let i = 0; i < 3; i++) b = A.change(b, { time: 20 + i }, (d) => { d.list.unshift('b' + i); d.text = 'b says ' + i; });
  return { a, b };
}

function edit(doc, label, n) {
  for (let i = 0; i < n; i++) doc = A.change(doc, { time: 100 + i }, (d) => { d.list.push(label + i); });
  return doc;
}

async function check_converged(js, pipe, expected) {
  const jh = sorted(await js.heads());
  assert.strictEqual(sorted(await pipe.heads()), jh, 'heads differ');
  assert.strictEqual(jh, sorted(A.getHeads(expected)), 'not the expected heads');
  assert.deepStrictEqual(A.toJS(js.doc), A.toJS(expected), 'Automerge side has the wrong contents');
  // What dagsync holds loads into a fresh Automerge document with the same contents.
  const loaded = A.loadIncremental(A.init(), Buffer.concat((await pipe.changes()).map(Buffer.from)));
  assert.deepStrictEqual(A.toJS(loaded), A.toJS(expected), 'dagsync holds other contents');
}

async function main() {
  const binary = process.argv[2];
  const results = [];
  const report = (name, ours, theirs) => {
    results.push(name);
    console.log(`${name}: ${ours} messages with dagsync, ${theirs} between Automerge peers`);
    assert.ok(ours <= theirs, `${name}: dagsync took ${ours} messages, Automerge peers ${theirs}`);
  };

  for (const js_first of [true, false]) {
    const dir = js_first ? 'Automerge first' : 'dagsync first';
    const { a, b } = histories(js_first ? 0 : 2);
    const expected = A.merge(A.clone(a), b);

    // 1. Diverged histories, fresh sync states.
    const pipe = new PipePeer(binary);
    await pipe.add(A.getAllChanges(b));
    const js = new JsPeer(A.clone(a));
    const ours = await (js_first ? sync(js, pipe) : sync(pipe, js));
    const ja = new JsPeer(A.clone(a)), jb = new JsPeer(A.clone(b));
    const theirs = await (js_first ? sync(ja, jb) : sync(jb, ja));
    await check_converged(js, pipe, expected);
    report(`diverged (${dir})`, ours, theirs);

    // 2. Saved sync states: both sides save, edit apart, resume from the saved states.
    await pipe.ask('snapshot');
    const pipe_saved = await pipe.save();
    const js_saved = A.encodeSyncState(js.state);
    const js_old = A.clone(js.doc);
    const b_more = edit(A.clone(expected, { actor: 'b3'.repeat(16) }), 'b', 3);
    const a_more = edit(A.clone(js.doc), 'a', 2);
    await pipe.add(A.getChanges(expected, b_more));
    await pipe.load(pipe_saved);
    js.doc = a_more;
    js.state = A.decodeSyncState(js_saved);
    const ours2 = await (js_first ? sync(js, pipe) : sync(pipe, js));
    const ja2 = new JsPeer(A.clone(a_more), A.decodeSyncState(A.encodeSyncState(ja.state)));
    const jb2 = new JsPeer(A.clone(b_more), A.decodeSyncState(A.encodeSyncState(jb.state)));
    const theirs2 = await (js_first ? sync(ja2, jb2) : sync(jb2, ja2));
    const expected2 = A.merge(A.clone(a_more), b_more);
    await check_converged(js, pipe, expected2);
    report(`saved states (${dir})`, ours2, theirs2);

    // 3a. dagsync restored from an old copy (the snapshot, a fresh state); Automerge resumes
    // from its saved state, whose shared heads dagsync lacks: when Automerge speaks first,
    // dagsync answers with a reset.
    await pipe.ask('restore');
    js.state = A.decodeSyncState(A.encodeSyncState(js.state));
    const ours3 = await (js_first ? sync(js, pipe) : sync(pipe, js));
    const jb3 = new JsPeer(A.clone(expected));
    const ja3 = new JsPeer(A.clone(ja2.doc), A.decodeSyncState(A.encodeSyncState(ja2.state)));
    const theirs3 = await (js_first ? sync(ja3, jb3) : sync(jb3, ja3));
    await check_converged(js, pipe, expected2);
    if (js_first) assert.ok(pipe.sent.some(is_reset), 'dagsync sent no reset');
    report(`dagsync restored from an old copy (${dir})`, ours3, theirs3);

    // 3b. Automerge restored from an old copy with its old saved state; dagsync resumes from
    // its saved state (shared heads the old copy lacks): when dagsync speaks first, Automerge
    // answers with a reset.
    js.doc = A.clone(js_old);
    js.state = A.decodeSyncState(js_saved);
    await pipe.load(await pipe.save());
    const ours4 = await (js_first ? sync(js, pipe) : sync(pipe, js));
    const ja4 = new JsPeer(A.clone(js_old), A.decodeSyncState(js_saved));
    const jb4 = new JsPeer(A.clone(jb3.doc), A.decodeSyncState(A.encodeSyncState(jb3.state)));
    const theirs4 = await (js_first ? sync(ja4, jb4) : sync(jb4, ja4));
    await check_converged(js, pipe, expected2);
    if (!js_first) assert.ok(js.sent.some(is_reset), 'Automerge sent no reset');
    report(`Automerge restored from an old copy (${dir})`, ours4, theirs4);
    pipe.close();
  }
  console.log(`interop: ${results.length} scenarios passed`);
}

main().catch((e) => { console.error('interop: FAILED: ' + (e.stack || e)); process.exit(1); });
