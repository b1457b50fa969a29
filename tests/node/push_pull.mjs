// Pushes a tar from disk to a registry through the tug-wasm package (the same package the
// web page uses, built for Node.js), pulls it back into a docker-archive tar, and checks
// the error codes of the JS API. Run by tests/e2e/tests/e2e/node_embedding.rs, which starts the
// registry and checks the results with skopeo. Configuration comes from the environment:
//
//   TUG_WASM_PKG   runner-wasm/pkg-node (built by scripts/build-wasm.sh)
//   TUG_TAR        the docker-save tar to push
//   TUG_TARGET     host:port/repository:tag to push to and pull from
//   TUG_OUT        directory for pulled.tar (and gzip.tar) and result.json
//   TUG_PLAIN_HTTP "1" for http://
//   TUG_USERNAME / TUG_PASSWORD   credentials, if the registry wants them
//   TUG_PULL_GZIP  optional: an image with gzip layers to pull into gzip.tar
//   TUG_PULL_LABELLED  optional: an image of plain layers labelled `+gzip`, into labelled.tar
//   TUG_UNREACHABLE  optional: host:port where nothing listens (for the `network` code)
//   TUG_MULTI_TAR    optional: an OCI archive of a linux/amd64 + linux/arm64 index
//   TUG_PULL_TAMPERED  optional: an image one of whose blobs the registry serves altered
//   TUG_BAD_TARBALL  optional: a crane tarball whose gzip layers are not its config's diffIDs
import assert from 'node:assert/strict';
import { openAsBlob } from 'node:fs';
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
const out = env('TUG_OUT');
const target = env('TUG_TARGET');
const registryOptions = {
  plainHttp: process.env.TUG_PLAIN_HTTP === '1',
  username: process.env.TUG_USERNAME || undefined,
  password: process.env.TUG_PASSWORD || undefined,
};
const secret = registryOptions.password;

/** Runs an operation and collects its events. */
async function run(start) {
  const events = [];
  const handle = start((ev) => events.push(ev));
  try {
    return { result: await handle.done, events };
  } catch (error) {
    return { error, events };
  }
}

const counts = (events) =>
  events.reduce((acc, e) => ({ ...acc, [e.event]: (acc[e.event] || 0) + 1 }), {});

function noSecrets(what, value) {
  if (!secret) return;
  assert.ok(!JSON.stringify(value).includes(secret), `${what} shows the password`);
}

const file = await openAsBlob(env('TUG_TAR'));
const openedMulti = process.env.TUG_MULTI_TAR ? await openAsBlob(process.env.TUG_MULTI_TAR) : null;

// inspect: what the tar holds, without reading layers.
const images = await tug.inspect(file);
assert.equal(images.length, 1);
assert.match(images[0].manifestDigest, /^sha256:[0-9a-f]{64}$/);
assert.ok(images[0].layers.length > 0);

// push, then push again: the second run skips every blob.
const pushed = await run((on) => tug.push(file, target, { ...registryOptions, chunkSize: 256 * 1024 }, on));
if (pushed.error) throw pushed.error;
noSecrets('push events', pushed.events);
const pushCounts = counts(pushed.events);
assert.ok(pushCounts.blob_committed >= 1, JSON.stringify(pushCounts));
assert.equal(pushCounts.manifest_pushed, 1);
assert.ok(pushCounts.progress >= 1);
const last = pushed.events.filter((e) => e.event === 'progress').at(-1);
assert.equal(last.done_bytes, last.total_bytes);
assert.equal(typeof last.total_bytes, 'number');
// The core's counts, as the CLI's --progress json prints them.
for (const field of ['blobs_active', 'blobs_mounted', 'retries', 'peak_bytes_per_second']) {
  assert.equal(typeof last[field], 'number', field);
}
// The core's per-blob timings, as `tug history show` has them: one per blob, each pushed.
const timings = pushed.result.blobTimings;
assert.equal(timings.length, pushCounts.blob_committed, JSON.stringify(timings));
for (const t of timings) {
  assert.equal(t.outcome, 'pushed', JSON.stringify(t));
  assert.match(t.digest, /^sha256:[0-9a-f]{64}$/);
  assert.ok(t.end_ms >= t.start_ms && t.size > 0, JSON.stringify(t));
}

// The CLI's --fixed-jobs and --retry-max-wait, as options.
const again = await run((on) => tug.push(file, target, { ...registryOptions, adaptive: false, retryMaxWait: 600 }, on));
if (again.error) throw again.error;
assert.equal(again.result.blobsPushed, 0);
assert.equal(again.result.bytesSent, 0);
assert.equal(again.result.manifestDigest, pushed.result.manifestDigest);

// pull into a docker-archive tar.
async function pullTo(image, name) {
  const pulled = await run((on) => tug.pull(image, registryOptions, on));
  if (pulled.error) throw pulled.error;
  noSecrets('pull events', pulled.events);
  const downloaded = pulled.result.blobTimings.filter((t) => t.outcome === 'downloaded');
  assert.equal(downloaded.length, counts(pulled.events).blob_done ?? 0, JSON.stringify(pulled.result.blobTimings));
  const { tar } = pulled.result;
  assert.ok(tar instanceof Blob);
  await writeFile(path.join(out, name), Buffer.from(await tar.arrayBuffer()));
  return {
    manifestDigest: pulled.result.manifestDigest,
    bytesReceived: pulled.result.bytesReceived,
    tarSize: tar.size,
    events: counts(pulled.events),
  };
}
const pull = await pullTo(target, 'pulled.tar');
assert.equal(pull.manifestDigest, pushed.result.manifestDigest);
const gzip = process.env.TUG_PULL_GZIP ? await pullTo(process.env.TUG_PULL_GZIP, 'gzip.tar') : null;
const labelled = process.env.TUG_PULL_LABELLED
  ? await pullTo(process.env.TUG_PULL_LABELLED, 'labelled.tar')
  : null;

// One platform of a multi-platform OCI archive, as `tug push --platform` pushes it.
const platformPush = process.env.TUG_MULTI_TAR
  ? (await run((on) => tug.push(
      openedMulti,
      target.replace(/:[^:/]+$/, ':arm'),
      { ...registryOptions, platform: 'linux/arm64' },
      on,
    ))).result
  : null;

// Error codes.
const codeOf = async (start) => {
  const { error } = await run(start);
  assert.ok(error instanceof Error, 'the operation must fail');
  noSecrets('error message', error.message);
  return { code: error.code, message: error.message };
};
const errors = {};
errors.notATar = await tug.inspect(new Blob(['this is not a tar file'])).then(
  () => assert.fail('inspect of a non-tar must fail'),
  (e) => ({ code: e.code, message: e.message }),
);
errors.badTarget = await codeOf((on) => tug.push(file, 'UPPER/Case::', registryOptions, on));
// No Blob where the image goes: a usage error, never an exception that ends the process.
errors.nullFile = await codeOf((on) => tug.push(null, target, registryOptions, on));
errors.pathNotBlob = await tug.inspect('/tmp/image.tar').then(
  () => assert.fail('inspect of a path string must fail'),
  (e) => ({ code: e.code, message: e.message }),
);
// Options outside the core's limits are refused, not quietly clamped.
errors.tooManyRetries = await codeOf((on) =>
  tug.push(file, target, { ...registryOptions, retries: tug.limits().retries.max + 1 }, on),
);
errors.noJobs = await codeOf((on) => tug.pull(target, { ...registryOptions, jobs: 0 }, on));
// A number given as a string is told it is one.
errors.stringJobs = await codeOf((on) => tug.pull(target, { ...registryOptions, jobs: '4' }, on));
// A typo is refused, not ignored (another operation's option is let be: one object often
// serves a push and a pull); so is what a copy's source does not take.
errors.typo = await codeOf((on) => tug.push(file, target, { ...registryOptions, retires: 3 }, on));
errors.sourceJobs = await codeOf((on) =>
  tug.copy(target, target.replace(/:[^:/]+$/, ':copied'), { ...registryOptions, source: { jobs: 2 } }, on),
);
if (process.env.TUG_UNREACHABLE) {
  errors.unreachable = await codeOf((on) =>
    tug.push(file, `${process.env.TUG_UNREACHABLE}/x/y:z`, { plainHttp: true, retries: 1 }, on),
  );
}
if (process.env.TUG_PULL_TAMPERED) {
  errors.tamperedPull = await codeOf((on) => tug.pull(process.env.TUG_PULL_TAMPERED, registryOptions, on));
}
if (process.env.TUG_BAD_TARBALL) {
  const bad = await openAsBlob(process.env.TUG_BAD_TARBALL);
  errors.badLayer = await codeOf((on) =>
    tug.push(bad, target.replace(/:[^:/]+$/, ':badlayer'), registryOptions, on),
  );
}
errors.cancelledAtOnce = await codeOf((on) => {
  const h = tug.push(file, target.replace(/:[^:/]+$/, ':cancelled'), registryOptions, on);
  h.cancel();
  return h;
});
errors.cancelledMidway = await codeOf((on) => {
  const h = tug.pull(target, registryOptions, (ev) => {
    on(ev);
    if (ev.event === 'blob_started') h.cancel();
  });
  return h;
});
if (registryOptions.username) {
  errors.wrongPassword = await codeOf((on) =>
    tug.push(file, target, { ...registryOptions, password: 'not-the-password' }, on),
  );
}

const result = {
  version: tug.version(),
  limits: tug.limits(),
  images,
  push: pushed.result,
  pushEvents: pushCounts,
  repush: again.result,
  pull,
  gzip,
  labelled,
  platformPush,
  errors,
};
await writeFile(path.join(out, 'result.json'), JSON.stringify(result, null, 2));
console.log(JSON.stringify({ push: pushed.result, pull, errors: Object.fromEntries(
  Object.entries(errors).map(([k, v]) => [k, v.code])) }));
