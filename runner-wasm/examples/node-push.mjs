// Push an image tar from disk to a registry with the tug-wasm package, from Node.js (>= 20).
//
//   ./scripts/build-wasm.sh
//   node runner-wasm/examples/node-push.mjs image.tar 127.0.0.1:5000/team/app:v1 [--plain-http] [--pull out.tar]
//
// Credentials come from TUG_USERNAME / TUG_PASSWORD. With --pull, the image is pulled back
// into a docker-archive tar (docker load / skopeo copy docker-archive: read it).
import { openAsBlob } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';

// The Node.js build of the package (CommonJS); browsers import runner-wasm/pkg instead.
const tug = createRequire(import.meta.url)('../pkg-node/tug_wasm.js');

const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const value = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const [tarPath, target] = args.filter((a, i) => !a.startsWith('--') && args[i - 1] !== '--pull');
if (!tarPath || !target) {
  console.error('usage: node-push.mjs IMAGE.tar HOST:PORT/REPOSITORY:TAG [--plain-http] [--pull OUT.tar]');
  process.exit(2);
}
const options = {
  plainHttp: flag('--plain-http') || undefined,
  username: process.env.TUG_USERNAME,
  password: process.env.TUG_PASSWORD,
};

const mib = (n) => `${(n / 1048576).toFixed(1)} MiB`;
const show = (ev) => {
  if (ev.event === 'progress') {
    const done = ev.transferred_bytes ?? ev.done_bytes;
    process.stderr.write(`\r${mib(done)} / ${mib(ev.total_bytes)}  ${mib(ev.bytes_per_second)}/s   `);
  } else if (ev.event === 'retrying') {
    process.stderr.write(`\nretrying ${ev.what} in ${ev.delay_ms} ms: ${ev.reason}\n`);
  }
};

try {
  const file = await openAsBlob(tarPath); // read lazily: layers go to fetch as Blob slices
  const [image] = await tug.inspect(file);
  console.error(`${tarPath}: ${image.format}, ${image.layers.length} layers, ${mib(image.totalSize)}`);

  const push = tug.push(file, target, options, show);
  process.once('SIGINT', () => push.cancel()); // Ctrl-C stops cleanly
  const pushed = await push.done;
  console.error(`\npushed ${pushed.blobsPushed} blobs (${mib(pushed.bytesSent)}), ${pushed.blobsSkipped} already there`);
  console.log(`${target}@${pushed.manifestDigest}`);

  const out = value('--pull');
  if (out) {
    const pulled = await tug.pull(target, options, show).done;
    await writeFile(out, Buffer.from(await pulled.tar.arrayBuffer()));
    console.error(`\npulled ${pulled.manifestDigest} into ${out}`);
  }
} catch (e) {
  // e.code: input | auth | registry | network | cors | cancelled
  console.error(`\ntug: ${e.code ?? 'error'}: ${e.message}`);
  process.exit(e.code === 'cancelled' ? 130 : 1);
}
