import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Pulse } from '../js/pulse.js';

test('the dot changes every other redraw tick and is left to its state when stopped', () => {
  const el = { dataset: {} };
  const pulse = new Pulse(el);
  const seen = [el.dataset.beat];
  for (let i = 0; i < 6; i++) {
    pulse.step();
    seen.push(el.dataset.beat);
  }
  assert.deepEqual(seen, ['on', 'on', 'dim', 'dim', 'on', 'on', 'dim']);
  pulse.stop();
  assert.equal(el.dataset.beat, undefined);
});
