import { test } from 'node:test';
import assert from 'node:assert/strict';
import { archiveName } from '../js/pull.js';
import { sanitize } from '../js/history.js';

test('a pull is saved under the repository and tag, .oci.tar for an OCI archive', () => {
  assert.equal(archiveName('team/app', '1.0', 'docker-archive'), 'app-1.0.tar');
  assert.equal(archiveName('team/app', '1.0', 'oci-archive'), 'app-1.0.oci.tar');
  assert.equal(archiveName('library/busybox', 'sha256:0123456789abcdef0123', 'docker-archive'), 'busybox-0123456789ab.tar');
  assert.equal(archiveName('a/b', 'v1/../x', 'docker-archive'), 'b-v1_.._x.tar');
});

test('history records say whether they were a push or a pull, and what a pull saved', () => {
  const pulled = sanitize({ command: 'pull', target: 'r/app:1', outcome: 'success', bytesReceived: 7, file: 'app-1.tar', format: 'oci-archive' });
  assert.equal(pulled.command, 'pull');
  assert.equal(pulled.bytesReceived, 7);
  assert.equal(pulled.file, 'app-1.tar');
  assert.equal(pulled.format, 'oci-archive');
  assert.equal(sanitize({ command: 'rm -rf', outcome: 'success' }).command, 'push');
  assert.equal(sanitize({ outcome: 'success' }).command, 'push');
});
