'use strict';
// Drives dagsync's WebSocket server with the npm `ws` client (a client we did not write).
// Usage: node ws_client.js ws://127.0.0.1:PORT/sync MAX_FRAME_BYTES
//        node ws_client.js wss://127.0.0.1:PORT/sync MAX_FRAME_BYTES CA_FILE   (TLS steps)
// The server echoes binary frames. Prints one line per step ("<step> <result>") for the C++
// test (test_transport_ws.cpp) to check, and exits non-zero on the first failure or after
// 30 s. Talks to 127.0.0.1 / ::1 only: the URL the test passes.
const fs = require('fs');
const net = require('net');
const WebSocket = require('ws');

const url = process.argv[2];
const limit = Number(process.argv[3]);
const caFile = process.argv[4];  // wss: the test CA to trust (and nothing else)
if (!url || !limit) {
  console.error('usage: node ws_client.js WS_URL MAX_FRAME_BYTES');
  process.exit(2);
}
const target = new URL(url);

function out(line) {
  process.stdout.write(line + '\n');
}
function fail(message) {
  out('FAIL ' + message);
  process.exit(1);
}
setTimeout(() => fail('timed out after 30 s'), 30000).unref();

// A connected client; permessage-deflate off, as the server offers no extensions. For wss,
// `tls` holds Node's TLS options (ca); by default the test CA, verifying the server.
function open(address, tls = caFile ? { ca: fs.readFileSync(caFile) } : {}) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(address, { perMessageDeflate: false, ...tls });
    ws.binaryType = 'nodebuffer';
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (req, res) => reject(new Error('HTTP ' + res.statusCode)));
  });
}

// Resolves with {code, reason} when the connection closes.
function closed(ws) {
  return new Promise((resolve) => {
    ws.on('error', () => {});  // a close after an error still reports its code
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
  });
}

// Resolves with the next `count` binary messages.
function messages(ws, count) {
  return new Promise((resolve, reject) => {
    const got = [];
    const onMessage = (data, isBinary) => {
      if (!isBinary) return reject(new Error('got a text message'));
      got.push(data);
      if (got.length === count) {
        ws.off('message', onMessage);
        resolve(got);
      }
    };
    ws.on('message', onMessage);
    ws.once('close', (code) => reject(new Error('closed with ' + code + ' while waiting for echoes')));
  });
}

function pattern(size, seed) {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (seed + i * 31) & 0xff;
  return b;
}

async function echo(ws, frames) {
  const answers = messages(ws, frames.length);
  for (const f of frames) ws.send(f, { binary: true });
  const got = await answers;
  frames.forEach((f, i) => {
    if (!f.equals(got[i])) fail('echo ' + i + ' differs');
  });
}

async function main() {
  // 1. A good connection: binary frames echoed whole and in order, up to the limit.
  const good = await open(url);
  await echo(good, [pattern(0, 1), pattern(1, 2), pattern(1000, 3), pattern(limit, 4)]);
  out('echo ok 4');

  // 2. A text message: the server closes that connection with 1003.
  {
    const ws = await open(url);
    const end = closed(ws);
    ws.send('hello as text');
    const { code, reason } = await end;
    out(`text close ${code} ${reason}`);
  }

  // 3. A binary message over the server's limit: 1009.
  {
    const ws = await open(url);
    const end = closed(ws);
    ws.send(pattern(limit + 1, 5), { binary: true });
    const { code, reason } = await end;
    out(`oversized close ${code} ${reason}`);
  }

  // 4. A malformed frame after the upgrade (RSV1 set, no extension negotiated): 1002.
  {
    const ws = await open(url);
    const end = closed(ws);
    ws._socket.write(Buffer.from([0xc2, 0x81, 0x11, 0x22, 0x33, 0x44, 0x55]));
    const { code, reason } = await end;
    out(`malformed close ${code} ${reason}`);
  }

  // 5. Garbage instead of an HTTP upgrade: an HTTP error, then the connection ends.
  {
    const reply = await new Promise((resolve, reject) => {
      const socket = net.connect(Number(target.port), target.hostname.replace(/^\[|\]$/g, ''));
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve(data));
      socket.write('\x00\x01garbage that is not HTTP\r\n\r\n');
    });
    out(`garbage ${reply.split('\r\n')[0]}`);
  }

  // 6. An upgrade for a path the server does not serve.
  {
    const other = new URL(url);
    other.pathname = '/not-sync';
    try {
      const ws = await open(other.toString());
      ws.terminate();
      out('path accepted (wrong)');
    } catch (e) {
      out(`path refused ${e.message}`);
    }
  }

  // 7. The good connection still works after all that.
  await echo(good, [pattern(5000, 6), pattern(7, 7)]);
  out('after ok');

  // 8. A graceful close.
  const end = closed(good);
  good.close(1000, 'bye');
  const { code } = await end;
  out(`done ${code}`);
  process.exit(0);
}

// Over wss: frames echoed, a text message refused, and a client that does not trust the
// test CA refused by its own TLS verification.
async function mainTls() {
  const good = await open(url);
  await echo(good, [pattern(0, 1), pattern(1, 2), pattern(1000, 3), pattern(limit, 4)]);
  out('tls-echo ok 4');

  {
    const ws = await open(url);
    const end = closed(ws);
    ws.send('hello as text');
    const { code } = await end;
    out(`tls-text close ${code}`);
  }

  try {
    const ws = await open(url, {});
    ws.terminate();
    out('untrusted accepted (wrong)');
  } catch (e) {
    out(`untrusted refused ${e.code || e.message}`);
  }

  await echo(good, [pattern(5000, 6)]);
  const end = closed(good);
  good.close(1000, 'bye');
  const { code } = await end;
  out(`tls-done ${code}`);
  process.exit(0);
}

(caFile ? mainTls() : main()).catch((e) => fail(e.stack || String(e)));
