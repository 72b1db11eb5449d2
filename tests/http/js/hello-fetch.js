// 200, content-type text/plain, body "hello": the `fetch` event style (StarlingMonkey's
// fetch-event feature implements wasi:http/incoming-handler).
addEventListener('fetch', (event) =>
  event.respondWith(new Response('hello', { status: 200, headers: { 'content-type': 'text/plain' } })));
