import test from 'node:test';
import assert from 'node:assert/strict';
import { Settings, withoutUserInfo } from '../js/settings.js';

class MemoryStorage {
  constructor() { this.items = new Map(); }
  getItem(k) { return this.items.has(k) ? this.items.get(k) : null; }
  setItem(k, v) { this.items.set(k, String(v)); }
  removeItem(k) { this.items.delete(k); }
}

test('settings are remembered, never a password, and can be forgotten', () => {
  const storage = new MemoryStorage();
  const s = new Settings(storage);
  s.save({ 'registry-url': 'https://r.example', repository: 'team/app:v1', username: 'me', password: 'secret', jobs: '8', chunk: '' });
  assert.deepEqual(new Settings(storage).load(), { 'registry-url': 'https://r.example', repository: 'team/app:v1', username: 'me', jobs: '8' });
  assert.doesNotMatch([...storage.items.values()].join(), /secret/);
  s.clear();
  assert.deepEqual(s.load(), {});
});

test('damaged or missing storage gives no settings', () => {
  const storage = new MemoryStorage();
  storage.setItem('tug-web/settings', '{not json');
  assert.deepEqual(new Settings(storage).load(), {});
  assert.deepEqual(new Settings(undefined).load(), {});
});

test('a password typed into the registry URL is never remembered', () => {
  const storage = new MemoryStorage();
  const s = new Settings(storage);
  s.save({ 'registry-url': 'http://alice:s3cret@127.0.0.1:5000/x' });
  assert.doesNotMatch([...storage.items.values()].join(), /s3cret|alice/);
  assert.deepEqual(s.load(), { 'registry-url': 'http://127.0.0.1:5000/x' });
  // Kept by an older page: dropped when read.
  storage.setItem('tug-web/settings', JSON.stringify({ 'registry-url': 'bob:p@ss@r.example' }));
  assert.deepEqual(s.load(), { 'registry-url': 'r.example' });
  assert.equal(withoutUserInfo('https://r.example:5000'), 'https://r.example:5000');
  assert.equal(withoutUserInfo('https://r.example/a@b'), 'https://r.example/a@b');
});
