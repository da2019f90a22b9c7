// A minimal state-vector sync protocol for libraries without a built-in sync protocol
// (Yjs, Loro), in the style of y-protocols' sync step 1 / step 2 (written here from
// scratch; the y-protocols package is not used).
//
// A message is a sequence of parts, each `tag (1 byte) | uLEB128 length | body`:
//   tag 0: the sender's state vector (encoded by the library)
//   tag 1: an update (encoded by the library)
//
// Scenario a (no saved state): the initiator sends its state vector; the other side
// replies with the update the initiator lacks plus its own state vector; the initiator
// replies with the update the other side lacks. That is 3 messages.
//
// Scenario b ("with saved sync state"): neither Yjs nor Loro has a persistent sync state,
// so b is modelled as: each side kept the state vector the other side had at the end of the
// previous session (here: the shared history's state vector, encoded and decoded as if
// persisted), and on reconnect sends the update against it straight away. A side records
// what the other side must now hold (what it sent, what it received), so it does not echo
// the peer's own changes back. That is 2 messages.

const TAG_SV = 0;
const TAG_UPDATE = 1;

function uleb(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

function frame(parts) {
  const heads = parts.map(([tag, body]) => [tag, ...uleb(body.length)]);
  let total = 0;
  for (let k = 0; k < parts.length; ++k) total += heads[k].length + parts[k][1].length;
  const out = new Uint8Array(total);
  let off = 0;
  for (let k = 0; k < parts.length; ++k) {
    out.set(heads[k], off);
    off += heads[k].length;
    out.set(parts[k][1], off);
    off += parts[k][1].length;
  }
  return out;
}

function unframe(msg) {
  const parts = [];
  let pos = 0;
  while (pos < msg.length) {
    const tag = msg[pos++];
    let len = 0;
    let shift = 0;
    for (;;) {
      const b = msg[pos++];
      len += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
    }
    parts.push([tag, msg.subarray(pos, pos + len)]);
    pos += len;
  }
  return parts;
}

// Pointwise maximum of two state vectors (Map key -> clock), into `into`.
export function mergeInto(into, other) {
  for (const [k, v] of other) if (!(into.get(k) >= v)) into.set(k, v);
  return into;
}

// Is `mine` ahead of `theirs` anywhere?
function ahead(mine, theirs) {
  for (const [k, v] of mine) if (!(theirs.get(k) >= v)) return true;
  return false;
}

// `lib` adapts one document:
//   encodeSV(): Uint8Array                 own state vector, wire form
//   sv(): Map                               own state vector
//   diffFromEncoded(Uint8Array): Uint8Array update the holder of that state vector lacks
//   diffFromMap(Map): Uint8Array            the same from a Map state vector
//   apply(update): Map                      imports; returns the end clocks the update held
export class SvPeer {
  constructor(lib, { initiator, saved }) {
    this.lib = lib;
    this.initiator = initiator;
    this.known = saved ? new Map(saved) : null; // scenario b: the peer's last known SV
    this.request = null; // scenario a: a state vector to answer with an update
    this.sentSV = false;
  }

  generate() {
    const parts = [];
    if (this.known === null) {
      if (this.request !== null) {
        parts.push([TAG_UPDATE, this.lib.diffFromEncoded(this.request)]);
        this.request = null;
      }
      if (!this.sentSV && (this.initiator || parts.length > 0)) {
        parts.push([TAG_SV, this.lib.encodeSV()]);
        this.sentSV = true;
      }
    } else {
      const mine = this.lib.sv();
      if (ahead(mine, this.known)) {
        parts.push([TAG_UPDATE, this.lib.diffFromMap(this.known)]);
        mergeInto(this.known, mine);
      }
    }
    return parts.length ? frame(parts) : null;
  }

  receive(msg) {
    for (const [tag, body] of unframe(msg)) {
      if (tag === TAG_SV) {
        this.request = body;
      } else if (tag === TAG_UPDATE) {
        const reached = this.lib.apply(body);
        if (this.known !== null) mergeInto(this.known, reached);
      } else {
        throw new Error(`unknown message part ${tag}`);
      }
    }
  }
}
