// The shared list's page: an automerge-repo Repo in the browser, with no storage of its own,
// connected over WebSocket to the dagsync server that served the page (or to ?ws=URL). The
// document is { items: [{ text }] }; its URL lives in the location hash, so a second window
// opened at the same address edits the same document. Bundled by build.sh with esbuild.
//
// The /slim entry points leave loading Automerge's wasm to us: the base64 copy is bundled
// into this script (one file to serve, nothing fetched at run time).
import {
  Repo,
  encodeHeads,
  initializeBase64Wasm,
  isValidAutomergeUrl,
} from "@automerge/automerge-repo/slim"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"
import { automergeWasmBase64 } from "@automerge/automerge/automerge.wasm.base64"

const $ = id => document.getElementById(id)

// The server's automerge-repo listener: ?ws=URL, else the host this page came from (the
// server serves the page and the WebSocket on one port).
function server_url() {
  const asked = new URLSearchParams(location.search).get("ws")
  if (asked) return asked
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}/`
}

function show_status(text, error = false) {
  $("status").textContent = text
  $("status").className = error ? "error" : ""
}

function render(doc) {
  const list = $("items")
  list.replaceChildren()
  ;(doc?.items ?? []).forEach((item, index) => {
    const li = document.createElement("li")
    const text = document.createElement("span")
    text.className = "text"
    text.textContent = item.text
    const remove = document.createElement("button")
    remove.className = "remove"
    remove.type = "button"
    remove.textContent = "remove"
    remove.addEventListener("click", () => remove_item(index, item.text))
    li.append(text, remove)
    list.append(li)
  })
}

let handle = null

function add_item(text) {
  handle.change(doc => {
    doc.items.push({ text })
  })
}

// By position, checked against the text shown: a concurrent edit may have moved the item.
function remove_item(index, text) {
  handle.change(doc => {
    if (doc.items[index]?.text === text) doc.items.splice(index, 1)
  })
}

// "in sync" once the server's last message named our heads: it holds every edit made here.
function watch_server(repo) {
  let connected = false
  const server_heads = new Map()  // document id -> the heads the server last said it has
  const update = () => {
    if (!connected) return show_status("disconnected from the server; reconnecting…", true)
    const theirs = server_heads.get(handle?.documentId)
    const ours = handle ? handle.heads() : []
    const synced = theirs && theirs.length === ours.length && ours.every(h => theirs.includes(h))
    show_status(synced ? "in sync with the server" : "syncing…")
  }
  repo.networkSubsystem.on("peer", () => { connected = true; update() })
  repo.networkSubsystem.on("peer-disconnected", () => { connected = false; update() })
  repo.synchronizer.on("sync-state", ({ documentId, syncState }) => {
    server_heads.set(documentId, encodeHeads(syncState.theirHeads ?? []))  // as heads() gives them
    update()
  })
  return update
}

async function main() {
  await initializeBase64Wasm(automergeWasmBase64)
  const url = server_url()
  $("server-url").textContent = url
  const repo = new Repo({ network: [new WebSocketClientAdapter(url)] })
  const update_status = watch_server(repo)

  const wanted = decodeURIComponent(location.hash.slice(1))
  if (isValidAutomergeUrl(wanted)) {
    show_status("finding the document on the server…")
    try {
      handle = await repo.find(wanted)
    } catch (e) {
      show_status(`cannot open ${wanted}: ${e.message}`, true)
      return
    }
  } else {
    handle = repo.create({ items: [] })
    history.replaceState(null, "", `#${handle.url}`)
  }
  $("doc-url").textContent = handle.url
  handle.on("change", ({ doc }) => {
    render(doc)
    update_status()
  })
  render(handle.doc())
  update_status()

  const input = $("new-item")
  $("add-form").addEventListener("submit", event => {
    event.preventDefault()
    const text = input.value.trim()
    if (text) add_item(text)
    input.value = ""
  })
  input.disabled = $("add").disabled = false
  document.body.dataset.ready = "true"
}

main().catch(e => show_status(`error: ${e.message}`, true))
