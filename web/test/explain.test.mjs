import test from 'node:test';
import assert from 'node:assert/strict';
import { explain } from '../js/explain.js';

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
