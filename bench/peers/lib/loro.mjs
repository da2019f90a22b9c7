// Loro peer. A change is doc.setPeerId(actor) then map.set("k<i>", payload) and
// doc.commit().
//
// linear: one document authors the shared history, switching peer ids; every commit
//   depends on the document's frontier, i.e. the previous change.
// branchy: the dependency DAG is reproduced with one authoring document per actor. An
//   actor's document holds only its own chain, so its next commit depends on its own
//   previous change; at a merge (i % 64 == 0, i > 0) it first imports everything made so
//   far, so that commit depends on all current heads. Every commit is also copied into a
//   collecting document, whose export seeds both replicas.
// Loro folds consecutive commits of one peer that extend each other into one change
// internally; that is Loro's own representation and is left as is.
import { release, reserveWasmHeap } from "./wasm-capture.mjs"; // before the library
import { LoroDoc, VersionVector } from "loro-crdt";
import { payload, walkShape, actorU64 } from "./shape.mjs";
import { SvPeer } from "./svsync.mjs";

export const packageName = "loro-crdt";
release();
export { reserveWasmHeap };

function adapter(doc) {
  return {
    encodeSV: () => doc.oplogVersion().encode(),
    sv: () => doc.oplogVersion().toJSON(),
    diffFromEncoded: (sv) => doc.export({ mode: "update", from: VersionVector.decode(sv) }),
    diffFromMap: (map) => doc.export({ mode: "update", from: new VersionVector(map) }),
    apply: (update) => {
      const status = doc.import(update);
      if (status.pending && status.pending.size) throw new Error("loro: update left pending changes");
      const reached = new Map();
      for (const [peer, span] of status.success) reached.set(peer, span.end);
      return reached;
    },
  };
}

export function prepare(params, scenario, { log }) {
  const { P, N, D, shape } = params;
  let t = performance.now();
  const ids = new Map();
  const idOf = (name) => {
    let id = ids.get(name);
    if (id === undefined) ids.set(name, (id = actorU64(name)));
    return id;
  };
  const src = new LoroDoc();
  const srcMap = src.getMap("m");
  const authors = new Map(); // branchy: actor name -> its authoring document
  let docA = null;
  let docB = null;
  let forkVV = null;
  // The replicas import the shared history as one update. (A replica loaded from a
  // snapshot decodes its history lazily, and pays for that inside the first sync: about
  // 10 s at N=100000, A=3. That is load time, not sync time, so it is kept out.)
  const fork = () => {
    const history = src.export({ mode: "update" });
    forkVV = src.oplogVersion();
    authors.clear();
    docA = new LoroDoc();
    docB = new LoroDoc();
    docA.import(history);
    docB.import(history);
    log(`loro: built shared history (${history.length} bytes as one update) in ${(performance.now() - t).toFixed(0)} ms`);
    t = performance.now();
  };
  const commitOn = (doc, name, i) => {
    doc.setPeerId(idOf(name));
    doc.getMap("m").set(`k${i}`, payload(i, P));
    doc.commit();
  };
  walkShape(params, (i, name, deps, phase) => {
    if (phase === "shared") {
      if (shape === "linear") {
        commitOn(src, name, i);
      } else {
        let doc = authors.get(name);
        if (doc === undefined) authors.set(name, (doc = new LoroDoc()));
        if (i % 64 === 0 && i > 0) doc.import(src.export({ mode: "update", from: doc.oplogVersion() }));
        commitOn(doc, name, i);
        src.import(doc.export({ mode: "update", from: src.oplogVersion() }));
      }
      return i;
    }
    if (docA === null) fork();
    commitOn(phase === "sideA" ? docA : docB, name, i);
    return i;
  });
  if (docA === null) fork();
  void srcMap;
  log(`loro: side changes in ${(performance.now() - t).toFixed(0)} ms`);
  const changeBytes =
    docA.export({ mode: "update", from: forkVV }).length + docB.export({ mode: "update", from: forkVV }).length;
  const saved = scenario === "b" ? VersionVector.decode(forkVV.encode()).toJSON() : null;
  const a = new SvPeer(adapter(docA), { initiator: true, saved });
  const b = new SvPeer(adapter(docB), { initiator: false, saved });
  return {
    a,
    b,
    changeBytes: () => changeBytes,
    converged() {
      const va = docA.oplogVersion();
      const vb = docB.oplogVersion();
      const fa = JSON.stringify(docA.oplogFrontiers().map((f) => `${f.counter}@${f.peer}`).sort());
      const fb = JSON.stringify(docB.oplogFrontiers().map((f) => `${f.counter}@${f.peer}`).sort());
      const size = (d) => d.getMap("m").size;
      return va.compare(vb) === 0 && fa === fb && size(docA) === N + 2 * D && size(docB) === N + 2 * D;
    },
  };
}
