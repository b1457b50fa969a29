import test from 'node:test';
import assert from 'node:assert/strict';
import { parseDestination, suggestRepository, FieldError } from '../js/target.js';

test('https registry with a port and a tag', () => {
  const d = parseDestination('https://registry.example.com:5000', 'team/app:1.0');
  assert.equal(d.target, 'registry.example.com:5000/team/app:1.0');
  assert.equal(d.plainHttp, false);
  assert.equal(d.origin, 'https://registry.example.com:5000');
  assert.equal(d.repository, 'team/app');
  assert.equal(d.reference, '1.0');
});

test('no scheme means https; no tag means latest; trailing slash and /v2/ are fine', () => {
  assert.equal(parseDestination('registry.example.com', 'app').target, 'registry.example.com/app:latest');
  assert.equal(parseDestination('https://r.example/', '/app').target, 'r.example/app:latest');
  assert.equal(parseDestination('https://r.example/v2/', 'app').target, 'r.example/app:latest');
});

test('http:// asks for plain HTTP', () => {
  const d = parseDestination('http://127.0.0.1:5000', 'a/b:c');
  assert.equal(d.plainHttp, true);
  assert.equal(d.target, '127.0.0.1:5000/a/b:c');
});

test('a single-label host gets its default port so it reads as a registry', () => {
  assert.equal(parseDestination('http://registry', 'app').target, 'registry:80/app:latest');
  assert.equal(parseDestination('https://registry', 'app').target, 'registry:443/app:latest');
  assert.equal(parseDestination('http://localhost', 'app').target, 'localhost/app:latest');
  assert.equal(parseDestination('http://[::1]:5000', 'app').target, '[::1]:5000/app:latest');
});

test('digests', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const d = parseDestination('https://r.example', `app@${digest}`);
  assert.equal(d.target, `r.example/app@${digest}`);
  assert.throws(() => parseDestination('https://r.example', 'app@sha256:zz'), FieldError);
});

test('mistakes are reported on their field', () => {
  const field = (fn) => {
    try {
      fn();
    } catch (e) {
      assert.ok(e instanceof FieldError, String(e));
      return e.field;
    }
    assert.fail('no error');
  };
  assert.equal(field(() => parseDestination('', 'app')), 'registry');
  assert.equal(field(() => parseDestination('ftp://r.example', 'app')), 'registry');
  assert.equal(field(() => parseDestination('https://u:p@r.example', 'app')), 'registry');
  assert.equal(field(() => parseDestination('https://r.example/some/path', 'app')), 'registry');
  assert.equal(field(() => parseDestination('https://r.example', '')), 'repository');
  assert.equal(field(() => parseDestination('https://r.example', 'App')), 'repository');
  assert.equal(field(() => parseDestination('https://r.example', 'a b')), 'repository');
  assert.equal(field(() => parseDestination('https://r.example', 'app:bad tag')), 'repository');
  assert.equal(field(() => parseDestination('https://r.example', 'https://r.example/app')), 'repository');
  assert.equal(field(() => parseDestination('https://r.example', 'app:-x')), 'repository');
});

test('a port-like colon in the path is not a tag', () => {
  assert.equal(parseDestination('https://r.example', 'team/app').reference, 'latest');
});

test('suggested repository drops the registry host of a tag', () => {
  assert.equal(suggestRepository('docker.io/library/busybox:1.36'), 'library/busybox:1.36');
  assert.equal(suggestRepository('localhost:5000/app:v1'), 'app:v1');
  assert.equal(suggestRepository('example/web-app:v1'), 'example/web-app:v1');
  assert.equal(suggestRepository(undefined), '');
});
