import test from 'node:test';
import assert from 'node:assert/strict';
import { MemoryStore, Sessions, recordOf, resumeOption, sessionKey } from '../js/sessions.js';

const target = { registry: 'https://r.example:5000', repository: 'team/app' };
const other = { registry: 'https://r.example:5000', repository: 'team/app2' };
const layer = `sha256:${'a'.repeat(64)}`;
const config = `sha256:${'b'.repeat(64)}`;
const session = (digest, committed) => ({
  event: 'upload_session', blob: 1, digest, location: `https://r.example:5000/v2/team/app/blobs/uploads/${digest.slice(7, 11)}?_state=x`, committed,
});

test('sessions are keyed by registry, repository and digest, as the CLI keeps them', () => {
  assert.equal(sessionKey(target, layer), `https://r.example:5000/team/app@${layer}`);
  const r = recordOf(target, session(layer, 5));
  assert.equal(r.key, sessionKey(target, layer));
  assert.equal(r.committed, 5);
  assert.equal(recordOf(target, { event: 'blob_progress', digest: layer }), null);
  assert.equal(recordOf(target, { event: 'upload_session', digest: layer, location: 'x', committed: -1 }), null);
});

test('the resume option holds only the target\'s sessions, in tug-wasm\'s shape', () => {
  const records = [recordOf(target, session(layer, 7)), recordOf(other, session(config, 3))];
  assert.deepEqual(resumeOption(target, records), [
    { digest: layer, location: session(layer, 7).location, committed: 7 },
  ]);
  assert.deepEqual(resumeOption({ registry: 'https://r.example:5000', repository: 'team' }, records), []);
});

test('events keep the latest confirmed offset and forget a blob once it is in', async () => {
  const s = new Sessions(new MemoryStore());
  s.keep(target, session(layer, 1 << 20));
  s.keep(target, session(config, 10));
  s.keep(target, session(layer, 2 << 20));
  s.keep(target, { event: 'blob_progress', blob: 1, sent: 3, size: 9 });
  s.keep(other, session(layer, 4));
  s.keep(target, { event: 'upload_session_closed', blob: 0, digest: config });
  const resume = await s.resumable(target);
  assert.deepEqual(resume.map((r) => [r.digest, r.committed]), [[layer, 2 << 20]]);
  assert.deepEqual((await s.resumable(other)).map((r) => r.committed), [4]);
  s.keep(target, { event: 'upload_session_closed', blob: 1, digest: layer });
  assert.deepEqual(await s.resumable(target), []);
});

test('without IndexedDB the sessions live in memory, and a failing store costs only resuming', async () => {
  const s = await new Sessions().init();
  assert.equal(s.persistent, false);
  s.keep(target, session(layer, 9));
  assert.equal((await s.resumable(target)).length, 1);
  const broken = new Sessions({
    put: async () => { throw new Error('quota'); },
    delete: async () => {},
    all: async () => { throw new Error('gone'); },
  });
  await broken.keep(target, session(layer, 1));
  assert.equal(broken.problem, 'quota');
  assert.deepEqual(await broken.resumable(target), []);
  assert.equal(broken.problem, 'gone');
});
