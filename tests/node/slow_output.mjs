// A pull into an output that falls behind (tests/e2e/tests/e2e/node_embedding.rs): the first
// blob written is held back a while; the pull must not race ahead of it, keeping every
// blob of the image in memory, but wait for the output (at most a couple of blobs ahead).
//
//   TUG_WASM_PKG   runner-wasm/pkg-node (built by scripts/build-wasm.sh)
//   TUG_IMAGE      host:port/repository:tag on a plain-HTTP registry
//   TUG_OUT        directory for result.json
import assert from 'node:assert/strict';
import { open, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(import.meta.url);
const tug = require(path.resolve(env('TUG_WASM_PKG'), 'tug_wasm.js'));

let done = 0;
let doneWhileHeld = null;
let writes = 0;
// The archive is kept (TUG_OUT/pulled.oci.tar): the Rust test reads every blob of it.
const file = await open(path.join(env('TUG_OUT'), 'pulled.oci.tar'), 'w');
const output = new WritableStream({
  async write(chunk) {
    if (chunk instanceof Blob && writes++ === 0) {
      // The output stalls on its first blob: meanwhile the pull goes on as far as it may.
      await sleep(1500);
      doneWhileHeld = done;
    } else if (chunk instanceof Blob) {
      // And stays slower than the registry: blobs still wait for it when the pull ends.
      await sleep(100);
    }
    const bytes = chunk instanceof Blob ? new Uint8Array(await chunk.arrayBuffer()) : chunk;
    await file.write(bytes);
  },
  close: () => file.close(),
  abort: () => file.close(),
});
const result = await tug.pull(
  env('TUG_IMAGE'),
  { plainHttp: true, jobs: 1, output, format: 'oci-archive' },
  (ev) => {
    if (ev.event === 'blob_done') done += 1;
  },
).done;
// The core's per-blob timings come with a streamed pull's result too.
assert.equal(result.blobTimings.filter((t) => t.outcome === 'downloaded').length, done, JSON.stringify(result.blobTimings));
const report = { doneWhileHeld, done, result };
await writeFile(path.join(env('TUG_OUT'), 'result.json'), JSON.stringify(report));
console.log(JSON.stringify(report));
