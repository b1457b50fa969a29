import test from 'node:test';
import assert from 'node:assert/strict';
import { History, sanitize } from '../js/history.js';

test('records keep only known fields, so nothing secret can slip in', () => {
  const r = sanitize({
    time: '2024-05-01T00:00:00.000Z', target: 'r/app:1', digest: 'sha256:x', size: 10,
    durationMs: 5, outcome: 'success', password: 'secret', options: { password: 'secret' },
  });
  assert.equal(JSON.stringify(r).includes('secret'), false);
  assert.equal(r.target, 'r/app:1');
  assert.equal(sanitize({ outcome: 'weird' }).outcome, 'failed');
});

test('without IndexedDB the history lives in memory, newest first', async () => {
  const h = await new History().init();
  assert.equal(h.persistent, false);
  await h.add({ target: 'a', outcome: 'success' });
  await h.add({ target: 'b', outcome: 'failed' });
  assert.deepEqual((await h.list()).map((e) => e.target), ['b', 'a']);
  await h.clear();
  assert.equal((await h.list()).length, 0);
});

test('records keep per-blob timings (their fields only) and what to push or pull again', () => {
  const r = sanitize({
    outcome: 'success', registryUrl: 'https://r.example', repository: 'team/app:1', source: 'app.tar',
    blobTimings: [{ digest: 'sha256:aa', size: 3, start_ms: 1, end_ms: 4, outcome: 'pushed', retries: 0, secret: 'x' }, 'junk'],
  });
  assert.deepEqual(r.blobTimings, [{ digest: 'sha256:aa', size: 3, start_ms: 1, end_ms: 4, outcome: 'pushed', retries: 0 }]);
  assert.equal(r.registryUrl, 'https://r.example');
  assert.equal(r.repository, 'team/app:1');
  assert.equal(r.source, 'app.tar');
});
