// Copies an image registry to registry through the tug-wasm package (the same package the
// web page uses, built for Node.js): the core reads the source's ranges and hands each
// upload's body over piece by piece. Run by tests/e2e/tests/e2e/node_embedding.rs, which starts
// both registries, pushes the image to the source and checks the target with skopeo.
//
//   TUG_WASM_PKG   runner-wasm/pkg-node (built by scripts/build-wasm.sh)
//   TUG_SOURCE     host:port/repository:tag to copy from (plain HTTP, no credentials)
//   TUG_TARGET     host:port/repository:tag to copy to
//   TUG_OUT        directory for result.json
//   TUG_PLAIN_HTTP "1" when the target is plain HTTP
//   TUG_USERNAME / TUG_PASSWORD   the target's credentials, if it wants them
//   TUG_REFERRERS  how many referrers the image has (each a `referrer_copied` event)
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const require = createRequire(import.meta.url);
const tug = require(path.resolve(env('TUG_WASM_PKG'), 'tug_wasm.js'));
const password = process.env.TUG_PASSWORD || undefined;

const events = [];
const options = {
  plainHttp: process.env.TUG_PLAIN_HTTP === '1',
  username: process.env.TUG_USERNAME || undefined,
  password,
  // Small chunks: the layers go in several PATCHes, each fed from a range of the source.
  chunkSize: 64 * 1024,
  source: { plainHttp: true },
};
const copy = await tug.copy(env('TUG_SOURCE'), env('TUG_TARGET'), options, (ev) => events.push(ev)).done;
const kinds = new Set(events.map((e) => e.event));
assert.ok(kinds.has('planned'), `no planned event: ${[...kinds]}`);
assert.ok(copy.blobsCopied >= 2, JSON.stringify(copy));
// What is attached to the image came after it (the core's referrers step).
const referrers = events.filter((e) => e.event === 'referrer_copied').map((e) => e.target);
assert.equal(referrers.length, Number(process.env.TUG_REFERRERS || 0), JSON.stringify(referrers));
const carried = events.find((e) => e.event === 'referrers_carried');
assert.equal(carried?.copied, referrers.length, JSON.stringify(carried));

// A second copy finds every blob there already.
const again = await tug.copy(env('TUG_SOURCE'), env('TUG_TARGET'), options).done;
assert.equal(again.blobsCopied, 0, JSON.stringify(again));
assert.equal(again.manifestDigest, copy.manifestDigest);

// A source that lacks the image (MANIFEST_UNKNOWN): not found, coded.
let missing;
try {
  await tug.copy(env('TUG_SOURCE').replace(/:[^:/]+$/, ':no-such-tag'), env('TUG_TARGET'), options).done;
} catch (e) {
  missing = { code: e.code, message: e.message };
}
assert.equal(missing?.code, 'not_found', JSON.stringify(missing));

// `referrers: false` copies the image alone: nothing is asked about what is attached.
const alone = [];
await tug.copy(env('TUG_SOURCE'), env('TUG_TARGET'), { ...options, referrers: false }, (ev) => alone.push(ev)).done;
assert.ok(!alone.some((e) => e.event.startsWith('referrer')), JSON.stringify(alone.map((e) => e.event)));

const result = { copy, again, missing, referrers };
if (password) assert.ok(!JSON.stringify(result).includes(password), 'the password leaked');
await writeFile(path.join(env('TUG_OUT'), 'result.json'), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
