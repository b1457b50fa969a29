// Pushes a tar through a fault-injecting proxy and pulls it back through blob redirects,
// with the tug-wasm package in Node.js: the core's retries and redirect handling, carried by
// fetch. Run by tests/e2e/tests/e2e/node_embedding.rs. Environment: TUG_WASM_PKG, TUG_TAR,
// TUG_TARGET (through the proxy, plain HTTP), TUG_OUT (pulled.tar and result.json).
import { openAsBlob } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const tug = createRequire(import.meta.url)(path.resolve(process.env.TUG_WASM_PKG, 'tug_wasm.js'));
const out = process.env.TUG_OUT;
const target = process.env.TUG_TARGET;
const options = { plainHttp: true, chunkSize: 256 * 1024, retries: 5, retryDelay: 250 };

async function run(start) {
  const events = [];
  const result = await start((ev) => events.push(ev)).done;
  return { result, retries: events.filter((e) => e.event === 'retrying') };
}

const file = await openAsBlob(process.env.TUG_TAR);
const push = await run((on) => tug.push(file, target, options, on));
const pull = await run((on) => tug.pull(target, options, on));
await writeFile(path.join(out, 'pulled.tar'), Buffer.from(await pull.result.tar.arrayBuffer()));
const result = {
  push: push.result,
  pushRetries: push.retries,
  pull: { manifestDigest: pull.result.manifestDigest, bytesReceived: pull.result.bytesReceived },
  pullRetries: pull.retries,
};
await writeFile(path.join(out, 'result.json'), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
