// Yjs peer. A change is one transaction setting key "k<i>" of a Y.Map to the P-byte
// payload, with doc.clientID set to the actor's number first. Yjs has no change DAG, so
// "branchy" produces exactly the same operations as "linear".
import * as Y from "yjs";
import { payload, walkShape, actorU32 } from "./shape.mjs";
import { SvPeer } from "./svsync.mjs";

export const packageName = "yjs";

function adapter(doc) {
  return {
    encodeSV: () => Y.encodeStateVector(doc),
    sv: () => Y.decodeStateVector(Y.encodeStateVector(doc)),
    diffFromEncoded: (sv) => Y.encodeStateAsUpdate(doc, sv),
    diffFromMap: (map) => Y.encodeStateAsUpdate(doc, Y.encodeStateVector(map)),
    apply: (update) => {
      Y.applyUpdate(doc, update);
      return Y.parseUpdateMeta(update).to;
    },
  };
}

const sameSV = (x, y) => {
  if (x.size !== y.size) return false;
  for (const [k, v] of x) if (y.get(k) !== v) return false;
  return true;
};

export function prepare(params, scenario, { log }) {
  const { P, N, D } = params;
  let t = performance.now();
  const ids = new Map();
  const idOf = (name) => {
    let id = ids.get(name);
    if (id === undefined) ids.set(name, (id = actorU32(name)));
    return id;
  };
  const src = new Y.Doc();
  const srcMap = src.getMap("m");
  let docA = null;
  let docB = null;
  let mapA = null;
  let mapB = null;
  let forkSV = null;
  const fork = () => {
    const snapshot = Y.encodeStateAsUpdate(src);
    forkSV = Y.encodeStateVector(src);
    docA = new Y.Doc();
    docB = new Y.Doc();
    Y.applyUpdate(docA, snapshot);
    Y.applyUpdate(docB, snapshot);
    mapA = docA.getMap("m");
    mapB = docB.getMap("m");
    log(`yjs: built shared history (${snapshot.length} bytes as one update) in ${(performance.now() - t).toFixed(0)} ms`);
    t = performance.now();
  };
  walkShape(params, (i, name, deps, phase) => {
    if (phase === "shared") {
      src.clientID = idOf(name);
      src.transact(() => srcMap.set(`k${i}`, payload(i, P)));
      return i;
    }
    if (docA === null) fork();
    const [doc, map] = phase === "sideA" ? [docA, mapA] : [docB, mapB];
    doc.clientID = idOf(name);
    doc.transact(() => map.set(`k${i}`, payload(i, P)));
    return i;
  });
  if (docA === null) fork();
  log(`yjs: side changes in ${(performance.now() - t).toFixed(0)} ms`);
  // The side-specific changes as the updates a side would minimally have to send.
  const changeBytes = Y.encodeStateAsUpdate(docA, forkSV).length + Y.encodeStateAsUpdate(docB, forkSV).length;
  const saved = scenario === "b" ? Y.decodeStateVector(Uint8Array.from(forkSV)) : null;
  const a = new SvPeer(adapter(docA), { initiator: true, saved });
  const b = new SvPeer(adapter(docB), { initiator: false, saved });
  return {
    a,
    b,
    changeBytes: () => changeBytes,
    converged() {
      const sa = Y.decodeStateVector(Y.encodeStateVector(docA));
      const sb = Y.decodeStateVector(Y.encodeStateVector(docB));
      return sameSV(sa, sb) && mapA.size === N + 2 * D && mapB.size === N + 2 * D;
    },
  };
}
