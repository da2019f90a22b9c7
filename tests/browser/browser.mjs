// Two headless Chromium pages edit one shared list (examples/web) through dagsync-peer.
// Run by run.sh:   node browser.mjs DAGSYNC_PEER SITE_DIR CHROMIUM
//
// Starts `dagsync-peer serve --automerge 127.0.0.1:0 --web SITE_DIR` on a fresh SQLite store
// and reads the page's URL from what it prints. Page A opens it, which creates a document
// and puts its URL in the hash, and adds an item; page B opens A's address (naming the
// server with ?ws=), sees A's item
// and adds its own; A sees B's; A removes its item and B sees that; both end with the same
// list. Every wait is for a condition, with a deadline. Exits 0 when all held, 1 with the
// reason otherwise; stops the server and the browser itself.
import { spawn } from "node:child_process"
import fs from "node:fs"
import os from "node:os"
import path from "node:path"
import { chromium } from "playwright-core"

const [peerBinary, siteDir, chromiumPath] = process.argv.slice(2)
const kWaitMs = 20000     // for any one condition
const kOverallMs = 120000  // for the whole test

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "dagsync-browser-"))
let server = null
let browser = null
const serverOutput = []

function fail(message) {
  throw new Error(message)
}

// The server's stdout until `pattern` matches a line; its match.
function startServer() {
  server = spawn(peerBinary, ["serve", "--automerge", "127.0.0.1:0", "--web", siteDir,
    "--store", path.join(tmp, "server.db"), "--peer-id", "browser-test-server"],
  { stdio: ["ignore", "pipe", "pipe"] })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(
      `the server did not print its web page's URL within ${kWaitMs} ms:\n${serverOutput.join("")}`)), kWaitMs)
    const collect = chunk => {
      serverOutput.push(chunk.toString())
      const m = serverOutput.join("").match(/web page at (http:\/\/\S+)/)
      if (m) { clearTimeout(timer); resolve(m[1]) }
    }
    server.stdout.on("data", collect)
    server.stderr.on("data", chunk => serverOutput.push(chunk.toString()))
    server.on("exit", code => {
      clearTimeout(timer)
      reject(new Error(`the server exited (${code}) before serving:\n${serverOutput.join("")}`))
    })
  })
}

async function stopServer() {
  if (!server || server.exitCode !== null) return
  const exited = new Promise(resolve => server.once("exit", resolve))
  server.kill("SIGTERM")
  const timer = setTimeout(() => server.kill("SIGKILL"), 10000)
  await exited
  clearTimeout(timer)
}

// A page in a context of its own (two windows sharing nothing), whose script errors fail
// the test.
async function openPage(name, url, errors) {
  const context = await browser.newContext()
  const page = await context.newPage()
  page.on("pageerror", e => errors.push(`${name}: ${e.message}`))
  page.on("console", m => { if (m.type() === "error") errors.push(`${name} console: ${m.text()}`) })
  page.on("response", r => { if (r.status() >= 400) errors.push(`${name}: ${r.url()} answered ${r.status()}`) })
  const response = await page.goto(url, { timeout: kWaitMs })
  if (!response || response.status() !== 200) fail(`${name}: GET ${url} answered ${response?.status()}`)
  await waitFor(page, name, "the page is ready", () => document.body.dataset.ready === "true")
  return page
}

async function waitFor(page, name, what, predicate, arg) {
  try {
    await page.waitForFunction(predicate, arg, { timeout: kWaitMs, polling: "raf" })
  } catch (e) {
    const status = await page.locator("#status").textContent().catch(() => "?")
    const items = await listOf(page).catch(() => "?")
    fail(`${name}: ${what}: not within ${kWaitMs} ms (status "${status}", items ${JSON.stringify(items)})`)
  }
}

const listOf = page => page.locator("#items .text").allTextContents()

function hasItems(expected) {
  const shown = [...document.querySelectorAll("#items .text")].map(e => e.textContent)
  return JSON.stringify(shown.slice().sort()) === JSON.stringify(expected.slice().sort())
}

const inSync = () => document.getElementById("status").textContent === "in sync with the server"

async function add(page, text) {
  await page.fill("#new-item", text)
  await page.click("#add")
}

async function main() {
  const pageUrl = await startServer()
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    timeout: kWaitMs,
  })
  const errors = []

  const a = await openPage("A", pageUrl, errors)
  const docUrl = await a.locator("#doc-url").textContent()
  if (!docUrl.startsWith("automerge:")) fail(`A: no document URL shown (${docUrl})`)
  const hash = await a.evaluate(() => decodeURIComponent(location.hash.slice(1)))
  if (hash !== docUrl) fail(`A: the location hash is "${hash}", not the document's URL ${docUrl}`)
  console.log(`A created ${docUrl}`)

  await add(a, "milk (from A)")
  await waitFor(a, "A", "its own item shown", hasItems, ["milk (from A)"])
  await waitFor(a, "A", "the server holds its edit", inSync)
  console.log("A added an item; the server holds it")

  // B names the WebSocket itself (?ws=), as a page served from elsewhere would.
  const wsUrl = await a.locator("#server-url").textContent()
  if (wsUrl !== pageUrl.replace(/^http:/, "ws:")) fail(`A: connects to ${wsUrl}, not its own host`)
  const b = await openPage("B", `${pageUrl}?ws=${encodeURIComponent(wsUrl)}#${docUrl}`, errors)
  if (await b.locator("#server-url").textContent() !== wsUrl) fail("B: ?ws= was not used")
  await waitFor(b, "B", "A's item shown", hasItems, ["milk (from A)"])
  const bDocUrl = await b.locator("#doc-url").textContent()
  if (bDocUrl !== docUrl) fail(`B opened ${bDocUrl}, not A's ${docUrl}`)
  console.log("B opened A's address and shows A's item")

  await add(b, "bread (from B)")
  await waitFor(a, "A", "B's item shown", hasItems, ["milk (from A)", "bread (from B)"])
  console.log("A shows B's item")

  await a.locator("#items li", { hasText: "milk (from A)" }).locator("button.remove").click()
  await waitFor(b, "B", "A's removal shown", hasItems, ["bread (from B)"])
  await waitFor(a, "A", "its removal shown", hasItems, ["bread (from B)"])
  await waitFor(a, "A", "in sync", inSync)
  await waitFor(b, "B", "in sync", inSync)
  const [listA, listB] = [await listOf(a), await listOf(b)]
  if (JSON.stringify(listA) !== JSON.stringify(listB)) {
    fail(`the pages differ: A ${JSON.stringify(listA)}, B ${JSON.stringify(listB)}`)
  }
  console.log(`B shows A's removal; both show ${JSON.stringify(listA)}`)
  if (errors.length) fail(`errors in the pages:\n${errors.join("\n")}`)
}

let code = 0
const overall = setTimeout(() => {
  console.error(`FAIL: the test did not finish within ${kOverallMs} ms`)
  process.exit(1)  // the server and browser are our children; "exit" below kills the server
}, kOverallMs)
process.on("exit", () => { if (server && server.exitCode === null) server.kill("SIGKILL") })
try {
  await main()
  console.log("automerge-browser: ok")
} catch (e) {
  console.error(`FAIL: ${e.message}`)
  code = 1
} finally {
  if (browser) await browser.close().catch(() => {})
  await stopServer()
  fs.rmSync(tmp, { recursive: true, force: true })
  clearTimeout(overall)
}
if (code) console.error(`server output:\n${serverOutput.join("")}`)
process.exit(code)
