import test from 'node:test';
import assert from 'node:assert/strict';
import { cleanMessage, explain } from '../js/explain.js';

const ctx = { registry: 'http://127.0.0.1:5000', pageOrigin: 'http://127.0.0.1:8080', repository: 'team/app' };

test('every error code has its own explanation', () => {
  const titles = new Set();
  for (const code of ['input', 'auth', 'not_found', 'registry', 'network', 'cors', 'cancelled', 'other']) {
    const e = explain(code, ctx);
    assert.ok(e.title && e.paragraphs.length > 0, code);
    titles.add(e.title);
  }
  assert.equal(titles.size, 8);
});

test('the CORS explanation names both origins and the nginx configuration', () => {
  const e = explain('cors', ctx);
  const all = [e.title, ...e.paragraphs, e.snippet, ...e.tips].join('\n');
  assert.match(all, /http:\/\/127\.0\.0\.1:5000/);
  assert.match(all, /"http:\/\/127\.0\.0\.1:8080" \$http_origin;/);
  assert.match(all, /docs\/nginx-cors\.conf/);
  assert.match(all, /OPTIONS/);
  assert.match(all, /Access-Control-Expose-Headers/);
});

test('auth help names the repository; network help follows the scheme', () => {
  assert.match(explain('auth', ctx).paragraphs[0], /team\/app/);
  assert.match(explain('network', { ...ctx, plainHttp: true }).tips.join(' '), /plain HTTP/);
});

test('each case within a class has its own wording and things to try', () => {
  const cases = [
    ['network', { transport: 'io' }, 'unreachable'],
    ['network', { transport: 'tls' }, 'tls'],
    ['network', { transport: 'timeout' }, 'timeout'],
    ['network', { transport: 'mixed-content' }, 'mixed-content'],
    ['cors', {}, 'cors'],
    ['auth', { message: 'authentication failed: wrong user name or password' }, 'auth'],
    ['auth', { message: 'uploading: access denied (403): DENIED: no' }, 'denied'],
    ['registry', { status: 404, registryCodes: ['NAME_UNKNOWN'] }, 'not-found'],
    ['registry', { status: 413 }, 'too-large'],
    ['registry', { status: 507, registryCodes: [], message: 'quota exceeded' }, 'too-large'],
    ['registry', { status: 502 }, 'registry-down'],
    ['registry', { status: 400, registryCodes: ['MANIFEST_INVALID'] }, 'registry'],
    ['input', { message: 'blob from r/app: content does not match its digest (expected sha256:a, got sha256:b)' }, 'corrupt'],
  ];
  const titles = new Set();
  for (const [code, detail, kind] of cases) {
    const e = explain(code, ctx, detail);
    assert.equal(e.kind, kind, `${code} ${JSON.stringify(detail)}`);
    assert.ok(e.tips.length >= 1 && e.tips.length <= 3, kind);
    titles.add(e.title);
  }
  assert.equal(titles.size, new Set(cases.map((c) => c[2])).size);
  assert.match(explain('registry', ctx, { status: 502 }).paragraphs[0], /proxy/);
});

test('a proxy\'s HTML error page is never shown as markup', () => {
  const excerpt = '<html> <head><title>502 Bad Gateway</title></head> <body> <center><h1>502 Bad Gateway</h1></center> <hr><center>nginx</center>';
  const message = `uploading blob sha256:0123456789ab: registry answered 502: ${excerpt}`;
  const shown = cleanMessage(message, excerpt);
  assert.doesNotMatch(shown, /</);
  assert.match(shown, /registry answered 502: an HTML page \("502 Bad Gateway 502 Bad Gateway nginx"\)/);
  assert.equal(cleanMessage('plain words', undefined), 'plain words');
});

test('a pull gets its own words where a push\'s would be wrong', () => {
  const ctx = { registry: 'https://r.example', target: 'r.example/team/app:1', operation: 'pull' };
  assert.equal(explain('not_found', ctx, {}).title, 'The registry has no such image');
  assert.equal(explain('cancelled', ctx, {}).title, 'Pull cancelled');
  assert.equal(explain('registry', ctx, { status: 400 }).title, 'The registry refused the pull');
  // The causes both share keep one wording.
  assert.equal(explain('cors', ctx, {}).kind, 'cors');
  assert.equal(explain('cors', ctx, {}).title, explain('cors', {}, {}).title);
});

test('damaged content a pull received is the registry\'s, not the disk\'s', () => {
  const detail = { message: 'blob from r/app: content does not match its digest (expected sha256:a, got sha256:b)' };
  const pulled = explain('input', { ...ctx, operation: 'pull', target: 'r/app:1' }, detail);
  assert.equal(pulled.kind, 'corrupt');
  assert.match(pulled.title, /registry sent damaged content/);
  assert.ok(!pulled.tips.join(' ').includes('disk'));
  assert.equal(explain('input', { ...ctx, operation: 'pull' }, { message: 'disk full' }).kind, 'input');
});
