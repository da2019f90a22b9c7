// A process holding several automerge-repo clients for amrepo.mjs (forked, commands over IPC),
// so that 100 or 1,000 clients do not share one event loop with the driver.
//
//   {cmd: "start", url, names: [...], docUrl?}  connect every client; with docUrl each finds
//                                              it and waits until ready; answers {ready}
//   {cmd: "watch", round}                       answers {seen: round, at: [ns per client]} once
//                                              every client's document has round == round
//                                              (at: process.hrtime.bigint() of its change event,
//                                              CLOCK_MONOTONIC, comparable across processes)
//   {cmd: "heads"}                              answers {heads: [[...] per client]}
//   {cmd: "stop"}                               shuts the clients down and exits
// Exits when the driver goes away (IPC channel closed).
import { makeClient, sleep } from "./amrepo-client.mjs";

let clients = [];
let handles = [];
let seenAt = []; // per client: Map round -> ns (as a string: BigInt does not cross IPC)
const waiters = new Map(); // round -> resolve

function checkRound(round) {
  const resolve = waiters.get(round);
  if (resolve && seenAt.every((m) => m.has(round))) {
    waiters.delete(round);
    resolve();
  }
}

async function start({ url, names, docUrl }) {
  clients = names.map((name) => makeClient(url, { name }));
  await Promise.all(clients.map((c) => c.connected));
  seenAt = clients.map(() => new Map());
  if (docUrl) {
    // Found one after another: 25 finds at once on a freshly started loop time out sometimes.
    for (const c of clients) handles.push(await c.repo.find(docUrl));
    handles.forEach((h, k) => {
      h.on("change", ({ doc }) => {
        if (typeof doc.round === "number" && !seenAt[k].has(doc.round)) {
          seenAt[k].set(doc.round, process.hrtime.bigint().toString());
          checkRound(doc.round);
        }
      });
    });
  }
  process.send({ ready: true });
}

process.on("message", async (m) => {
  try {
    if (m.cmd === "start") await start(m);
    else if (m.cmd === "watch") {
      await new Promise((resolve) => {
        waiters.set(m.round, resolve);
        checkRound(m.round);
      });
      process.send({ seen: m.round, at: seenAt.map((s) => s.get(m.round)) });
    } else if (m.cmd === "heads") {
      process.send({ heads: handles.map((h) => h.heads()) });
    } else if (m.cmd === "stop") {
      await Promise.race([Promise.allSettled(clients.map((c) => c.repo.shutdown())), sleep(2000)]);
      process.exit(0);
    }
  } catch (e) {
    process.send({ error: String(e && e.stack ? e.stack : e) });
  }
});
process.on("disconnect", () => process.exit(0));
