#!/usr/bin/env node
// Server benchmarks with real automerge-repo 2.5.6 clients, against dagsync's automerge-repo
// server (dagsync-peer serve --automerge, SQLite store) or a Node server built the way
// automerge-repo-sync-server is (lib/amrepo-server.mjs: NodeWSServerAdapter, NodeFSStorageAdapter).
// Prints one JSON line on stdout, progress on stderr; exits non-zero when the clients did not
// end with the heads and contents they should (or anything failed). Servers and client
// processes are killed at exit, on failure too.
//
//   node amrepo.mjs --server dagsync|node --workload load    [--docs 1000] [--changes 100]
//   node amrepo.mjs --server dagsync|node --workload fanout  [--clients 100] [--workers 4] [--rounds 50]
//   node amrepo.mjs --server node|dagsync --workload many  --M 1000  (start-up, one document
//                                                   of M, reconnect with 0% and 1% changed)
//   node amrepo.mjs --server node|dagsync --workload idle  --clients 1000 [--workers 4]
// Common: --P 64 (payload bytes per change), --peer PATH (dagsync-peer; default
// build-bench/examples/dagsync-peer), --quiet.
//
// Server RSS is read from /proc/<pid>/status of the server process: VmRSS now, VmHWM its peak.
import { spawn, fork } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import {
  makeClient,
  createDocument,
  hasDocumentContent,
  getAllChanges,
  until,
  sleep,
  wire,
  resetWire,
} from "./lib/amrepo-client.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const AUTOMERGE_REPO_VERSION = "2.5.6";

// --- options ----------------------------------------------------------------------------
const opts = {
  server: null,
  workload: null,
  docs: 1000,
  changes: 100,
  clients: 100,
  workers: 4,
  rounds: 50,
  warmup: 3,
  gap: 150,
  M: 1000,
  P: 64,
  peer: resolve(here, "../../build-bench/examples/dagsync-peer"),
  share: "none",
  restart: 1,
  quiet: false,
};
const NUMERIC = ["docs", "changes", "clients", "workers", "rounds", "warmup", "gap", "M", "P", "restart"];
function usage(msg) {
  if (msg) process.stderr.write(`amrepo.mjs: ${msg}\n`);
  process.stderr.write(
    "usage: node amrepo.mjs --server dagsync|node --workload load|fanout|many|idle\n" +
      "         [--docs 1000] [--changes 100] [--restart 1] (load)\n" +
      "         [--clients 100] [--workers 4] [--rounds 50] [--warmup 3] [--gap 150] (fanout, idle)\n" +
      "         [--M 1000] (many) [--P 64] [--peer build-bench/examples/dagsync-peer]\n" +
      "         [--share none|everything] (the Node server's share policy) [--quiet]\n",
  );
  process.exit(2);
}
const argv = process.argv.slice(2);
for (let k = 0; k < argv.length; ++k) {
  const a = argv[k];
  if (a === "--quiet") {
    opts.quiet = true;
    continue;
  }
  if (!a.startsWith("--") || !(a.slice(2) in opts) || k + 1 >= argv.length) usage(`bad argument '${a}'`);
  const key = a.slice(2);
  const v = argv[++k];
  if (NUMERIC.includes(key)) {
    const n = Number(v);
    if (!Number.isSafeInteger(n) || n < 0) usage(`--${key} must be a non-negative integer`);
    opts[key] = n;
  } else opts[key] = v;
}
if (!["dagsync", "node"].includes(opts.server)) usage("--server must be dagsync or node");
if (!["load", "fanout", "many", "idle"].includes(opts.workload)) usage("--workload must be load, fanout, many or idle");
// many and idle are issue 13 (h)'s workloads for the Node server (dagsync-bench startup,
// reconnect and idle measure dagsync's with its own clients); they run against dagsync's
// server too, with automerge-repo clients, for comparison.
if (opts.workers < 1 || opts.clients < 1 || opts.changes < 1 || opts.rounds < 1) usage("counts must be at least 1");
const log = opts.quiet ? () => {} : (s) => process.stderr.write(`amrepo ${opts.server} ${opts.workload}: ${s}\n`);

// --- processes: everything started is killed at exit -------------------------------------
const work = mkdtempSync(join(tmpdir(), "amrepo-bench-"));
const children = new Set();
function killAll() {
  for (const c of children) {
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
  children.clear();
  rmSync(work, { recursive: true, force: true });
}
process.on("exit", killAll);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => process.exit(130));

// RSS now and at its peak, and CPU time used so far (user + system), of a process.
function status(pid) {
  const s = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (k) => Number((s.match(new RegExp(`^${k}:\\s+(\\d+) kB`, "m")) || [])[1]);
  // /proc/<pid>/stat: fields 14 and 15 (utime, stime) after the parenthesised name, in ticks
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const cpu_ms = ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  return { rss_kb: kb("VmRSS"), hwm_kb: kb("VmHWM"), cpu_ms };
}
const CLOCK_TICKS = 100; // sysconf(_SC_CLK_TCK) on Linux

// Starts a server on `store` and resolves {proc, url, pid, start_ms} when it prints its
// listening line (start_ms: from spawn to that line).
function startServer(store) {
  const t0 = performance.now();
  let cmd, args;
  if (opts.server === "dagsync") {
    if (!existsSync(opts.peer)) throw new Error(`${opts.peer} missing: ninja -C build-bench examples/dagsync-peer`);
    cmd = opts.peer;
    args = ["serve", "--automerge", "127.0.0.1:0", "--store", `${store}.sqlite`];
  } else {
    cmd = process.execPath;
    args = [join(here, "lib/amrepo-server.mjs"), "--dir", store, "--share", opts.share];
  }
  const proc = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
  children.add(proc);
  let errText = "";
  proc.stderr.on("data", (d) => (errText = (errText + d).slice(-4000)));
  return new Promise((resolveStart, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error(`server did not start in 120 s: ${errText}`)), 120000);
    proc.stdout.on("data", (d) => {
      out += d;
      const m = out.match(/listening on (ws:\/\/\S+) \(automerge-repo\)/);
      if (m && timer) {
        clearTimeout(timer);
        resolveStart({ proc, url: m[1], pid: proc.pid, start_ms: performance.now() - t0 });
        out = "";
      }
      if (out.length > 100000) out = out.slice(-1000);
    });
    proc.on("exit", (code) => {
      children.delete(proc);
      reject(new Error(`server exited (${code}): ${errText}`));
    });
  });
}

async function stopServer(server) {
  const exited = new Promise((r) => server.proc.once("exit", r));
  server.proc.kill("SIGTERM");
  await Promise.race([exited, sleep(20000)]);
  if (children.has(server.proc)) server.proc.kill("SIGKILL");
  children.delete(server.proc);
}

async function shutdownClient(c) {
  await Promise.race([c.repo.shutdown().catch(() => {}), sleep(5000)]);
}

// One process of `names.length` clients (lib/amrepo-worker.mjs).
function startWorker(url, names, docUrl) {
  const proc = fork(join(here, "lib/amrepo-worker.mjs"), [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  children.add(proc);
  proc.on("exit", () => children.delete(proc));
  const waiting = [];
  proc.on("message", (m) => {
    if (m.error) {
      process.stderr.write(`worker: ${m.error}\n`);
      process.exit(1);
    }
    const w = waiting.shift();
    if (w) w(m);
  });
  const ask = (m) =>
    new Promise((r) => {
      waiting.push(r);
      proc.send(m);
    });
  return { proc, ask, ready: ask({ cmd: "start", url, names, docUrl }) };
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const round3 = (x) => Math.round(x * 1000) / 1000;

// Makes `count` documents of `changes` changes through one client and waits until the server
// has told it heads equal to its own for every one. Returns [{url, heads}].
async function populate(url, count, changes, { storageDir, batch = 500, first = 0 } = {}) {
  const c = makeClient(url, { name: `populate-${Date.now()}`, storageDir });
  await c.connected;
  const made = [];
  for (let b = 0; b < count; b += batch) {
    const handles = [];
    for (let d = b; d < Math.min(count, b + batch); ++d) handles.push(createDocument(c.repo, first + d, changes, opts.P));
    await until(() => handles.every((h) => c.inSync(h)), 600000, "populate: server in sync");
    for (const h of handles) made.push({ url: h.url, documentId: h.documentId, heads: h.heads() });
    if (count > batch) {
      await c.repo.flush();
      for (const h of handles) await c.repo.removeFromCache(h.documentId);
    }
    log(`populated ${made.length} / ${count}`);
  }
  await shutdownClient(c);
  return made;
}

function emit(result) {
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!result.converged) {
    log("clients did NOT end with the expected heads and contents");
    process.exitCode = 1;
  }
}

const base = () => ({
  kind: "amrepo",
  server: opts.server === "dagsync" ? "dagsync" : `automerge-repo ${AUTOMERGE_REPO_VERSION} (Node)`,
  client: `automerge-repo ${AUTOMERGE_REPO_VERSION}`,
  workload: opts.workload,
  P: opts.P,
});

// --- issue 14 (1): a fresh client loads `docs` documents of `changes` changes ----------------
async function load() {
  const store = join(work, "server");
  let server = await startServer(store);
  log(`server ${server.url}; populating ${opts.docs} documents of ${opts.changes} changes`);
  const docs = await populate(server.url, opts.docs, opts.changes);
  if (opts.restart) {
    await stopServer(server);
    server = await startServer(store);
    log(`server restarted from its store (${server.url})`);
  }
  const before = status(server.pid);
  const c = makeClient(server.url, { name: "fresh-client" });
  await c.connected;
  resetWire();
  log(`a fresh client finds ${docs.length} documents`);
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  const handles = await Promise.all(docs.map((d) => c.repo.find(d.url)));
  await until(() => handles.every((h, k) => c.sameHeads(h.heads(), docs[k].heads)), 600000, "every document loaded");
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const after = status(server.pid);
  const converged = handles.every((h, k) => c.sameHeads(h.heads(), docs[k].heads) && hasDocumentContent(h, k, opts.changes, opts.P));
  const frames = { ...wire };
  await shutdownClient(c);
  emit({
    ...base(),
    docs: opts.docs,
    changes: opts.changes,
    server_restarted: !!opts.restart,
    wall_ms: round3(wallMs),
    server_cpu_ms: Math.round(after.cpu_ms - before.cpu_ms),
    client_cpu_ms: Math.round((cpu.user + cpu.system) / 1000),
    frames_sent: frames.framesSent,
    frames_received: frames.framesReceived,
    bytes_sent: frames.bytesSent,
    bytes_received: frames.bytesReceived,
    server_rss_before_kb: before.rss_kb,
    server_rss_kb: after.rss_kb,
    server_hwm_kb: after.hwm_kb,
    converged,
  });
  await stopServer(server);
}

// --- issue 14 (2): one change fanned out to `clients` clients -----------------------------
async function fanout() {
  const server = await startServer(join(work, "server"));
  const writer = makeClient(server.url, { name: "writer" });
  await writer.connected;
  const handle = createDocument(writer.repo, 0, 10, opts.P);
  handle.change((d) => {
    d.round = -1;
  });
  await until(() => writer.inSync(handle), 60000, "writer in sync");
  log(`document ${handle.url}; ${opts.clients} clients in ${opts.workers} processes find it`);
  const workers = [];
  for (let w = 0; w < opts.workers; ++w) {
    const names = [];
    for (let k = w; k < opts.clients; k += opts.workers) names.push(`fan-${k}`);
    if (names.length) workers.push(startWorker(server.url, names, handle.url));
  }
  await Promise.all(workers.map((w) => w.ready));
  const before = status(server.pid);
  log("all clients hold the document");
  const delays = []; // ms, per client per measured round
  const allSeen = []; // ms, per measured round: until the last client had it
  for (let r = 0; r < opts.warmup + opts.rounds; ++r) {
    // automerge-repo syncs a changed document at most every 100 ms (DocSynchronizer's
    // syncDebounceRate; a change after a quiet 100 ms goes at once): rounds --gap ms apart
    // measure the delivery of one edit, not the writer's (or the Node server's) throttle.
    await sleep(opts.gap);
    const seen = workers.map((w) => w.ask({ cmd: "watch", round: r }));
    const t = process.hrtime.bigint();
    handle.change((d) => {
      d.round = r;
    });
    const answers = await Promise.all(seen);
    if (r < opts.warmup) continue;
    const ms = answers.flatMap((a) => a.at.map((ns) => Number(BigInt(ns) - t) / 1e6));
    delays.push(...ms);
    allSeen.push(Math.max(...ms));
  }
  const after = status(server.pid);
  await until(() => writer.inSync(handle), 60000, "writer in sync at the end");
  const want = handle.heads();
  const heads = (await Promise.all(workers.map((w) => w.ask({ cmd: "heads" })))).flatMap((a) => a.heads);
  const converged = heads.length === opts.clients && heads.every((h) => writer.sameHeads(h, want));
  delays.sort((a, b) => a - b);
  allSeen.sort((a, b) => a - b);
  await Promise.all(workers.map((w) => w.proc.send({ cmd: "stop" })));
  await shutdownClient(writer);
  emit({
    ...base(),
    clients: opts.clients,
    workers: opts.workers,
    rounds: opts.rounds,
    gap_ms: opts.gap,
    delivery_p50_ms: round3(percentile(delays, 50)),
    delivery_p99_ms: round3(percentile(delays, 99)),
    delivery_max_ms: round3(delays[delays.length - 1]),
    all_clients_p50_ms: round3(percentile(allSeen, 50)),
    all_clients_max_ms: round3(allSeen[allSeen.length - 1]),
    server_cpu_ms_per_round: round3((after.cpu_ms - before.cpu_ms) / (opts.warmup + opts.rounds)),
    server_rss_before_kb: before.rss_kb,
    server_rss_kb: after.rss_kb,
    server_hwm_kb: after.hwm_kb,
    converged,
  });
  await stopServer(server);
}

// --- issue 13 (h) on the Node server: start-up, one of M, reconnect 0% / 1% -----------------
async function many() {
  const M = opts.M;
  const changes = 20;
  const store = join(work, "server");
  const clientStore = join(work, "client");
  let server = await startServer(store);
  log(`populating ${M} documents of ${changes} changes (the holder client keeps them in its storage)`);
  const docs = await populate(server.url, M, changes, { storageDir: clientStore });
  await stopServer(server);

  // Start-up with M stored documents.
  server = await startServer(store);
  const startup = { ms: server.start_ms, ...status(server.pid) };
  log(`start-up ${startup.ms.toFixed(0)} ms, RSS ${startup.rss_kb} kB`);

  // One document out of M, by a fresh client, on the freshly started server.
  let rng = 0x2545f491;
  const pick = () => {
    rng ^= rng << 13;
    rng ^= rng >>> 17;
    rng ^= rng << 5;
    return (rng >>> 0) % M;
  };
  const one = docs[pick()];
  const fresh = makeClient(server.url, { name: "fresh-one" });
  await fresh.connected;
  let t0 = performance.now();
  const oneHandle = await fresh.repo.find(one.url);
  const oneMs = performance.now() - t0;
  let converged = fresh.sameHeads(oneHandle.heads(), one.heads);
  await shutdownClient(fresh);
  log(`one document of ${M}: ${oneMs.toFixed(1)} ms`);

  // The holder reconnects: its storage holds the M documents and its sync states. The server
  // is restarted first, so that each reconnect meets a server that has loaded nothing (as
  // dagsync-bench reconnect's server): the first reconnect would otherwise pay for loading
  // the documents and the second not.
  async function reconnect(expected) {
    await stopServer(server);
    server = await startServer(store);
    const c = makeClient(server.url, { name: "holder", storageDir: clientStore });
    resetWire();
    const t = performance.now();
    await c.connected;
    const handles = await Promise.all(expected.map((d) => c.repo.find(d.url)));
    await until(
      () => handles.every((h, k) => c.inSync(h) && c.sameHeads(h.heads(), expected[k].heads)),
      1800000,
      "holder in sync",
      50,
    );
    const ms = performance.now() - t;
    const frames = { ...wire };
    const rss = status(server.pid);
    const ok = handles.every((h, k) => hasDocumentContent(h, k, changes, opts.P) && h.doc().edited === expected[k].edited);
    await shutdownClient(c);
    return { ms, frames, rss, ok };
  }
  const r0 = await reconnect(docs);
  log(`reconnect, 0% changed: ${r0.ms.toFixed(0)} ms`);

  // 1% of the documents get one change through the server while the holder is away.
  const changed = Math.max(1, Math.round(M / 100));
  const editor = makeClient(server.url, { name: "editor" });
  await editor.connected;
  const expected = docs.slice();
  for (let k = 0; k < changed; ++k) {
    const i = Math.floor((k * M) / changed);
    const h = await editor.repo.find(docs[i].url);
    h.change((d) => {
      d.edited = k;
    });
    await until(() => editor.inSync(h), 60000, "editor in sync");
    expected[i] = { ...docs[i], heads: h.heads(), edited: k };
  }
  await shutdownClient(editor);
  const r1 = await reconnect(expected);
  log(`reconnect, 1% changed: ${r1.ms.toFixed(0)} ms`);
  converged = converged && r0.ok && r1.ok;
  emit({
    ...base(),
    M,
    changes,
    startup_ms: round3(startup.ms),
    startup_rss_kb: startup.rss_kb,
    one_doc_ms: round3(oneMs),
    reconnect0_ms: round3(r0.ms),
    reconnect0_frames_sent: r0.frames.framesSent,
    reconnect0_frames_received: r0.frames.framesReceived,
    reconnect0_bytes: r0.frames.bytesSent + r0.frames.bytesReceived,
    reconnect0_server_rss_kb: r0.rss.rss_kb,
    changed,
    reconnect1_ms: round3(r1.ms),
    reconnect1_frames_sent: r1.frames.framesSent,
    reconnect1_frames_received: r1.frames.framesReceived,
    reconnect1_bytes: r1.frames.bytesSent + r1.frames.bytesReceived,
    reconnect1_server_rss_kb: r1.rss.rss_kb,
    server_hwm_kb: status(server.pid).hwm_kb,
    converged,
  });
  await stopServer(server);
}

// --- issue 13 (h): idle connections ---------------------------------------------------------
async function idle() {
  const server = await startServer(join(work, "server"));
  await sleep(500);
  const before = status(server.pid);
  const workers = [];
  for (let w = 0; w < opts.workers; ++w) {
    const names = [];
    for (let k = w; k < opts.clients; k += opts.workers) names.push(`idle-${k}`);
    if (names.length) workers.push(startWorker(server.url, names));
  }
  await Promise.all(workers.map((w) => w.ready));
  log(`${opts.clients} clients connected and joined`);
  await sleep(1000); // the server's answers to the joins are sent; nothing else moves
  const after = status(server.pid);
  await Promise.all(workers.map((w) => w.proc.send({ cmd: "stop" })));
  emit({
    ...base(),
    clients: opts.clients,
    workers: opts.workers,
    server_rss_before_kb: before.rss_kb,
    server_rss_kb: after.rss_kb,
    server_hwm_kb: after.hwm_kb,
    per_connection_kb: round3((after.rss_kb - before.rss_kb) / opts.clients),
    converged: true,
  });
  await stopServer(server);
}

const workloads = { load, fanout, many, idle };
workloads[opts.workload]()
  .then(() => process.exit())
  .catch((e) => {
    process.stderr.write(`amrepo.mjs: ${e && e.stack ? e.stack : e}\n`);
    process.exit(1);
  });
