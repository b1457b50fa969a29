// How a history record is shown and exported: a row with its outcome and the error in full,
// a line that opens to per-blob timings (as `tug history show` lists them), a "push again" /
// "pull again" button; and the JSON export, in the CLI history's record shape
// (runner-native/src/history.rs) where the page has the facts.

import { formatBytes, formatDuration, formatTime, shortDigest } from './format.js';

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

/** A page record as the CLI's history records one (`tug history export`'s objects). */
export function toCliRecord(h) {
  const start = h.time;
  const end = Number.isFinite(h.durationMs) && start ? new Date(Date.parse(start) + h.durationMs).toISOString() : start;
  const record = {
    id: h.id === undefined ? '' : String(h.id),
    command: h.command ?? 'push',
    start,
    end,
    duration_ms: Math.round(h.durationMs ?? 0),
    source: h.source ?? '',
    target: h.command === 'pull' ? (h.file ?? '') : (h.target ?? ''),
    bytes_total: h.size ?? 0,
    bytes_transferred: (h.command === 'pull' ? h.bytesReceived : h.bytesSent) ?? 0,
    retries: h.retries ?? 0,
    outcome: h.outcome === 'success' ? 'ok' : h.outcome,
    blob_timings: Array.isArray(h.blobTimings) ? h.blobTimings : [],
  };
  if (h.command === 'pull' && !h.source) record.source = h.target ?? '';
  if (h.digest) record.digest = h.digest;
  if (h.outcome !== 'success') {
    if (h.errorCode) record.error_class = h.errorCode;
    if (h.message) record.error = h.message;
  }
  return record;
}

/** The history as the JSON the Export button saves (newest first, as listed). */
export function exportJson(entries) {
  return `${JSON.stringify(entries.map(toCliRecord), null, 2)}\n`;
}

/** The table rows of one record: the summary, and its details (error, timings), folded. */
export function historyRows(h, { again } = {}) {
  const pull = h.command === 'pull';
  const outcome = h.outcome === 'failed' && h.errorCode ? `failed (${h.errorCode})` : h.outcome;
  const when = formatTime(h.time);
  // Each row's buttons are named after its record (a screen reader lists them apart).
  const what = `${pull ? 'pull of' : 'push to'} ${h.target ?? 'an image'} at ${when}`;
  const button = again
    ? el('button', { type: 'button', class: 'button-link again', text: pull ? 'Pull again' : 'Push again', 'aria-label': `${pull ? 'Pull again' : 'Push again'}: the ${what}` })
    : null;
  button?.addEventListener('click', () => again(h));
  const toggle = el('button', { type: 'button', class: 'button-link toggle', 'aria-expanded': 'false', text: 'Details', 'aria-label': `Details of the ${what}` });
  const summary = el('tr', { 'data-outcome': h.outcome, 'data-command': h.command ?? 'push' },
    el('td', { class: 'when' }, el('span', { text: when.slice(0, 10) }), ' ', el('span', { text: when.slice(11) })),
    el('td', { class: 'target' },
      el('span', { text: pull ? `pulled ${h.target}` : h.target }),
      h.digest ? el('code', { class: 'digest', text: shortDigest(h.digest), title: h.digest }) : null),
    el('td', { class: 'nowrap', text: h.size === null || h.size === undefined ? '–' : formatBytes(h.size) }),
    el('td', { class: 'nowrap', text: h.durationMs === null || h.durationMs === undefined ? '–' : formatDuration(h.durationMs) }),
    el('td', { class: `outcome ${h.outcome}` }, el('span', { text: outcome }), ' ', toggle, ' ', button));
  const timings = Array.isArray(h.blobTimings) ? h.blobTimings : [];
  const details = el('td', { colspan: '5', class: 'history-details' });
  if (pull && h.file) details.append(el('p', { text: `Saved as ${h.file}${h.format ? ` (${h.format})` : ''}` }));
  if (timings.length) {
    details.append(el('table', { class: 'timings' },
      el('thead', {}, el('tr', {}, ...['Blob', 'Size', 'Start', 'End', 'Took', 'Outcome', 'Retries'].map((t) => el('th', { scope: 'col', text: t })))),
      el('tbody', {}, ...timings.map((t) => el('tr', {},
        el('td', {}, el('code', { text: shortDigest(t.digest), title: t.digest })),
        el('td', { class: 'num', text: formatBytes(t.size) }),
        el('td', { class: 'num', text: formatDuration(t.start_ms) }),
        el('td', { class: 'num', text: formatDuration(t.end_ms) }),
        el('td', { class: 'num', text: formatDuration(Math.max(0, t.end_ms - t.start_ms)) }),
        el('td', { text: t.outcome }),
        el('td', { class: 'num', text: String(t.retries) }))))));
  } else {
    details.append(el('p', { class: 'muted', text: 'No per-blob timings recorded.' }));
  }
  const more = el('tr', { class: 'history-more', hidden: '' }, details);
  toggle.addEventListener('click', () => {
    more.hidden = !more.hidden;
    toggle.setAttribute('aria-expanded', String(!more.hidden));
  });
  const rows = [summary];
  if (h.message && h.outcome !== 'success') {
    rows.push(el('tr', { class: 'history-error-row' }, el('td', { colspan: '5', class: 'history-error', text: h.message })));
  }
  rows.push(more);
  return rows;
}
