// A wasi:http handler in JavaScript (componentize-js, `fetch` event style): answers every
// request with a greeting that names the method and the path.
addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  event.respondWith(
    new Response(`Hello from Flotilla: ${event.request.method} ${url.pathname}\n`, {
      status: 200,
      headers: { "content-type": "text/plain; charset=utf-8" },
    }),
  );
});
