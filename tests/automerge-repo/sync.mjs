// dagsync's server syncing real Automerge documents. Run by the C++ test case
// "automerge-repo: sync" (tests/session/automerge/test_automerge_repo_node.cpp, through run.sh).
//
//   node sync.mjs edit URL SERVER_PEER_ID        A creates a document and edits it; B finds it
//                                                by its URL; both edit concurrently; both end
//                                                with equal heads and contents. Prints
//                                                "url <automerge URL>" and "heads <json>".
//   node sync.mjs find URL SERVER_PEER_ID DOC    after the server restarted from its store: a
//                                                third client finds DOC with every edit.
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const [mode, url, serverPeerId, docUrl] = process.argv.slice(2)
let failed = 0
const report = (name, ok, detail = "") => {
  console.log(`${name} ${ok ? "ok" : "FAIL"} ${detail}`.trim())
  if (!ok) failed++
}
const within = (ms, promise, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: none in ${ms} ms`)), ms)),
  ])
const until = async (ms, test, what) => {
  const end = Date.now() + ms
  while (!test()) {
    if (Date.now() > end) throw new Error(`${what}: not by ${ms} ms`)
    await new Promise(r => setTimeout(r, 50))
  }
}

function client(name) {
  const adapter = new WebSocketClientAdapter(url, 500)
  const repo = new Repo({ network: [adapter], peerId: `peer-${name}` })
  const connected = new Promise(resolve =>
    adapter.on("peer-candidate", ({ peerId }) => resolve(peerId))
  )
  return { repo, connected }
}
const sorted = heads => [...heads].sort()

try {
  if (mode === "edit") {
    const a = client("a"), b = client("b")
    report("handshake", (await within(10000, a.connected, "peer")) === serverPeerId)
    await within(10000, b.connected, "peer")
    const ha = a.repo.create({ items: ["a0"] })
    ha.change(d => d.items.push("a1"))
    const hb = await within(20000, b.repo.find(ha.url), "B finds A's document")
    report("found", hb.doc().items.includes("a1"))
    ha.change(d => d.items.push("a2"))  // concurrent edits
    hb.change(d => d.items.push("b1"))
    await until(20000, () => JSON.stringify(sorted(ha.heads())) === JSON.stringify(sorted(hb.heads())),
      "equal heads")
    const items = JSON.stringify([...ha.doc().items].sort())
    report("converged", items === JSON.stringify([...hb.doc().items].sort()) &&
      ["a0", "a1", "a2", "b1"].every(i => ha.doc().items.includes(i)), items)
    console.log(`url ${ha.url}`)
    await Promise.allSettled([a.repo.shutdown(), b.repo.shutdown()])
  } else {
    const c = client("c")
    await within(10000, c.connected, "peer")
    const hc = await within(20000, c.repo.find(docUrl), "C finds the document after a restart")
    const items = [...hc.doc().items].sort()
    report("restored", JSON.stringify(items) === JSON.stringify(["a0", "a1", "a2", "b1"]),
      JSON.stringify(items))
    await c.repo.shutdown()
  }
} catch (e) {
  report("error", false, e.stack)
}
console.log(failed ? `done, ${failed} failed` : "done")
process.exit(failed ? 1 : 0)
