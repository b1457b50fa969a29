import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BlobTimings } from '../js/blob-timings.js';

test('timings follow a push\'s blobs by plan index, and a pull\'s by digest', () => {
  let now = 1000;
  const t = new BlobTimings(() => now);
  now = 1010;
  t.onEvent({ event: 'blob_started', blob: 0, digest: 'sha256:aaaaaaaaaaaaaaaa', size: 5 });
  now = 1050;
  t.onEvent({ event: 'retrying', what: 'uploading blob sha256:aaaaaaaaaaaa', attempt: 2 });
  t.onEvent({ event: 'blob_progress', blob: 0, sent: 3, size: 5 });
  now = 1100;
  t.onEvent({ event: 'blob_committed', blob: 0, size: 5 });
  t.onEvent({ event: 'blob_skipped', digest: 'sha256:bbbb', size: 7 });
  now = 1200;
  t.onEvent({ event: 'blob_started', digest: 'sha256:cccc', size: 9 });
  now = 1300;
  assert.deepEqual(t.list(), [
    { digest: 'sha256:aaaaaaaaaaaaaaaa', size: 5, start_ms: 10, end_ms: 100, outcome: 'pushed', retries: 1 },
    { digest: 'sha256:bbbb', size: 7, start_ms: 100, end_ms: 100, outcome: 'skipped', retries: 0 },
    { digest: 'sha256:cccc', size: 9, start_ms: 200, end_ms: 300, outcome: 'unfinished', retries: 0 },
  ]);
});

test('a pull\'s blob_done ends a blob as downloaded', () => {
  let now = 0;
  const t = new BlobTimings(() => now);
  t.onEvent({ event: 'blob_started', digest: 'sha256:dd', size: 1 });
  now = 40;
  t.onEvent({ event: 'blob_done', digest: 'sha256:dd', size: 1 });
  assert.equal(t.list()[0].outcome, 'downloaded');
  assert.equal(t.list()[0].end_ms, 40);
});

test('an upload an earlier run left starts when it is taken up, at its offset', () => {
  let now = 0;
  const t = new BlobTimings(() => now);
  now = 20;
  t.onEvent({ event: 'blob_resumed', blob: 1, digest: 'sha256:ee', from: 4096, size: 8192 });
  now = 70;
  t.onEvent({ event: 'blob_committed', blob: 1, size: 8192 });
  assert.deepEqual(t.list(), [
    { digest: 'sha256:ee', size: 8192, start_ms: 20, end_ms: 70, outcome: 'pushed', retries: 0, resumed_from: 4096 },
  ]);
});

test('a retry is counted against the blob it names by digest', () => {
  const t = new BlobTimings(() => 0);
  t.onEvent({ event: 'blob_started', blob: 0, digest: 'sha256:ffff', size: 5 });
  t.onEvent({ event: 'retrying', what: 'closing the upload', digest: 'sha256:ffff', attempt: 2 });
  assert.equal(t.list()[0].retries, 1);
});
