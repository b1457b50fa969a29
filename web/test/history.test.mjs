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
