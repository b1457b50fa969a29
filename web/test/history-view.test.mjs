import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exportJson, toCliRecord } from '../js/history-view.js';

const timing = { digest: 'sha256:aa', size: 3, start_ms: 1, end_ms: 4, outcome: 'downloaded', retries: 0 };

test('a pull is exported in the CLI history\'s record shape', () => {
  const r = toCliRecord({
    id: 7, command: 'pull', time: '2026-12-06T10:00:00.000Z', target: 'r.example/team/app:1', digest: 'sha256:m',
    size: 2048, bytesReceived: 1000, durationMs: 1500, outcome: 'success', retries: 1, file: 'app-1.tar', blobTimings: [timing],
  });
  assert.deepEqual(r, {
    id: '7', command: 'pull', start: '2026-12-06T10:00:00.000Z', end: '2026-12-06T10:00:01.500Z', duration_ms: 1500,
    source: 'r.example/team/app:1', target: 'app-1.tar', bytes_total: 2048, bytes_transferred: 1000, retries: 1,
    outcome: 'ok', blob_timings: [timing], digest: 'sha256:m',
  });
});

test('a failed push keeps its error class and message; export is a JSON array', () => {
  const h = { command: 'push', time: '2026-12-06T10:00:00.000Z', target: 'r/app:1', source: 'app.tar', outcome: 'failed', errorCode: 'auth', message: 'wrong password for r', durationMs: 5 };
  const r = toCliRecord(h);
  assert.equal(r.outcome, 'failed');
  assert.equal(r.error_class, 'auth');
  assert.equal(r.error, 'wrong password for r');
  assert.equal(r.source, 'app.tar');
  assert.equal(r.target, 'r/app:1');
  assert.deepEqual(JSON.parse(exportJson([h, h])).map((x) => x.command), ['push', 'push']);
});
