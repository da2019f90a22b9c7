// automerge-repo clients for the server benchmarks (amrepo.mjs, lib/amrepo-worker.mjs): a Repo
// on the WebSocket client adapter (over `ws` in Node), in-memory or on NodeFSStorageAdapter,
// that remembers the heads the server last told it per document (the sync state's
// theirHeads), so "in sync with the server" is a fact read from the protocol, not a guess.
import { Repo, encodeHeads, getAllChanges } from "@automerge/automerge-repo";
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";
import { WebSocket } from "ws";
import { payload } from "./shape.mjs";

export { getAllChanges };

// Frames and bytes this process's WebSockets sent and received (all clients summed): the
// client adapter sends through ws's WebSocket.send and receives through its "message" event.
export const wire = { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0 };
const send = WebSocket.prototype.send;
WebSocket.prototype.send = function (data, ...rest) {
  wire.framesSent += 1;
  wire.bytesSent += data.byteLength ?? data.length ?? 0;
  return send.call(this, data, ...rest);
};
const emit = WebSocket.prototype.emit;
WebSocket.prototype.emit = function (event, data, ...rest) {
  if (event === "message") {
    wire.framesReceived += 1;
    wire.bytesReceived += data.byteLength ?? data.length ?? 0;
  }
  return emit.call(this, event, data, ...rest);
};
export const resetWire = () => Object.assign(wire, { framesSent: 0, bytesSent: 0, framesReceived: 0, bytesReceived: 0 });

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Resolves when test() holds, polling every `every` ms; rejects after `ms`.
export async function until(test, ms, what, every = 20) {
  const end = Date.now() + ms;
  while (!test()) {
    if (Date.now() > end) throw new Error(`${what}: not within ${ms} ms`);
    await sleep(every);
  }
}

export function makeClient(url, { name, storageDir } = {}) {
  const adapter = new WebSocketClientAdapter(url, 1000);
  const repo = new Repo({
    network: [adapter],
    storage: storageDir ? new NodeFSStorageAdapter(storageDir) : undefined,
    peerId: name,
    sharePolicy: async () => true,
  });
  const theirHeads = new Map(); // documentId -> the server's heads (base58, as handle.heads())
  repo.synchronizer.on("sync-state", ({ documentId, syncState }) => {
    if (syncState.theirHeads) theirHeads.set(documentId, encodeHeads(syncState.theirHeads));
  });
  const connected = new Promise((resolve) => adapter.on("peer-candidate", ({ peerId }) => resolve(peerId)));
  const sameHeads = (a, b) => !!a && !!b && a.length === b.length && [...a].sort().join() === [...b].sort().join();
  return {
    repo,
    adapter,
    connected,
    theirHeads,
    sameHeads,
    // The server has told us heads equal to ours for this handle.
    inSync: (handle) => sameHeads(theirHeads.get(handle.documentId), handle.heads()),
  };
}

// The document content of the benchmarks: change c of document d sets k<c> to P seeded bytes
// (xorshift64, lib/shape.mjs; index d * 1_000_003 + c, so documents differ).
export const docPayload = (d, c, P) => payload(d * 1_000_003 + c, P);

// Makes a document of `changes` changes (the first is the repo's own empty change at create).
export function createDocument(repo, d, changes, P) {
  const handle = repo.create();
  for (let c = getAllChanges(handle.doc()).length; c < changes; ++c) {
    handle.change((doc) => {
      doc[`k${c}`] = docPayload(d, c, P);
    });
  }
  return handle;
}

// True when handle holds exactly the content createDocument(d, changes, P) wrote.
export function hasDocumentContent(handle, d, changes, P) {
  const doc = handle.doc();
  if (!doc || getAllChanges(doc).length < changes) return false;
  for (let c = 1; c < changes; ++c) {
    const want = docPayload(d, c, P);
    const got = doc[`k${c}`];
    if (!(got instanceof Uint8Array) || got.length !== want.length || !got.every((b, k) => b === want[k])) return false;
  }
  return true;
}
