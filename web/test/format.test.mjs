import test from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, formatRate, shortDigest, formatTime, mediaTypeShort } from '../js/format.js';

test('bytes in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(1023), '1023 B');
  assert.equal(formatBytes(1536), '1.50 KiB');
  assert.equal(formatBytes(512 * 1024 * 1024), '512 MiB');
  assert.equal(formatBytes(15.5 * 1024 ** 3), '15.5 GiB');
  assert.equal(formatBytes(-1), '–');
  assert.equal(formatBytes(NaN), '–');
});

test('rates and durations', () => {
  assert.equal(formatRate(10 * 1024 * 1024), '10.0 MiB/s');
  assert.equal(formatRate(0), '–');
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(4200), '4.2 s');
  assert.equal(formatDuration(42_000), '42 s');
  assert.equal(formatDuration(185_000), '3 min 05 s');
  assert.equal(formatDuration(3_720_000), '1 h 02 min');
  assert.equal(formatDuration(undefined), '–');
});

test('digests and media types', () => {
  assert.equal(shortDigest(`sha256:${'0123456789abcdef'.repeat(4)}`), 'sha256:0123456789ab');
  assert.equal(shortDigest(null), '');
  assert.equal(mediaTypeShort('application/vnd.oci.image.layer.v1.tar'), 'tar');
  assert.equal(mediaTypeShort('application/vnd.oci.image.layer.v1.tar+gzip'), 'tar+gzip');
  assert.equal(mediaTypeShort('application/vnd.oci.image.layer.v1.tar+zstd'), 'tar+zstd');
  assert.equal(mediaTypeShort('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'tar+gzip');
});

test('times', () => {
  const t = new Date(2024, 4, 1, 14, 3, 22);
  assert.equal(formatTime(t), '2024-05-01 14:03:22');
  assert.equal(formatTime(t.toISOString()), '2024-05-01 14:03:22');
  assert.equal(formatTime('nonsense'), '–');
});
