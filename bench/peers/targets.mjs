// Reads benchmark JSON lines on stdin and writes them back with the performance targets
// attached to each dagsync sync row ("target": what is required, "target_ok": whether
// this run meets it), judged against the Automerge row of the same shape in the same run.
import { createInterface } from "node:readline";

const rows = [];
for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim()) rows.push(JSON.parse(line));
}

const key = (r) => [r.scenario, r.shape, r.N, r.D, r.A, r.P].join("/");
const automerge = new Map(rows.filter((r) => r.impl === "automerge").map((r) => [key(r), r]));

for (const r of rows) {
  if (r.impl !== "dagsync" || r.kind === "figure") continue;
  const checks = [];
  const am = automerge.get(key(r));
  if (am) {
    checks.push([`overhead <= Automerge's ${am.overhead}`, r.overhead <= am.overhead]);
    if (r.scenario === "a") {
      checks.push([`messages <= Automerge's ${am.messages}`, r.messages <= am.messages]);
    }
  }
  // Message counts on every shape (issue 11): a first sync in at most 3 messages, a
  // saved-state sync in at most 2 with at most 64 B of overhead plus 32 B per head sent.
  if (r.scenario === "a") checks.push(["messages <= 3", r.messages <= 3]);
  if (r.scenario === "b") {
    checks.push(["messages <= 2", r.messages <= 2]);
    if (r.heads_sent !== undefined) {
      const cap = 64 + 32 * r.heads_sent;
      checks.push([`overhead <= 64 + 32 x ${r.heads_sent} heads (${cap})`, r.overhead <= cap]);
    }
  }
  const base = r.scenario === "a" && r.shape === "linear" && r.A === 3 && r.P === 64;
  if (base && r.N === 100000 && r.D === 10) checks.push(["overhead <= 2048", r.overhead <= 2048]);
  if (base && r.N === 10000 && r.D === 100) checks.push(["overhead <= 1024", r.overhead <= 1024]);
  if (base && r.N === 100000 && r.D === 1000 && am) {
    checks.push([`wall <= Automerge's / 10 (${(am.wall_ms / 10).toFixed(1)} ms)`,
                 r.wall_ms <= am.wall_ms / 10]);
  }
  if (checks.length) {
    r.target = checks.map(([what]) => what).join("; ");
    r.target_ok = checks.every(([, ok]) => ok);
  }
}
// (f): the Automerge realtime-round figures (one run.mjs per N) get their ratio to the
// smallest N, as dagsync's own (f) figures carry it.
const amRounds = rows.filter((r) => r.kind === "figure" && r.impl === "automerge" && r.N != null);
if (amRounds.length) {
  const base = amRounds.reduce((m, r) => (r.N < m.N ? r : m));
  for (const r of amRounds) r.ratio_to_smallest = r.value / base.value;
}
// automerge-repo server comparison (amrepo.mjs, issue 14): dagsync's server ahead of the Node
// server on the same workload and parameters, in time and in server RSS.
const amrepoKey = (r) => [r.workload, r.docs, r.changes, r.clients, r.P].join("/");
const nodeServer = new Map(rows.filter((r) => r.kind === "amrepo" && r.server !== "dagsync").map((r) => [amrepoKey(r), r]));
for (const r of rows) {
  if (r.kind !== "amrepo" || r.server !== "dagsync" || !["load", "fanout"].includes(r.workload)) continue;
  const node = nodeServer.get(amrepoKey(r));
  if (!node) continue;
  const checks = [[`server RSS <= Node's ${(node.server_rss_kb / 1024).toFixed(1)} MiB`, r.server_rss_kb <= node.server_rss_kb]];
  if (r.workload === "load") checks.unshift([`wall <= Node's ${node.wall_ms.toFixed(0)} ms`, r.wall_ms <= node.wall_ms]);
  if (r.workload === "fanout") {
    checks.unshift(
      [`p50 <= Node's ${node.delivery_p50_ms.toFixed(1)} ms`, r.delivery_p50_ms <= node.delivery_p50_ms],
      [`p99 <= Node's ${node.delivery_p99_ms.toFixed(1)} ms`, r.delivery_p99_ms <= node.delivery_p99_ms],
    );
  }
  r.target = checks.map(([what]) => what).join("; ");
  r.target_ok = checks.every(([, ok]) => ok);
}
for (const r of rows) console.log(JSON.stringify(r));
