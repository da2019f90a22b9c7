// The benchmark document shapes, shared by every peer implementation. They mirror
// bench/shape.cpp (the dagsync C++ harness): same payload generator, same actor names,
// same dependency structure.
import { createHash } from "node:crypto";

const MASK64 = (1n << 64n) - 1n;
const GOLDEN = 0x9e3779b97f4a7c15n;

// Payload of the i-th change made (shared history first, then side A's, then side B's):
// P bytes from xorshift64 (13, 7, 17) seeded with (i+1)*0x9E3779B97F4A7C15 mod 2^64, each
// output taken little-endian. Random, so that no implementation can compress it away.
//
// BigInt is slow, so the 64-bit state is kept as two 32-bit halves (hi, lo).
export function payload(i, size) {
  const seed = (BigInt(i + 1) * GOLDEN) & MASK64;
  let hi = Number(seed >> 32n) >>> 0;
  let lo = Number(seed & 0xffffffffn) >>> 0;
  const out = new Uint8Array(size);
  for (let k = 0; k < size; k += 8) {
    // x ^= x << 13
    let nhi = ((hi << 13) | (lo >>> 19)) >>> 0;
    let nlo = (lo << 13) >>> 0;
    hi = (hi ^ nhi) >>> 0;
    lo = (lo ^ nlo) >>> 0;
    // x ^= x >> 7
    nlo = ((lo >>> 7) | (hi << 25)) >>> 0;
    nhi = hi >>> 7;
    hi = (hi ^ nhi) >>> 0;
    lo = (lo ^ nlo) >>> 0;
    // x ^= x << 17
    nhi = ((hi << 17) | (lo >>> 15)) >>> 0;
    nlo = (lo << 17) >>> 0;
    hi = (hi ^ nhi) >>> 0;
    lo = (lo ^ nlo) >>> 0;
    for (let b = 0; b < 8 && k + b < size; ++b) {
      out[k + b] = b < 4 ? (lo >>> (8 * b)) & 0xff : (hi >>> (8 * (b - 4))) & 0xff;
    }
  }
  return out;
}

// Reference implementation with BigInt, used by the self-check only.
export function payloadReference(i, size) {
  let x = (BigInt(i + 1) * GOLDEN) & MASK64;
  const out = new Uint8Array(size);
  for (let k = 0; k < size; k += 8) {
    x ^= (x << 13n) & MASK64;
    x ^= x >> 7n;
    x ^= (x << 17n) & MASK64;
    for (let b = 0; b < 8 && k + b < size; ++b) out[k + b] = Number((x >> BigInt(8 * b)) & 0xffn);
  }
  return out;
}

// Actor names as in the C++ harness: "actor <k>" for the shared history, "sideA" / "sideB"
// for the two forks. Each library gets an id derived from SHA-256 of the name.
export const sharedActorName = (k) => `actor ${k}`;
export const SIDE_A = "sideA";
export const SIDE_B = "sideB";

export function nameDigest(name) {
  return createHash("sha256").update(name).digest();
}

// 16-byte actor id (as dagsync's ActorId), hex.
export function actorHex16(name) {
  return nameDigest(name).subarray(0, 16).toString("hex");
}

// 32-bit unsigned number (Yjs clientIDs are random uint32s in practice).
export function actorU32(name) {
  return nameDigest(name).readUInt32LE(0);
}

// 64-bit unsigned number as BigInt (Loro peer ids are random u64s in practice).
export function actorU64(name) {
  return nameDigest(name).readBigUInt64LE(0);
}

// Walks the shape and calls `make(index, actorName, deps)` for every change in creation
// order, where `deps` are the values earlier `make` calls returned (a change's handle,
// e.g. its hash). Returns the handles of the shared history's heads and both sides' heads.
//
//   shared, change i = 0..N-1 by actor (i % A):
//     linear:  depends on change i-1
//     branchy: depends on the actor's previous change; when i % 64 == 0 and i > 0 also on
//              all current heads (a merge)
//   then side A makes D changes by "sideA", each on top of its current heads; then side B
//   likewise by "sideB" from the fork point. Payload indices run on over all three phases.
//
// `make` may also be called with phase "shared" | "sideA" | "sideB" (4th argument).
export function walkShape({ shape, N, D, A }, make) {
  if (shape !== "linear" && shape !== "branchy") throw new Error(`unknown shape '${shape}'`);
  if (A < 1) throw new Error("A must be at least 1");
  const heads = new Map(); // key -> handle, insertion order kept like the C++ vector
  const keyOf = (h) => (typeof h === "object" && h !== null && "key" in h ? h.key : h);
  const add = (handle, deps) => {
    for (const d of deps) heads.delete(keyOf(d));
    heads.set(keyOf(handle), handle);
  };
  const lastOf = new Array(A).fill(undefined);
  let prev;
  let counter = 0;
  for (let i = 0; i < N; ++i) {
    const a = i % A;
    let deps = [];
    if (shape === "linear") {
      if (i > 0) deps.push(prev);
    } else {
      if (lastOf[a] !== undefined) deps.push(lastOf[a]);
      if (i % 64 === 0 && i > 0) {
        for (const h of heads.values()) if (h !== lastOf[a]) deps.push(h);
      }
    }
    const h = make(counter++, sharedActorName(a), deps, "shared");
    add(h, deps);
    lastOf[a] = h;
    prev = h;
  }
  const sharedHeads = [...heads.values()];
  const side = (name) => {
    let sideHeads = sharedHeads.slice();
    for (let j = 0; j < D; ++j) {
      const h = make(counter++, name, sideHeads, name);
      sideHeads = [h];
    }
    return sideHeads;
  };
  const aHeads = side(SIDE_A);
  const bHeads = side(SIDE_B);
  return { sharedHeads, aHeads, bHeads };
}
