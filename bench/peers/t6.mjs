import * as Automerge from "@automerge/automerge";
import { buildChange } from "./lib/automerge.mjs";
import { payload, actorHex16 } from "./lib/shape.mjs";
const N = +process.argv[2], A = +process.argv[3];
const actor = (k) => actorHex16("actor " + k);
let prev = null; const chunks = []; const seq = new Map();
for (let i = 0; i < N; i++) {
  const a = i % A; const s = (seq.get(a) ?? 0) + 1; seq.set(a, s);
  const { bytes, hash } = buildChange(actor(a), s, i + 1, prev ? [prev] : [], "k" + i, payload(i, 64));
  chunks.push(bytes); prev = hash;
}
const side = []; let p2 = prev;
for (let j = 0; j < 10; j++) { const { bytes, hash } = buildChange(actorHex16("sideA"), j + 1, N + j + 1, [p2], "k" + (N + j), payload(N + j, 64)); side.push(bytes); p2 = hash; }
const all = Buffer.concat(chunks);
let t = performance.now(); if (process.argv[4]) { try { Automerge.decodeChange(new Uint8Array(+process.argv[4] << 20)); } catch (e) { console.log("pregrow:", String(e).slice(0,60)); } }
const lap = (s) => { const n = performance.now(); console.log(s, (n - t).toFixed(0)); t = n; };
let doc = Automerge.load(all); lap("load");
let d2 = Automerge.clone(doc); lap("clone");
let d3 = Automerge.loadIncremental(doc, Buffer.concat(side)); lap("loadIncremental side on loaded");
let d4 = Automerge.loadIncremental(d2, Buffer.concat(side)); lap("loadIncremental side on clone");


let e1 = Automerge.load(Buffer.concat([all, ...side])); lap("load shared+side");
