// Where a pulled archive is written as it arrives: a file the person picks with the File
// System Access API where the browser has it (Chromium), else a download the page's service
// worker (../sw.js) streams. Either is a WritableStream; abort() leaves nothing behind (the
// picked file keeps its old content, the download fails and is removed).

/** Whether the browser lets the page write a file the person picks. */
export function canPickFile() {
  return typeof globalThis.showSaveFilePicker === 'function';
}

/** Asks for the file to write (must run straight from a click). Null when the person cancels. */
export async function pickFile(suggestedName) {
  try {
    const handle = await globalThis.showSaveFilePicker({
      suggestedName,
      types: [{ description: 'Image archive', accept: { 'application/x-tar': ['.tar'] } }],
    });
    return { name: handle.name, open: () => handle.createWritable() };
  } catch (e) {
    if (e?.name === 'AbortError') return null;
    throw e;
  }
}

let registration = null;

/** Registers the service worker that streams downloads (once; harmless where unsupported). */
export async function registerDownloads() {
  if (!('serviceWorker' in navigator)) return null;
  registration ??= navigator.serviceWorker.register('sw.js').then(() => navigator.serviceWorker.ready);
  return registration;
}

/** A download named `name`, streamed through the service worker: a WritableStream. */
export async function streamedDownload(name) {
  const reg = await registerDownloads();
  if (!reg?.active) {
    throw Object.assign(new Error('this browser can neither write a file nor stream a download (no service worker)'), { code: 'input' });
  }
  const id = crypto.randomUUID();
  const channel = new MessageChannel();
  const port = channel.port1;
  const waiting = new Map(); // seq → { resolve, reject }
  let seq = 0;
  let failure = null;
  const ready = new Promise((resolve) => {
    port.onmessage = ({ data }) => {
      if (data.type === 'ready') resolve();
      else if (data.type === 'ack') waiting.get(data.seq)?.resolve();
      else if (data.type === 'error') waiting.get(data.seq)?.reject(new Error(data.message));
      else if (data.type === 'cancelled') {
        failure = new Error('the download was cancelled in the browser');
        for (const w of waiting.values()) w.reject(failure);
      }
      if (data.seq !== undefined) waiting.delete(data.seq);
    };
  });
  reg.active.postMessage({ type: 'tug-download', id, name }, [channel.port2]);
  await ready;
  const send = (message) => {
    if (failure) return Promise.reject(failure);
    const n = ++seq;
    return new Promise((resolve, reject) => {
      waiting.set(n, { resolve, reject });
      port.postMessage({ ...message, seq: n });
    });
  };
  // The download starts now: a hidden frame asks the worker for it.
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = `tug-download/${id}`;
  document.body.append(frame);
  const done = () => setTimeout(() => frame.remove(), 1000);
  return new WritableStream({
    write: (chunk) => send({ type: 'chunk', chunk }),
    close: () => send({ type: 'close' }).finally(done),
    abort: (reason) => {
      port.postMessage({ type: 'abort', reason: String(reason?.message ?? reason ?? 'aborted') });
      done();
    },
  });
}
