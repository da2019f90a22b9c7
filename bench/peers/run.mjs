#!/usr/bin/env node
// Runs one sync benchmark on a peer library and prints one JSON line on stdout.
//
//   node run.mjs --impl automerge|yjs|loro --scenario a|b --shape linear|branchy \
//                --N 100000 --D 10 --A 3 --P 64
//   node run.mjs --impl automerge --scenario realtime --N 100000 --A 3 --rounds 200
//
// The realtime scenario is bench (f)'s realtime round (bench/bench_history.cpp): two replicas
// of a linear history of N changes in sync, one commit on one side (alternating), both sync
// until quiet; it prints a figure line with the mean over --rounds after --warmup rounds.
//
// Progress goes to stderr. Exits non-zero when the replicas do not converge.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { performance, PerformanceObserver } from "node:perf_hooks";

const IMPLS = {
  automerge: "./lib/automerge.mjs",
  yjs: "./lib/yjs.mjs",
  loro: "./lib/loro.mjs",
};

function usage(msg) {
  if (msg) process.stderr.write(`run.mjs: ${msg}\n`);
  process.stderr.write(
    "usage: node run.mjs --impl automerge|yjs|loro [--scenario a|b] [--shape linear|branchy]\n" +
      "                   [--N 100000] [--D 10] [--A 3] [--P 64] [--quiet] [--no-warmup]\n" +
      "                   [--wasm-reserve-mib 2048]  (automerge, loro; 0: off; see lib/wasm-capture.mjs)\n" +
      "       node run.mjs --impl automerge --scenario realtime [--N 1000] [--A 3] [--P 64]\n" +
      "                   [--rounds 200] [--warmup 20]\n",
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    impl: null,
    scenario: "a",
    shape: "linear",
    N: 100000,
    D: 10,
    A: 3,
    P: 64,
    "wasm-reserve-mib": 2048,
    rounds: 200,
    warmup: 20,
    quiet: false,
    "no-warmup": false,
  };
  for (let k = 0; k < argv.length; ++k) {
    const arg = argv[k];
    if (arg === "--help" || arg === "-h") usage();
    if (arg === "--quiet" || arg === "--no-warmup") {
      opts[arg.slice(2)] = true;
      continue;
    }
    let [key, value] = arg.startsWith("--") ? arg.slice(2).split(/=(.*)/s) : [null];
    if (!key || !(key in opts)) usage(`unknown argument '${arg}'`);
    if (value === undefined) {
      if (k + 1 >= argv.length) usage(`missing value for --${key}`);
      value = argv[++k];
    }
    if (["N", "D", "A", "P", "wasm-reserve-mib", "rounds", "warmup"].includes(key)) {
      const n = Number(value);
      if (!Number.isSafeInteger(n) || n < 0) usage(`--${key} must be a non-negative integer`);
      opts[key] = n;
    } else {
      opts[key] = value;
    }
  }
  if (!opts.impl || !(opts.impl in IMPLS)) usage("--impl must be automerge, yjs or loro");
  if (!["a", "b", "realtime"].includes(opts.scenario)) usage("--scenario must be a, b or realtime");
  if (opts.scenario === "realtime" && opts.impl !== "automerge") usage("--scenario realtime: automerge only");
  if (opts.scenario === "realtime" && opts.rounds < 1) usage("--rounds must be at least 1");
  if (!["linear", "branchy"].includes(opts.shape)) usage("--shape must be linear or branchy");
  if (opts.A < 1) usage("--A must be at least 1");
  return opts;
}

// The version of the installed package, from its own package.json.
function installedVersion(packageName) {
  const require = createRequire(import.meta.url);
  let dir = dirname(require.resolve(packageName));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      if (pkg.name === packageName) return pkg.version;
    } catch {
      // keep walking up
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find package.json of ${packageName}`);
    dir = up;
  }
}

// Ping-pong driver, the same for every implementation (and for dagsync's C++ harness).
// Side A generates first. On its turn a side receives the pending message from the other
// side (if any), then generates; a generated message is delivered to the other side on
// its next turn. Stops when both sides, one after the other, have nothing to send.
function pingPong(a, b, { limit = 100000 } = {}) {
  const sides = [a, b];
  const pending = [null, null];
  const sent = [];
  let turn = 0;
  let idle = 0;
  let wireBytes = 0;
  for (;;) {
    const side = sides[turn];
    if (pending[turn] !== null) {
      side.receive(pending[turn]);
      pending[turn] = null;
    }
    const msg = side.generate();
    if (msg) {
      sent.push(msg);
      wireBytes += msg.length;
      pending[1 - turn] = msg;
      idle = 0;
      if (sent.length > limit) throw new Error(`sync did not settle within ${limit} messages`);
    } else if (++idle === 2) {
      break;
    }
    turn = 1 - turn;
  }
  return { messages: sent.length, wireBytes, sent };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = opts.quiet ? () => {} : (s) => process.stderr.write(`${s}\n`);
  const impl = await import(IMPLS[opts.impl]);
  const version = installedVersion(impl.packageName);
  const params = { shape: opts.shape, N: opts.N, D: opts.D, A: opts.A, P: opts.P };
  log(`${opts.impl} ${version}: scenario ${opts.scenario}, ${JSON.stringify(params)}`);

  // Grow the WebAssembly heap once, up front (see lib/wasm-capture.mjs). It only reserves:
  // the reserved pages are never written, so they do not become resident.
  let notes;
  if (impl.reserveWasmHeap) {
    const mib = opts["wasm-reserve-mib"];
    if (mib > 0) {
      const got = impl.reserveWasmHeap(mib);
      if (got === null) throw new Error("could not reach the WebAssembly allocator to reserve the heap");
      log(`${opts.impl}: wasm heap reserved: ${got}`);
    } else {
      notes = "wasm heap not reserved (--wasm-reserve-mib 0): growth GCs included";
    }
  }

  if (opts.scenario === "realtime") return realtime(impl, version, params, opts, log);

  // Warm-up: two unmeasured syncs of a small document of the same shape, so that the
  // measured sync does not include first-use costs (JIT and WebAssembly tier-up, lazy
  // initialisation), which the C++ harness does not have either.
  if (!opts["no-warmup"]) {
    const tw = performance.now();
    const small = { ...params, N: Math.min(params.N, 256), D: Math.min(params.D, 8), A: Math.min(params.A, 8) };
    for (let round = 0; round < 2; ++round) {
      const warm = impl.prepare(small, opts.scenario, { log: () => {}, pingPong });
      pingPong(warm.a, warm.b);
      if (!warm.converged()) throw new Error("warm-up sync did not converge");
    }
    log(`${opts.impl}: warm-up sync took ${(performance.now() - tw).toFixed(0)} ms`);
  }

  const t0 = performance.now();
  const peers = impl.prepare(params, opts.scenario, { log, pingPong });
  log(`${opts.impl}: setup took ${(performance.now() - t0).toFixed(0)} ms`);

  // Garbage collection during the sync loop, reported as "gc_ms" (an extra field). Under
  // Node 20 every growth of a WebAssembly memory past ~64 MiB forces a full GC, so for the
  // wasm libraries a sync that has to grow the heap can be dominated by GC.
  const gcEntries = [];
  const gcObserver = new PerformanceObserver((list) => gcEntries.push(...list.getEntries()));
  gcObserver.observe({ entryTypes: ["gc"] });

  const start = performance.now();
  const r = pingPong(peers.a, peers.b);
  const end = performance.now();
  const wallMs = end - start;

  await new Promise((resolve) => setTimeout(resolve, 50)); // let the GC entries arrive
  gcObserver.disconnect();
  let gcMs = 0;
  for (const e of gcEntries) if (e.startTime >= start && e.startTime < end) gcMs += e.duration;

  const changeBytes = peers.changeBytes(r.sent);
  const converged = peers.converged();
  const result = {
    impl: opts.impl,
    version,
    scenario: opts.scenario,
    shape: opts.shape,
    N: opts.N,
    D: opts.D,
    A: opts.A,
    P: opts.P,
    messages: r.messages,
    round_trips: Math.ceil(r.messages / 2),
    wire_bytes: r.wireBytes,
    change_bytes: changeBytes,
    overhead: r.wireBytes - changeBytes,
    wall_ms: Math.round(wallMs * 1000) / 1000,
    peak_rss_kb: process.resourceUsage().maxRSS,
    converged,
    gc_ms: Math.round(gcMs * 1000) / 1000,
  };
  if (notes) result.notes = notes;
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!converged) {
    log(`${opts.impl}: replicas did NOT converge`);
    process.exitCode = 1;
  }
}

// Bench (f)'s realtime round: the mean over opts.rounds after opts.warmup unmeasured ones.
function realtime(impl, version, params, opts, log) {
  if (impl.reserveWasmHeap && opts["wasm-reserve-mib"] > 0) impl.reserveWasmHeap(opts["wasm-reserve-mib"]);
  const peers = impl.prepareRealtime({ ...params, shape: "linear" }, { log, pingPong });
  let total = 0;
  let bytes = 0;
  for (let r = 0; r < opts.warmup + opts.rounds; ++r) {
    const start = performance.now();
    const wire = peers.round(r);
    const took = performance.now() - start;
    if (r < opts.warmup) continue;
    total += took;
    bytes += wire;
  }
  const converged = peers.converged();
  const us = (total * 1000) / opts.rounds;
  const result = {
    kind: "figure",
    impl: opts.impl,
    version,
    name: `(f) realtime round sans-I/O, Automerge ${version}, N=${params.N}`,
    value: Math.round(us * 10) / 10,
    unit: "us",
    wire_bytes: Math.round(bytes / opts.rounds),
    N: params.N,
    converged,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (!converged) {
    log(`${opts.impl}: replicas did NOT converge`);
    process.exitCode = 1;
  }
}

main().catch((err) => {
  process.stderr.write(`run.mjs: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
