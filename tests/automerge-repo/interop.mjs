// Real automerge-repo 2.5.6 clients (Node, @automerge/automerge-repo-network-websocket) against
// dagsync's automerge-repo dialect. Started by the C++ test case "automerge-repo: interop"
// with the server's ws:// URL and peer id; prints one line per check ("<name> ok ..." or
// "<name> FAIL ...") and exits non-zero when any check failed.
//
// What works without the Automerge sync engine (which the core provides): the handshake,
// a request for an unknown document answered unavailable (well before the client's own
// 60 s timeout), and ephemeral messages relayed between two real clients.
import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const [url, serverPeerId] = process.argv.slice(2)
let failed = 0
const report = (name, ok, detail = "") => {
  console.log(`${name} ${ok ? "ok" : "FAIL"} ${detail}`.trim())
  if (!ok) failed++
}
const within = (ms, promise, what) =>
  Promise.race([
    promise,
    new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms)),
  ])

function client(name) {
  const adapter = new WebSocketClientAdapter(url, 500)
  const repo = new Repo({ network: [adapter], peerId: `peer-${name}`, sharePolicy: async () => true })
  const connected = new Promise(resolve => adapter.on("peer-candidate", ({ peerId }) => resolve(peerId)))
  return { repo, adapter, connected }
}

const alice = client("alice")
const bob = client("bob")
try {
  // 1. Handshake: our join is answered by the server's peer message, naming it.
  const [a, b] = await within(10000, Promise.all([alice.connected, bob.connected]), "handshake")
  report("handshake", a === serverPeerId && b === serverPeerId, `server=${a}`)

  // 2. A document nobody has: the server answers doc-unavailable after consulting storage.
  const started = Date.now()
  let outcome
  try {
    await within(20000, bob.repo.find("automerge:4NMNnkMhL8jXrdJ9jamS58PAVdXu"), "find")
    outcome = "found"
  } catch (e) {
    outcome = e.message
  }
  report("unavailable", /unavailable/.test(outcome), `${outcome} after ${Date.now() - started} ms`)

  // 3. Ephemeral messages: alice broadcasts on a document both have a handle for; bob gets it.
  const handle = alice.repo.create({ items: [] })
  const bobHandle = await within(
    20000,
    bob.repo.find(handle.url, { allowableStates: ["ready", "unavailable", "requesting"] }),
    "find for ephemeral"
  )
  const heard = new Promise(resolve =>
    bobHandle.on("ephemeral-message", ({ message, senderId }) => resolve({ message, senderId }))
  )
  // Repeated until heard: alice's synchronizer adds the server as a peer of the document
  // asynchronously, and ephemeral messages are fire-and-forget.
  const timer = setInterval(() => handle.broadcast({ cursor: 7, who: "alice" }), 200)
  try {
    const { message, senderId } = await within(10000, heard, "ephemeral")
    report(
      "ephemeral",
      message.cursor === 7 && message.who === "alice" && senderId === "peer-alice",
      `from ${senderId}`
    )
  } finally {
    clearInterval(timer)
  }
} catch (e) {
  report("error", false, e.stack)
}
await Promise.allSettled([alice.repo.shutdown(), bob.repo.shutdown()])
console.log(failed ? `done, ${failed} failed` : "done")
process.exit(failed ? 1 : 0)
