// Pulls an image through a proxy that holds requests, with the tug-wasm package in Node.js
// and `stallTimeout: 1`: the core gives up on a request nothing moves on after a second,
// aborts it and retries it (tug-wasm keeps no timer of its own). A malformed `stallTimeout`
// is an input error. Run by tests/e2e/tests/e2e/node_embedding.rs. Environment:
// TUG_WASM_PKG, TUG_SOURCE (through the proxy, plain HTTP), TUG_OUT (result.json).
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const tug = createRequire(import.meta.url)(path.resolve(process.env.TUG_WASM_PKG, 'tug_wasm.js'));
const source = process.env.TUG_SOURCE;
const options = { plainHttp: true, retries: 3, stallTimeout: 1, retryDelay: 250 };

const events = [];
const started = performance.now();
const pull = await tug.pull(source, options, (ev) => events.push(ev)).done;
const seconds = (performance.now() - started) / 1000;
let bad = null;
try {
  await tug.pull(source, { ...options, stallTimeout: -1 }).done;
} catch (e) {
  bad = { code: e.code, message: e.message };
}
const result = {
  pull: { manifestDigest: pull.manifestDigest },
  seconds,
  retries: events.filter((e) => e.event === 'retrying'),
  bad,
};
await writeFile(path.join(process.env.TUG_OUT, 'result.json'), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
