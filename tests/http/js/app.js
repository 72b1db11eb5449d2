// The routing test component (incomingHandler style, wasi:http/types used directly so that
// bodies stream instead of being buffered):
//   GET  /             200 "hello"
//   POST /echo         200, the request body streamed back piece by piece as it arrives
//   *    /headers      200, every request header echoed back as x-echo-<name>
//   *    /status/NNN   status NNN, empty body
//   *    /trap         throws out of the export (componentize-js turns that into a wasm trap;
//                      see README.md)
//   *    /spin         endless loop
//   *    /sleep        waits 60 s on a timer (setTimeout: the event loop blocks in wasi:io/poll),
//                      then 200 "slept"
//   *    /fetch?url=U  outgoing GET of U with fetch() (wasi:http/outgoing-handler): 200 and the
//                      upstream body, or 502 and the error text
//   *    /state        200 "count=N heap=fresh|reused": N counts the requests this instance
//                      has seen (module state) and heap says whether an object it stored on
//                      globalThis earlier is still there; a fresh instance per request always
//                      answers "count=1 heap=fresh"
//   anything else      404 "not found"
import {
  Fields, OutgoingResponse, OutgoingBody, ResponseOutparam,
} from 'wasi:http/types@0.2.10';

const enc = new TextEncoder();

function respond(out, status, headers, bodyBytes) {
  const fields = new Fields();
  for (const [k, v] of headers) {
    try { fields.append(k, typeof v === 'string' ? enc.encode(v) : v); } catch (e) { /* forbidden */ }
  }
  const response = new OutgoingResponse(fields);
  response.setStatusCode(status);
  const body = response.body();
  ResponseOutparam.set(out, { tag: 'ok', val: response });
  const stream = body.write();
  if (bodyBytes && bodyBytes.length) writeAll(stream, bodyBytes);
  stream[Symbol.dispose]();
  OutgoingBody.finish(body, undefined);
}

// Writes all of bytes: check-write for the allowance, write, wait on the stream's pollable
// when the allowance is 0; then flush.
function writeAll(stream, bytes) {
  let off = 0;
  while (off < bytes.length) {
    let n = Number(stream.checkWrite());
    if (n === 0) {
      const p = stream.subscribe();
      p.block();
      p[Symbol.dispose]();
      continue;
    }
    n = Math.min(n, bytes.length - off);
    stream.write(bytes.subarray(off, off + n));
    off += n;
  }
  stream.blockingFlush();
}

function echo(req, out) {
  const inBody = req.consume();
  const input = inBody.stream();
  const response = new OutgoingResponse(new Fields());
  response.setStatusCode(200);
  const body = response.body();
  ResponseOutparam.set(out, { tag: 'ok', val: response });
  const output = body.write();
  for (;;) {
    let chunk;
    try {
      chunk = input.blockingRead(65536n);
    } catch (e) {
      break; // closed (end of body) or last-operation-failed
    }
    if (chunk.length) writeAll(output, chunk);
  }
  input[Symbol.dispose]();
  output[Symbol.dispose]();
  OutgoingBody.finish(body, undefined);
}

async function outgoing(url, out) {
  let status = 200, text;
  try {
    const r = await fetch(url);
    text = await r.text();
  } catch (e) {
    status = 502;
    text = String(e && e.message ? e.message : e);
  }
  respond(out, status, [['content-type', 'text/plain']], enc.encode(text));
}

let requestsSeen = 0;

function state(out) {
  requestsSeen++;
  let heap = 'reused';
  if (!globalThis.heapNote) {
    globalThis.heapNote = { created: requestsSeen };
    heap = 'fresh';
  }
  respond(out, 200, [['content-type', 'text/plain']],
          enc.encode(`count=${requestsSeen} heap=${heap}`));
}

export const incomingHandler = {
  handle(req, out) {
    const pathq = req.pathWithQuery() ?? '/';
    const q = pathq.indexOf('?');
    const path = q < 0 ? pathq : pathq.slice(0, q);
    const query = q < 0 ? '' : pathq.slice(q + 1);
    const method = req.method().tag;
    if (path === '/') {
      respond(out, 200, [['content-type', 'text/plain']], enc.encode('hello'));
    } else if (path === '/echo' && method === 'post') {
      echo(req, out);
    } else if (path === '/headers') {
      const echoed = [['content-type', 'text/plain']];
      for (const [name, value] of req.headers().entries()) echoed.push(['x-echo-' + name, value]);
      respond(out, 200, echoed, enc.encode('headers'));
    } else if (path.startsWith('/status/')) {
      respond(out, parseInt(path.slice(8), 10), [], null);
    } else if (path === '/trap') {
      throw new Error('trap requested');
    } else if (path === '/state') {
      state(out);
    } else if (path === '/sleep') {
      return new Promise((resolve) => setTimeout(resolve, 60000)).then(() =>
        respond(out, 200, [['content-type', 'text/plain']], enc.encode('slept')));
    } else if (path === '/spin') {
      let n = 0;
      for (;;) n++;
    } else if (path === '/fetch') {
      let url = '';
      for (const kv of query.split('&')) {
        if (kv.startsWith('url=')) url = decodeURIComponent(kv.slice(4));
      }
      return outgoing(url, out);
    } else {
      respond(out, 404, [['content-type', 'text/plain']], enc.encode('not found'));
    }
  },
};
