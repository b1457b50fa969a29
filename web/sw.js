// The page's service worker: it serves one thing, a download streamed from the page
// (a pull saved where the browser has no File System Access API). The page sends the
// archive's pieces over a MessageChannel; this worker answers the download's request with
// a stream of them, so nothing is gathered in memory first. Only /tug-download/ URLs are
// answered here; every other request goes to the network as usual.

const downloads = new Map(); // id → { stream, name }

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const msg = event.data;
  if (!msg || msg.type !== 'tug-download' || !event.ports[0]) return;
  const port = event.ports[0];
  let controller;
  let wake = null;
  const stream = new ReadableStream({
    start(c) { controller = c; },
    pull() { if (wake) { wake(); wake = null; } },
    cancel() { port.postMessage({ type: 'cancelled' }); },
  }, { highWaterMark: 4 });
  // Pieces are handled in order; each is acknowledged once the download has room for more.
  let chain = Promise.resolve();
  port.onmessage = ({ data }) => {
    chain = chain.then(async () => {
      try {
        if (data.type === 'chunk') {
          await put(data.chunk);
          port.postMessage({ type: 'ack', seq: data.seq });
        } else if (data.type === 'close') {
          controller.close();
          port.postMessage({ type: 'ack', seq: data.seq });
        } else if (data.type === 'abort') {
          controller.error(new Error(data.reason || 'aborted'));
          downloads.delete(msg.id);
        }
      } catch (e) {
        port.postMessage({ type: 'error', seq: data.seq, message: String(e?.message ?? e) });
      }
    });
  };
  async function put(chunk) {
    const parts = chunk instanceof Blob ? chunk.stream() : null;
    if (parts) {
      const reader = parts.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        await enqueue(value);
      }
    } else {
      await enqueue(chunk);
    }
  }
  async function enqueue(bytes) {
    controller.enqueue(bytes);
    while (controller.desiredSize <= 0) await new Promise((resolve) => { wake = resolve; });
  }
  downloads.set(msg.id, { stream, name: msg.name });
  port.postMessage({ type: 'ready' });
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const match = url.pathname.match(/\/tug-download\/([^/]+)$/);
  if (!match) return;
  const download = downloads.get(match[1]);
  downloads.delete(match[1]);
  if (!download) {
    event.respondWith(new Response('This download is over or unknown.', { status: 404 }));
    return;
  }
  const name = download.name.replace(/["\\\r\n]/g, '_');
  event.respondWith(new Response(download.stream, {
    headers: {
      'Content-Type': 'application/x-tar',
      'Content-Disposition': `attachment; filename="${name}"; filename*=UTF-8''${encodeURIComponent(download.name)}`,
      'X-Content-Type-Options': 'nosniff',
    },
  }));
});
