// The edges of tug-wasm's JS API in Node.js (tests/e2e/tests/e2e/node_embedding.rs): a
// Cancel while the output stream is stuck in a write or slow, bad arguments, outputs that
// cannot be written, and a pull's `format` without an output. Each case records what it saw
// in TUG_OUT/result.json; the Rust test judges it.
//
//   TUG_WASM_PKG   runner-wasm/pkg-node (built by scripts/build-wasm.sh)
//   TUG_IMAGE      host:port/repository:tag on a plain-HTTP registry
//   TUG_CASE       cancel-stuck | cancel-slow | arguments | throwing-listener | outputs | format
//   TUG_OUT        directory for result.json (and pulled.tar)
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const tug = createRequire(import.meta.url)(path.resolve(env('TUG_WASM_PKG'), 'tug_wasm.js'));
const image = env('TUG_IMAGE');
const P = { plainHttp: true };

/** How `done` settles, or `pending` after `ms`. */
async function settle(done, ms) {
  const t0 = Date.now();
  const outcome = await Promise.race([
    done.then(
      (r) => ({ resolved: true, bytesWritten: r.bytesWritten ?? null }),
      (e) => ({ rejected: true, code: e?.code ?? null, message: String(e?.message ?? e) }),
    ),
    sleep(ms).then(() => ({ pending: true })),
  ]);
  return { ...outcome, ms: Date.now() - t0 };
}

/** A call's outcome: what `done` rejected with, or what the call threw. */
async function outcome(call) {
  let handle;
  try {
    handle = call();
  } catch (e) {
    return { thrown: true, name: e?.name ?? null, code: e?.code ?? null, message: String(e?.message ?? e) };
  }
  return settle(handle.done, 15000);
}

/** A stream whose every write waits for `write()`; records what the pull asked of it. */
function recording(write) {
  const seen = { writes: 0, closed: false, abortReason: null };
  const output = new WritableStream({
    write: () => {
      seen.writes += 1;
      return write();
    },
    close: () => {
      seen.closed = true;
    },
    abort: (reason) => {
      seen.abortReason = { code: reason?.code ?? null, message: String(reason?.message ?? reason) };
    },
  });
  return { output, seen };
}

const cases = {
  // The output never finishes its first write (a paused download): a Cancel settles `done`.
  // Another output finishes its stuck write later: then its abort() runs with the reason.
  'cancel-stuck': async () => {
    const stuck = recording(() => new Promise(() => {}));
    const h = tug.pull(image, { ...P, output: stuck.output }, () => {});
    await sleep(1000);
    h.cancel();
    const never = await settle(h.done, 5000);
    let release;
    const late = recording(() => new Promise((r) => { release = r; }));
    const h2 = tug.pull(image, { ...P, output: late.output }, () => {});
    await sleep(1000);
    h2.cancel();
    const later = await settle(h2.done, 5000);
    release?.();
    await sleep(200);
    return { never, neverSeen: stuck.seen, later, laterSeen: late.seen };
  },
  // Every write takes 2 s; a Cancel at 1 s stops the archive there, not after every write.
  'cancel-slow': async () => {
    const slow = recording(() => sleep(2000));
    const h = tug.pull(image, { ...P, output: slow.output }, () => {});
    await sleep(1000);
    h.cancel();
    const cancelled = await settle(h.done, 10000);
    const writesAtCancel = slow.seen.writes;
    await sleep(2500);
    return { cancelled, writesAtCancel, seen: slow.seen };
  },
  // Arguments of the wrong type reject `done` with `usage`, like every other bad argument.
  arguments: async () => {
    const file = new Blob([new Uint8Array(1024)]);
    return {
      pushTargetUndefined: await outcome(() => tug.push(file, undefined, P)),
      pushTargetNumber: await outcome(() => tug.push(file, 42, P)),
      pullImageUndefined: await outcome(() => tug.pull(undefined, P)),
      platformsImageNull: await outcome(() => tug.platforms(null, P)),
      copySourceObject: await outcome(() => tug.copy({}, image, P)),
      copyTargetUndefined: await outcome(() => tug.copy(image, undefined, P)),
      formatBogus: await outcome(() => tug.pull(image, { ...P, format: 'zip' })),
      pushOnEventNumber: await outcome(() => tug.push(file, image, P, 42)),
      pullOnEventString: await outcome(() => tug.pull(image, P, 'log')),
      copyOnEventObject: await outcome(() => tug.copy(image, image, P, {})),
    };
  },
  // An onEvent that throws: the pull goes on, and its first error is on the console, once.
  'throwing-listener': async () => {
    const errors = [];
    const original = console.error;
    console.error = (...args) => errors.push(args.map((a) => String(a?.message ?? a)));
    let calls = 0;
    const pulled = await settle(
      tug.pull(image, P, () => {
        calls += 1;
        throw new Error('display bug');
      }).done,
      15000,
    );
    console.error = original;
    return { pulled, calls, errors };
  },
  // Outputs that cannot be written: `usage` before anything is pulled; an output that takes
  // no Blob says so.
  outputs: async () => {
    const locked = new WritableStream();
    locked.getWriter();
    const closed = new WritableStream();
    const w = closed.getWriter();
    await w.close();
    w.releaseLock();
    const errored = new WritableStream({ start: (c) => c.error(new Error('gone')) });
    await sleep(10);
    const bytesOnly = new WritableStream({
      write(chunk) {
        if (!(chunk instanceof Uint8Array)) throw new TypeError('The "data" argument must be a Uint8Array');
      },
    });
    return {
      locked: await outcome(() => tug.pull(image, { ...P, output: locked })),
      closed: await outcome(() => tug.pull(image, { ...P, output: closed })),
      errored: await outcome(() => tug.pull(image, { ...P, output: errored })),
      notAStream: await outcome(() => tug.pull(image, { ...P, output: {} })),
      bytesOnly: await outcome(() => tug.pull(image, { ...P, output: bytesOnly })),
    };
  },
  // `format` without `output`: the `tar` Blob is in that format.
  format: async () => {
    const oci = await tug.pull(image, { ...P, format: 'oci-archive' }).done;
    const bytes = new Uint8Array(await oci.tar.arrayBuffer());
    await writeFile(path.join(env('TUG_OUT'), 'pulled.tar'), bytes);
    const docker = await tug.pull(image, { ...P, format: 'docker-archive' }).done;
    const plain = await tug.pull(image, P).done;
    return {
      keys: Object.keys(oci).sort(),
      size: oci.tar.size,
      dockerSize: docker.tar.size,
      plainSize: plain.tar.size,
    };
  },
};

const which = env('TUG_CASE');
const result = await cases[which]();
await writeFile(path.join(env('TUG_OUT'), 'result.json'), JSON.stringify(result));
console.log(JSON.stringify(result));
process.exit(0);
