import test from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { parseDestination, suggestRepository, FieldError } from '../js/target.js';

// The page reads references with tug-wasm's grammar: these tests use the real package, as
// the page does (its Node.js build, scripts/build-wasm.sh).
const pkg = fileURLToPath(new URL('../../runner-wasm/pkg-node/tug_wasm.js', import.meta.url));
assert.ok(existsSync(pkg), `${pkg} is missing: build the tug-wasm package with scripts/build-wasm.sh`);
const tug = createRequire(import.meta.url)(pkg);
const parse = (registry, repository) => parseDestination(tug, registry, repository);

/** The field a mistake is reported on. */
function field(fn) {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof FieldError, String(e));
    return e.field;
  }
  assert.fail('no error');
}

test('https registry with a port and a tag', () => {
  const d = parse('https://registry.example.com:5000', 'team/app:1.0');
  assert.equal(d.target, 'registry.example.com:5000/team/app:1.0');
  assert.equal(d.plainHttp, false);
  assert.equal(d.origin, 'https://registry.example.com:5000');
  assert.equal(d.repository, 'team/app');
  assert.equal(d.reference, '1.0');
});

test('no scheme means https; no tag means latest; trailing slash and /v2/ are fine', () => {
  assert.equal(parse('registry.example.com', 'app').target, 'registry.example.com/app:latest');
  assert.equal(parse('https://r.example/', '/app').target, 'r.example/app:latest');
  assert.equal(parse('https://r.example/v2/', 'app').target, 'r.example/app:latest');
});

test('http:// asks for plain HTTP', () => {
  const d = parse('http://127.0.0.1:5000', 'a/b:c');
  assert.equal(d.plainHttp, true);
  assert.equal(d.target, '127.0.0.1:5000/a/b:c');
});

test('a single-label host gets its default port so it reads as a registry', () => {
  assert.equal(parse('http://registry', 'app').target, 'registry:80/app:latest');
  assert.equal(parse('https://registry', 'app').target, 'registry:443/app:latest');
  assert.equal(parse('http://localhost', 'app').target, 'localhost/app:latest');
  assert.equal(parse('http://[::1]:5000', 'app').target, '[::1]:5000/app:latest');
});

test('digests', () => {
  const digest = `sha256:${'a'.repeat(64)}`;
  const d = parse('https://r.example', `app@${digest}`);
  assert.equal(d.target, `r.example/app@${digest}`);
  assert.equal(d.reference, digest);
  assert.throws(() => parse('https://r.example', 'app@sha256:zz'), FieldError);
});

test('mistakes are reported on their field', () => {
  assert.equal(field(() => parse('', 'app')), 'registry');
  assert.equal(field(() => parse('ftp://r.example', 'app')), 'registry');
  assert.equal(field(() => parse('https://u:p@r.example', 'app')), 'registry');
  assert.equal(field(() => parse('https://r.example/some/path', 'app')), 'registry');
  assert.equal(field(() => parse('https://r.example', '')), 'repository');
  assert.equal(field(() => parse('https://r.example', 'App')), 'repository');
  assert.equal(field(() => parse('https://r.example', 'a b')), 'repository');
  assert.equal(field(() => parse('https://r.example', 'app:bad tag')), 'repository');
  assert.equal(field(() => parse('https://r.example', 'https://r.example/app')), 'repository');
  assert.equal(field(() => parse('https://r.example', 'app:-x')), 'repository');
});

test('a port-like colon in the path is not a tag', () => {
  assert.equal(parse('https://r.example', 'team/app').reference, 'latest');
});

test("the grammar is tug-wasm's: what it refuses the page refuses, with its message", () => {
  // Digests of an algorithm the CLI does not know, and repository paths over 255
  // characters, are refused as the CLI refuses them.
  for (const repository of [`app@md5:${'0'.repeat(32)}`, `${'a/'.repeat(128)}app`]) {
    let message;
    assert.throws(() => tug.parseReference(`r.example/${repository}`), (e) => {
      message = e.message;
      return true;
    });
    assert.throws(() => parse('https://r.example', repository), (e) => {
      assert.ok(e instanceof FieldError, String(e));
      assert.equal(e.field, 'repository');
      assert.equal(e.message, message);
      return true;
    });
  }
  // A host the grammar cannot read as a registry is the URL field's mistake.
  assert.equal(field(() => parse('https://my_registry.example', 'app')), 'registry');
  // The target is tug-wasm's name of the reference, Docker Hub's library/ prefix included.
  assert.equal(parse('https://docker.io', 'busybox').target, 'docker.io/library/busybox:latest');
  const named = tug.parseReference('r.example/team/app:v1');
  assert.equal(parse('https://r.example', 'team/app:v1').target, named.name);
});

test('suggested repository drops the registry host of a tag', () => {
  assert.equal(suggestRepository(tug, 'docker.io/library/busybox:1.36'), 'library/busybox:1.36');
  assert.equal(suggestRepository(tug, 'localhost:5000/app:v1'), 'app:v1');
  assert.equal(suggestRepository(tug, 'example/web-app:v1'), 'example/web-app:v1');
  assert.equal(suggestRepository(tug, 'r.example:5000/team/app:v1'), 'team/app:v1');
  assert.equal(suggestRepository(tug, undefined), '');
  assert.equal(suggestRepository(tug, 'Not A Reference'), '');
});

test('what is not a string is a usage error from the grammar, never a crash inside it', () => {
  for (const value of [5, {}, null, undefined, Symbol('x'), ['r.example/a']]) {
    for (const call of [tug.parseReference, tug.normalizeReference]) {
      assert.throws(() => call(value), (e) => {
        assert.equal(e.code, 'usage', String(e));
        assert.match(e.message, /must be a string/);
        return true;
      });
    }
  }
  assert.throws(() => tug.parseReference('r.example/UPPER'), (e) => {
    assert.equal(e.code, 'input');
    assert.equal(e.part, 'repository');
    return true;
  });
  // Still whole after all that.
  assert.equal(tug.normalizeReference('busybox'), 'docker.io/library/busybox');
});
