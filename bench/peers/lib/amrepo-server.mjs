#!/usr/bin/env node
// A sync server built the way automerge-repo-sync-server (src/server.js) is: one automerge-repo
// Repo with NodeWSServerAdapter over a `ws` WebSocketServer (noServer, upgraded from a plain
// HTTP server), NodeFSStorageAdapter on a directory, and the reference server's share policy
// (it announces nothing: clients sync the documents they ask for by id). No Express: the
// reference only uses it for a static page and a "running" answer.
//
//   node lib/amrepo-server.mjs --dir DIR [--share none|everything]
//
// Listens on 127.0.0.1 on a port the OS chooses and prints, as dagsync-peer serve does,
//   listening on ws://127.0.0.1:PORT/ (automerge-repo)
// on stdout. Exits on SIGTERM / SIGINT or when stdin closes (so it never outlives the driver).
import { createServer } from "node:http";
import { mkdirSync } from "node:fs";
import { hostname } from "node:os";
import { WebSocketServer } from "ws";
import { Repo } from "@automerge/automerge-repo";
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";

const args = process.argv.slice(2);
const opt = (name, def) => {
  const k = args.indexOf(`--${name}`);
  return k >= 0 && k + 1 < args.length ? args[k + 1] : def;
};
const dir = opt("dir");
const share = opt("share", "none");
if (!dir || !["none", "everything"].includes(share)) {
  process.stderr.write("usage: node lib/amrepo-server.mjs --dir DIR [--share none|everything]\n");
  process.exit(2);
}
mkdirSync(dir, { recursive: true });

const wss = new WebSocketServer({ noServer: true });
const repo = new Repo({
  network: [new NodeWSServerAdapter(wss)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `storage-server-${hostname()}`,
  sharePolicy: async () => share === "everything",
});
const http = createServer((req, res) => res.end("automerge-repo sync server\n"));
http.on("upgrade", (request, socket, head) => {
  wss.handleUpgrade(request, socket, head, (ws) => wss.emit("connection", ws, request));
});
// The adapter takes connections only once the repo has read its storage id (NetworkSubsystem
// connects its adapters when the peer metadata resolves); a join arriving before that is lost
// and the client redials seconds later. So the port opens after that, and start-up time
// includes it.
await repo.networkSubsystem.peerMetadata;
await new Promise((r) => setImmediate(r));
http.listen(0, "127.0.0.1", () => {
  process.stdout.write(`listening on ws://127.0.0.1:${http.address().port}/ (automerge-repo)\n`);
});

let closing = false;
async function stop() {
  if (closing) return;
  closing = true;
  wss.close();
  http.close();
  await repo.shutdown().catch(() => {});
  process.exit(0);
}
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
process.stdin.on("end", stop);
process.stdin.resume();
