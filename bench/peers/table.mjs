#!/usr/bin/env node
// Reads benchmark JSON lines on stdin (from run.mjs and from dagsync's C++ harness) and
// prints them side by side, one table per (scenario, shape, N, D, A, P), one row per impl,
// followed by the non-sync figures.
//
//   cat results.jsonl | node table.mjs [--markdown]
//
// Sync lines: {"impl","version","scenario","shape","N","D","A","P","messages","round_trips",
//   "wire_bytes","change_bytes","overhead","wall_ms","peak_rss_kb","converged"} plus the
//   optional "target" (string), "target_ok" (bool), "notes" (string) and "gc_ms" (number,
//   GC time inside wall_ms; noted when it is over a quarter of it).
// Figure lines: {"kind":"figure","name","value","unit","target","target_ok"}.
import { readFileSync } from "node:fs";

const markdown = process.argv.includes("--markdown");
for (const arg of process.argv.slice(2)) {
  if (arg !== "--markdown") {
    process.stderr.write("usage: node table.mjs [--markdown] < results.jsonl\n");
    process.exit(2);
  }
}

const groups = new Map(); // key -> { params, rows }
const figures = [];
const amrepo = []; // amrepo.mjs lines: automerge-repo clients against dagsync's or the Node server
let lineNo = 0;
for (const raw of readFileSync(0, "utf8").split("\n")) {
  ++lineNo;
  const line = raw.trim();
  if (!line || !line.startsWith("{")) continue;
  let rec;
  try {
    rec = JSON.parse(line);
  } catch (err) {
    process.stderr.write(`table.mjs: line ${lineNo}: not JSON (${err.message}), skipped\n`);
    continue;
  }
  if (rec.kind === "figure") {
    figures.push(rec);
    continue;
  }
  if (rec.kind === "amrepo") {
    amrepo.push(rec);
    continue;
  }
  if (rec.kind !== undefined && rec.kind !== "sync") continue;
  const params = {
    scenario: rec.scenario,
    shape: rec.shape,
    N: rec.N,
    D: rec.D,
    A: rec.A,
    P: rec.P,
  };
  const key = JSON.stringify(params);
  if (!groups.has(key)) groups.set(key, { params, rows: [] });
  groups.get(key).rows.push(rec);
}

// --- formatting -------------------------------------------------------------------------

const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : null);
const int = (v) => (num(v) === null ? "-" : Math.round(v).toLocaleString("en-US"));
const ms = (v) => {
  if (num(v) === null) return "-";
  if (v < 10) return v.toFixed(2);
  if (v < 1000) return v.toFixed(1);
  return Math.round(v).toLocaleString("en-US");
};
const mib = (kb) => (num(kb) === null ? "-" : (kb / 1024).toFixed(1));
const figureValue = (v) => {
  if (num(v) === null) return v === undefined ? "-" : String(v);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4);
};
const verdict = (r) => (r.target_ok === true ? "ok" : r.target_ok === false ? "MISS" : "");
const targetCell = (r) => {
  if (r.target === undefined && r.target_ok === undefined) return "";
  return [verdict(r), r.target ?? ""].filter(Boolean).join(" ");
};
const implCell = (r) => {
  let s = r.impl ?? "?";
  if (r.version) s += ` ${r.version}`;
  if (r.converged === false) s += " (DIVERGED)";
  return s;
};
const groupTitle = (p) =>
  `scenario ${p.scenario} (${p.scenario === "a" ? "no saved sync state" : "saved sync state"}), ` +
  `${p.shape}, N=${int(p.N)} D=${int(p.D)} A=${int(p.A)} P=${int(p.P)}`;

// dagsync first, then the others in input order.
const orderRows = (rows) => [...rows.filter((r) => r.impl === "dagsync"), ...rows.filter((r) => r.impl !== "dagsync")];

const COLUMNS = [
  { head: "impl", cell: implCell, left: true },
  { head: "msgs", cell: (r) => int(r.messages) },
  { head: "RTs", cell: (r) => int(r.round_trips) },
  { head: "wire B", cell: (r) => int(r.wire_bytes) },
  { head: "change B", cell: (r) => int(r.change_bytes) },
  { head: "overhead B", cell: (r) => int(r.overhead) },
  { head: "wall ms", cell: (r) => ms(r.wall_ms) },
  { head: "RSS MiB", cell: (r) => mib(r.peak_rss_kb) },
  { head: "target", cell: targetCell, left: true },
];

function plainTable(columns, rows, indent = "  ") {
  const cells = rows.map((r) => columns.map((c) => c.cell(r)));
  const widths = columns.map((c, k) => Math.max(c.head.length, ...cells.map((row) => row[k].length)));
  const fmt = (vals) =>
    indent +
    vals
      .map((v, k) => (columns[k].left ? v.padEnd(widths[k]) : v.padStart(widths[k])))
      .join("  ")
      .trimEnd();
  const out = [fmt(columns.map((c) => c.head)), indent + widths.map((w) => "-".repeat(w)).join("  ")];
  for (const row of cells) out.push(fmt(row));
  return out.join("\n");
}

function markdownTable(columns, rows) {
  const esc = (s) => s.replace(/\|/g, "\\|");
  const out = [
    `| ${columns.map((c) => c.head).join(" | ")} |`,
    `| ${columns.map((c) => (c.left ? ":--" : "--:")).join(" | ")} |`,
  ];
  for (const r of rows) out.push(`| ${columns.map((c) => esc(c.cell(r))).join(" | ")} |`);
  return out.join("\n");
}

const sections = [];
for (const { params, rows } of groups.values()) {
  const ordered = orderRows(rows);
  const hasTarget = ordered.some((r) => targetCell(r) !== "");
  const columns = hasTarget ? COLUMNS : COLUMNS.slice(0, -1);
  const notes = [];
  for (const r of ordered) {
    if (r.notes) notes.push(`${r.impl}: ${r.notes}`);
    // run.mjs reports the GC time inside the sync loop; flag it when it dominates
    if (num(r.gc_ms) !== null && num(r.wall_ms) !== null && r.wall_ms >= 10 && r.gc_ms > 0.25 * r.wall_ms) {
      notes.push(`${r.impl}: ${Math.round((100 * r.gc_ms) / r.wall_ms)}% of wall ms was JS garbage collection`);
    }
  }
  if (markdown) {
    let s = `### ${groupTitle(params)}\n\n${markdownTable(columns, ordered)}`;
    if (notes.length) s += `\n\n${notes.map((n) => `- ${n}`).join("\n")}`;
    sections.push(s);
  } else {
    let s = `${groupTitle(params)}\n${plainTable(columns, ordered)}`;
    if (notes.length) s += `\n${notes.map((n) => `  note ${n}`).join("\n")}`;
    sections.push(s);
  }
}

if (groups.size) {
  const legend =
    "msgs = messages sent, RTs = round trips, B = bytes, overhead = wire - change bytes, " +
    "wall ms = sync loop only, RSS = peak RSS of the whole run";
  sections.unshift(markdown ? `_${legend}_` : legend.replace(/, wall/, ",\nwall"));
}

// Scenario (f), history independence: its own group, with each figure's ratio to the
// smallest N beside the target.
const history = figures.filter((f) => String(f.name ?? "").startsWith("(f) "));
const others = figures.filter((f) => !history.includes(f));
if (history.length) {
  const histColumns = [
    { head: "figure", cell: (f) => String(f.name ?? "?"), left: true },
    { head: "value", cell: (f) => figureValue(f.value) },
    { head: "unit", cell: (f) => String(f.unit ?? ""), left: true },
    { head: "x smallest N", cell: (f) => (f.ratio_to_smallest == null ? "" : Number(f.ratio_to_smallest).toFixed(2)) },
    { head: "wire B", cell: (f) => (f.wire_bytes == null ? "" : String(f.wire_bytes)) },
    { head: "target", cell: (f) => [verdict(f), f.target ?? ""].filter(Boolean).join(" "), left: true },
  ];
  const title = "(f) history independence (sans-I/O unless TCP is named)";
  sections.push(markdown ? `### ${title}\n\n${markdownTable(histColumns, history)}` : `${title}\n${plainTable(histColumns, history)}`);
}

if (others.length) {
  const figColumns = [
    { head: "figure", cell: (f) => String(f.name ?? "?"), left: true },
    { head: "value", cell: (f) => figureValue(f.value) },
    { head: "unit", cell: (f) => String(f.unit ?? ""), left: true },
    { head: "target", cell: (f) => [verdict(f), f.target ?? ""].filter(Boolean).join(" "), left: true },
  ];
  sections.push(markdown ? `### Other figures\n\n${markdownTable(figColumns, others)}` : `Other figures\n${plainTable(figColumns, others)}`);
}

// The automerge-repo server comparison (amrepo.mjs): one table per workload, one row per run.
const kib = (kb) => (num(kb) === null ? "-" : (kb / 1024).toFixed(1));
const serverCell = (r) => `${r.server}${r.converged === false ? " (DIVERGED)" : ""}`;
const AMREPO = {
  load: {
    title: "automerge-repo clients: a fresh client loads documents (issue 14)",
    columns: [
      { head: "server", cell: serverCell, left: true },
      { head: "docs x changes", cell: (r) => `${int(r.docs)} x ${int(r.changes)}` },
      { head: "wall ms", cell: (r) => ms(r.wall_ms) },
      { head: "server CPU ms", cell: (r) => int(r.server_cpu_ms) },
      { head: "client CPU ms", cell: (r) => int(r.client_cpu_ms) },
      { head: "B to client", cell: (r) => int(r.bytes_received) },
      { head: "server RSS MiB", cell: (r) => kib(r.server_rss_kb) },
      { head: "peak MiB", cell: (r) => kib(r.server_hwm_kb) },
    ],
  },
  fanout: {
    title: "automerge-repo clients: one change fanned out (issue 14)",
    columns: [
      { head: "server", cell: serverCell, left: true },
      { head: "clients", cell: (r) => int(r.clients) },
      { head: "p50 ms", cell: (r) => ms(r.delivery_p50_ms) },
      { head: "p99 ms", cell: (r) => ms(r.delivery_p99_ms) },
      { head: "max ms", cell: (r) => ms(r.delivery_max_ms) },
      { head: "all p50 ms", cell: (r) => ms(r.all_clients_p50_ms) },
      { head: "server CPU/round ms", cell: (r) => ms(r.server_cpu_ms_per_round) },
      { head: "server RSS MiB", cell: (r) => kib(r.server_rss_kb) },
    ],
  },
  many: {
    title: "automerge-repo: many documents (issue 13 (h)), documents of 20 changes",
    columns: [
      { head: "server", cell: serverCell, left: true },
      { head: "M", cell: (r) => int(r.M) },
      { head: "start ms", cell: (r) => ms(r.startup_ms) },
      { head: "start RSS MiB", cell: (r) => kib(r.startup_rss_kb) },
      { head: "1 of M ms", cell: (r) => ms(r.one_doc_ms) },
      { head: "0%: ms", cell: (r) => ms(r.reconnect0_ms) },
      { head: "frames", cell: (r) => `${int(r.reconnect0_frames_sent)}/${int(r.reconnect0_frames_received)}` },
      { head: "B", cell: (r) => int(r.reconnect0_bytes) },
      { head: "1%: ms", cell: (r) => ms(r.reconnect1_ms) },
      { head: "frames", cell: (r) => `${int(r.reconnect1_frames_sent)}/${int(r.reconnect1_frames_received)}` },
      { head: "B", cell: (r) => int(r.reconnect1_bytes) },
      { head: "peak MiB", cell: (r) => kib(r.server_hwm_kb) },
    ],
  },
  idle: {
    title: "automerge-repo: idle connections (issue 13 (h))",
    columns: [
      { head: "server", cell: serverCell, left: true },
      { head: "clients", cell: (r) => int(r.clients) },
      { head: "RSS before MiB", cell: (r) => kib(r.server_rss_before_kb) },
      { head: "after MiB", cell: (r) => kib(r.server_rss_kb) },
      { head: "per connection KiB", cell: (r) => (num(r.per_connection_kb) === null ? "-" : r.per_connection_kb.toFixed(1)) },
    ],
  },
};
for (const [workload, { title, columns }] of Object.entries(AMREPO)) {
  const rows = orderRows(amrepo.filter((r) => r.workload === workload).map((r) => ({ ...r, impl: r.server })));
  if (!rows.length) continue;
  const cols = rows.some((r) => targetCell(r) !== "") ? [...columns, { head: "target", cell: targetCell, left: true }] : columns;
  sections.push(markdown ? `### ${title}\n\n${markdownTable(cols, rows)}` : `${title}\n${plainTable(cols, rows)}`);
}

if (!sections.length) {
  process.stderr.write("table.mjs: no benchmark lines on stdin\n");
  process.exit(1);
}
process.stdout.write(`${sections.join("\n\n")}\n`);
