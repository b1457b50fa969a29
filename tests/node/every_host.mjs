// One host of tests/e2e/tests/e2e/every_host.rs: the tug-wasm package in Node.js pushes an
// OCI archive (the test's OCI layout as a tar) with its defaults and pulls the image back
// into an OCI archive, as the other hosts push and pull the same layout. The Rust test
// compares what the registry serves and what was pulled. Configuration:
//
//   TUG_WASM_PKG   runner-wasm/pkg-node (built by scripts/build-wasm.sh)
//   TUG_TAR        the OCI archive to push
//   TUG_TARGET     host:port/repository:tag to push to and pull from
//   TUG_PULLED     the OCI archive to write the pull into
//   TUG_USERNAME / TUG_PASSWORD   the registry's credentials
//   (NODE_EXTRA_CA_CERTS names the registry's CA)
import { openAsBlob } from 'node:fs';
import { open } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(import.meta.url);
const tug = require(path.resolve(env('TUG_WASM_PKG'), 'tug_wasm.js'));
const target = env('TUG_TARGET');
const options = { username: env('TUG_USERNAME'), password: env('TUG_PASSWORD') };

/** A WritableStream into the file `name`: the pull's output, chunks or Blobs. */
async function fileStream(name) {
  const file = await open(name, 'w');
  return new WritableStream({
    async write(chunk) {
      const bytes = chunk instanceof Blob ? new Uint8Array(await chunk.arrayBuffer()) : chunk;
      await file.write(bytes);
    },
    close: () => file.close(),
    abort: () => file.close(),
  });
}

const ignore = () => {};
const pushed = await tug.push(await openAsBlob(env('TUG_TAR')), target, options, ignore).done;
const output = await fileStream(env('TUG_PULLED'));
const pulled = await tug.pull(target, { ...options, output, format: 'oci-archive' }, ignore).done;
console.log(JSON.stringify({ push: pushed, pull: pulled }));
