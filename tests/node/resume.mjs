// Resume with the tug-wasm package in Node.js: a push (or, with TUG_SOURCE, a copy from that
// registry image) cancelled once a session confirms TUG_AT bytes, then run again with the
// sessions its `upload_session` events left open (`resume`), which goes on from there; a
// session the registry forgot (a second repository, TUG_TARGET2) is started over; a malformed
// `resume` is an input error. Run by tests/e2e/tests/e2e/node_embedding.rs. Environment:
// TUG_WASM_PKG, TUG_TAR or TUG_SOURCE, TUG_TARGET, TUG_TARGET2 (all plain HTTP), TUG_CHUNK,
// TUG_AT, TUG_OUT (result.json).
import { openAsBlob } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';

const tug = createRequire(import.meta.url)(path.resolve(process.env.TUG_WASM_PKG, 'tug_wasm.js'));
const env = process.env;
const options = { plainHttp: true, chunkSize: Number(env.TUG_CHUNK), jobs: 1 };
const at = Number(env.TUG_AT);
const file = env.TUG_SOURCE ? null : await openAsBlob(env.TUG_TAR);
const start = (target, opts, onEvent) =>
  file
    ? tug.push(file, target, opts, onEvent)
    : tug.copy(env.TUG_SOURCE, target, { ...opts, source: { plainHttp: true } }, onEvent);

/** Pushes or copies, keeping open sessions as the page does; `stop(sessions)` says when to
 * cancel. */
async function push(target, resume, stop = () => false) {
  const sessions = new Map();
  const events = [];
  let handle = null;
  const onEvent = (ev) => {
    events.push(ev.event);
    if (ev.event === 'upload_session') sessions.set(ev.digest, { digest: ev.digest, location: ev.location, committed: ev.committed });
    if (ev.event === 'upload_session_closed') sessions.delete(ev.digest);
    if (stop([...sessions.values()])) handle?.cancel();
  };
  handle = start(target, { ...options, resume }, onEvent);
  let result = null;
  let error = null;
  try {
    result = await handle.done;
  } catch (e) {
    error = { code: e.code, message: e.message };
  }
  return { result, error, sessions: [...sessions.values()], events: [...new Set(events)] };
}

const first = await push(env.TUG_TARGET, [], (open) => open.some((s) => s.committed >= at));
const again = await push(env.TUG_TARGET, first.sessions);
const forgotten = await push(env.TUG_TARGET2, first.sessions);
const bad = await push(env.TUG_TARGET, [{ digest: 'sha256:nope', location: 'http://x/', committed: 0 }]);
const result = { first, again, forgotten, bad };
await writeFile(path.join(env.TUG_OUT, 'result.json'), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
