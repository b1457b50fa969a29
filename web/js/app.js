// The page: pick an image tar, see what it holds, push it with progress, keep a history.
// Everything that talks to the registry is in the tug-wasm package (../pkg/tug_wasm.js).

import { formatBytes, formatDuration, formatRate, formatTime, mediaTypeShort, shortDigest } from './format.js';
import { FieldError, parseDestination, suggestRepository } from './target.js';
import { cleanMessage, explain } from './explain.js';
import { Settings } from './settings.js';
import { History } from './history.js';
import { Sessions } from './sessions.js';
import { initPull } from './pull.js';
import { Pulse } from './pulse.js';
import { exportJson, historyRows } from './history-view.js';

const $ = (id) => document.getElementById(id);

const state = {
  tug: null,
  file: null,
  images: [],
  selected: 0,
  handle: null,
  running: false,
  rows: new Map(), // digest → row elements
  blobDigest: new Map(), // plan blob index → digest
  retries: 0,
  lastTotal: 0,
  progress: null, // the last overall progress report: { moved, total, rate, etaMs, at }
  limits: null, // tug-wasm's limits() once the engine is loaded
};

const history = new History();
const settings = new Settings(globalThis.localStorage);
// Open upload sessions: Retry, or the same file pushed again after a reload, goes on from
// the registry's confirmed offset of each layer.
const sessions = new Sessions();
const sessionsReady = sessions.init();

// ---------------------------------------------------------------- small DOM helpers

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === undefined || v === null) continue;
    if (k === 'class') node.className = v;
    else if (k === 'text') node.textContent = v;
    else if (k in node && typeof v !== 'string') node[k] = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) {
    if (c !== null && c !== undefined) node.append(c);
  }
  return node;
}

function show(node, visible) {
  node.hidden = !visible;
}

function setStatus(stateName, text) {
  const status = $('status');
  status.dataset.state = stateName;
  $('status-text').textContent = text;
}

// ---------------------------------------------------------------- the engine

const engineReady = (async () => {
  const engine = $('engine');
  try {
    const mod = await import('../pkg/tug_wasm.js');
    await mod.default();
    state.tug = mod;
    applyLimits(mod.limits());
    engine.textContent = `Ready to push and pull (tug ${mod.version()})`;
    engine.dataset.state = 'ready';
    updatePushButton();
    return mod;
  } catch (e) {
    engine.dataset.state = 'error';
    engine.textContent = 'tug-wasm could not be loaded: the page cannot push or pull.';
    showError('input', `tug-wasm (pkg/tug_wasm.js) did not load: ${messageOf(e)}. ` +
      'Build the page with scripts/build-web.sh and rebuild tug.', {}, 'The page is incomplete');
    throw e;
  }
})();

function messageOf(e) {
  if (e && typeof e.message === 'string') return e.message;
  return String(e);
}

// ---------------------------------------------------------------- the file

async function setFile(file) {
  if (state.running) return;
  state.file = file;
  state.images = [];
  state.selected = 0;
  clearPushView();
  show($('dropzone'), false);
  show($('file-summary'), true);
  show($('images'), false);
  $('file-name').textContent = file.name || 'image.tar';
  $('file-meta').textContent = formatBytes(file.size);
  $('file-status').textContent = 'Reading the archive…';
  updatePushButton();
  try {
    const tug = await engineReady;
    const images = await tug.inspect(file);
    if (state.file !== file) return; // another file was chosen meanwhile
    state.images = Array.from(images);
    if (state.images.length === 0) throw Object.assign(new Error('the archive holds no image'), { code: 'input' });
    const format = state.images[0].format;
    $('file-status').textContent = `${formatName(format)} · ${state.images.length} image${state.images.length === 1 ? '' : 's'}`;
    renderImages();
    const repo = $('repository');
    if (!repo.value) {
      const tag = state.images[0].tags?.[0];
      if (tag) repo.value = suggestRepository(tug, tag);
    }
  } catch (e) {
    if (state.file !== file) return;
    state.images = [];
    $('file-status').textContent = 'This file cannot be read as an image archive.';
    showError(e.code || 'input', messageOf(e), {});
  }
  updatePushButton();
}

/** Forgets what the last push showed: a new file starts afresh. */
function clearPushView() {
  hideError();
  state.progress = null;
  state.rows.clear();
  state.blobDigest.clear();
  $('blobs').replaceChildren();
  $('retry-list').replaceChildren();
  show($('retries-box'), false);
  show($('result'), false);
  show($('overall'), false);
  setPushLabel(false);
  setStatus('idle', 'Choose a file and a destination, then push.');
}

/** One button pushes: after a failed or cancelled push it reads "Retry" (same file, same
 * destination), and "Push" again once anything changes. */
function setPushLabel(retry) {
  $('push').textContent = retry ? 'Retry' : 'Push';
  $('push').dataset.retry = retry ? 'true' : 'false';
}

function formatName(format) {
  return {
    'docker-save': 'docker save archive',
    'docker-save-oci': 'docker save archive (OCI layout inside)',
    'oci-archive': 'OCI archive',
    oci: 'OCI layout',
  }[format] || format || 'archive';
}

function clearFile() {
  if (state.running) return;
  state.file = null;
  state.images = [];
  $('file-input').value = '';
  show($('file-summary'), false);
  show($('dropzone'), true);
  clearPushView();
  updatePushButton();
  $('file-input').focus();
}

function renderImages() {
  const list = $('image-list');
  list.replaceChildren();
  const several = state.images.length > 1;
  state.images.forEach((img, i) => {
    const configSize = img.totalSize - img.layers.reduce((sum, l) => sum + l.size, 0);
    const title = img.tags?.length ? null : el('span', { class: 'image-title', text: `Image ${i + 1} (untagged)` });
    const tags = img.tags?.length
      ? el('span', { class: 'image-title' }, ...img.tags.map((t) => el('span', { class: 'tag', text: t })))
      : title;
    const meta = el('span', {
      class: 'image-meta',
      text: [
        img.platform,
        `${img.layers.length} layer${img.layers.length === 1 ? '' : 's'}`,
        formatBytes(img.totalSize),
        `manifest ${shortDigest(img.manifestDigest)}`,
      ].filter(Boolean).join(' · '),
    });
    const id = `image-${i}`;
    const head = el('div', { class: 'image-head' });
    if (several) {
      const radio = el('input', { type: 'radio', name: 'image', id, value: String(i) });
      radio.checked = i === state.selected;
      radio.addEventListener('change', () => {
        state.selected = i;
        for (const card of list.querySelectorAll('.image')) card.classList.remove('selected');
        card.classList.add('selected');
        const tag = img.tags?.[0];
        if (tag) $('repository').value = suggestRepository(state.tug, tag);
      });
      head.append(radio, el('label', { for: id }, tags, meta));
    } else {
      head.append(el('div', {}, tags, meta));
    }
    const rows = [
      el('tr', {},
        el('td', { text: 'config' }),
        el('td', {}, el('code', { text: shortDigest(img.configDigest), title: img.configDigest })),
        el('td', { text: 'json' }),
        el('td', { class: 'num', text: formatBytes(configSize) })),
      ...img.layers.map((l, j) => el('tr', {},
        el('td', { text: `layer ${j + 1}` }),
        el('td', {}, el('code', { text: shortDigest(l.digest), title: l.digest })),
        el('td', { text: mediaTypeShort(l.mediaType), title: l.mediaType }),
        el('td', { class: 'num', text: formatBytes(l.size) }))),
    ];
    const table = el('table', { class: 'layers' },
      el('caption', { class: 'visually-hidden', text: `Blobs of image ${i + 1}` }),
      el('thead', {}, el('tr', {},
        el('th', { scope: 'col', text: 'Blob' }),
        el('th', { scope: 'col', text: 'Digest' }),
        el('th', { scope: 'col', text: 'Type' }),
        el('th', { scope: 'col', class: 'num', text: 'Size' }))),
      el('tbody', {}, ...rows));
    const card = el('div', { class: `image${i === state.selected && several ? ' selected' : ''}` }, head, table);
    list.append(card);
  });
  show($('images'), true);
}

// ---------------------------------------------------------------- the form

function updatePushButton() {
  $('push').disabled = state.running || !state.tug || !state.file || state.images.length === 0;
}

function fieldError(field, message) {
  const input = field === 'registry' ? $('registry-url') : $('repository');
  input.setAttribute('aria-invalid', 'true');
  const box = $('form-error');
  box.textContent = message;
  show(box, true);
  input.focus();
}

function clearFieldErrors() {
  for (const id of ['registry-url', 'repository']) $(id).removeAttribute('aria-invalid');
  show($('form-error'), false);
}

// The option fields: which push option each sets, in which unit. Their ranges and defaults
// are tug-wasm's (`limits()`, the core's, as the CLI has them).
const MIB = 1024 * 1024;
const OPTION_FIELDS = {
  jobs: { option: 'jobs', unit: 1 },
  retries: { option: 'retries', unit: 1 },
  chunk: { option: 'chunkSize', unit: MIB },
};

/** Gives each option field its range and default from tug-wasm's `limits()`. */
function applyLimits(limits) {
  state.limits = limits;
  for (const [id, { option, unit }] of Object.entries(OPTION_FIELDS)) {
    const limit = limits[option];
    const input = $(id);
    if (limit.min !== undefined) input.min = String(Math.ceil(limit.min / unit));
    if (limit.max !== undefined) input.max = String(Math.floor(limit.max / unit));
    if (!input.value) input.value = String(Math.round(limit.default / unit));
  }
}

/** The option a field sets, in the option's unit, within its limits. */
function numberField(id) {
  const { option, unit } = OPTION_FIELDS[id];
  const limit = state.limits[option];
  const n = Number.parseInt($(id).value, 10);
  if (!Number.isFinite(n)) return limit.default;
  return Math.min(limit.max ?? Infinity, Math.max(limit.min ?? 0, n * unit));
}

function onSubmit(event) {
  event?.preventDefault();
  if (state.running || !state.file || !state.tug) return;
  clearFieldErrors();
  let dest;
  try {
    dest = parseDestination(state.tug, $('registry-url').value, $('repository').value);
  } catch (e) {
    if (e instanceof FieldError) {
      // The last push's outcome is not this one's: only the field's error is on screen.
      hideError();
      show($('result'), false);
      setStatus('idle', 'Correct the destination, then push.');
      fieldError(e.field, e.message);
      return;
    }
    throw e;
  }
  const username = $('username').value.trim();
  const password = $('password').value;
  const options = {
    image: state.selected,
    plainHttp: dest.plainHttp,
    jobs: numberField('jobs'),
    retries: numberField('retries'),
    chunkSize: numberField('chunk'),
  };
  // How each chunk goes to the browser (tug-wasm's `uploadBody`): its default, or the page
  // address's `?uploadBody=` (for measuring one against the other, bench/README.md).
  const uploadBody = new URLSearchParams(location.search).get('uploadBody');
  if (uploadBody) options.uploadBody = uploadBody;
  if (username) {
    options.username = username;
    options.password = password;
  }
  startPush(dest, options);
}

// ---------------------------------------------------------------- pushing

function resetProgress(image) {
  state.rows.clear();
  state.blobDigest.clear();
  state.retries = 0;
  hideError();
  show($('result'), false);
  show($('retries-box'), false);
  $('retry-list').replaceChildren();
  const list = $('blobs');
  list.replaceChildren();
  const blobs = [
    { digest: image.configDigest, size: image.totalSize - image.layers.reduce((sum, l) => sum + l.size, 0), label: 'Config' },
    ...image.layers.map((l, j) => ({ digest: l.digest, size: l.size, label: `Layer ${j + 1} of ${image.layers.length}` })),
  ];
  for (const b of blobs) ensureRow(b.digest, b.label, b.size);
  $('overall-bar').value = 0;
  $('overall-bar').max = 1;
  $('overall-bytes').textContent = `0 B of ${formatBytes(image.totalSize)}`;
  $('overall-speed').textContent = '';
  $('overall-eta').textContent = '';
  show($('overall'), true);
}

function labelFor(digest) {
  // The core's messages name a blob by a short digest (`sha256:0123456789ab`): a prefix.
  const is = (d) => typeof d === 'string' && d.startsWith(digest);
  for (const img of state.images) {
    if (is(img.configDigest)) return 'Config';
    const j = img.layers.findIndex((l) => is(l.digest));
    if (j >= 0) return `Layer ${j + 1} of ${img.layers.length}`;
  }
  return 'Blob';
}

function ensureRow(digest, label, size) {
  let row = state.rows.get(digest);
  if (row) return row;
  const bar = el('progress', { max: 1, value: 0 });
  const name = el('span', { class: 'blob-name' }, `${label || labelFor(digest)} `, el('code', { text: shortDigest(digest), title: digest }));
  const status = el('span', { class: 'blob-state', text: size ? `waiting · ${formatBytes(size)}` : 'waiting' });
  const item = el('li', { class: 'blob waiting' }, el('div', { class: 'blob-head' }, name, status), bar);
  bar.setAttribute('aria-label', `${label || labelFor(digest)} ${shortDigest(digest)}`);
  $('blobs').append(item);
  row = { item, bar, status, size: size ?? 0 };
  state.rows.set(digest, row);
  return row;
}

function setRow(row, cls, text, sent, size) {
  row.pending = null;
  row.item.className = `blob ${cls}`;
  row.status.textContent = text;
  if (size !== undefined && size > 0) {
    row.bar.max = size;
    row.bar.value = Math.min(sent ?? 0, size);
  } else if (size === 0) {
    row.bar.max = 1;
    row.bar.value = sent === undefined ? 0 : 1;
  }
}

/** Like setRow, drawn at the next redraw tick (a blob's progress comes every 200 ms: drawing
 *  it at once would make a frame of its own). */
function setRowLater(row, ...args) {
  row.pending = args;
}

/** Draws the rows' progress noted since the last tick. */
function flushRows() {
  for (const row of state.rows.values()) {
    if (row.pending) setRow(row, ...row.pending);
  }
}

function rowOf(ev) {
  const digest = ev.digest ?? state.blobDigest.get(ev.blob);
  if (!digest) return null;
  if (ev.blob !== undefined) state.blobDigest.set(ev.blob, digest);
  return ensureRow(digest, null, ev.size);
}

function onEvent(ev) {
  if (!ev || typeof ev.event !== 'string') return;
  switch (ev.event) {
    case 'blob_started': {
      const row = rowOf(ev);
      if (row) setRow(row, 'uploading', `0 B of ${formatBytes(ev.size)}`, 0, ev.size);
      break;
    }
    case 'blob_resumed': {
      const row = rowOf(ev);
      if (row) setRow(row, 'uploading', `${formatBytes(ev.from)} of ${formatBytes(ev.size)} (an earlier upload goes on)`, ev.from, ev.size);
      break;
    }
    case 'blob_progress': {
      const row = rowOf(ev);
      if (row) setRowLater(row, 'uploading', `${formatBytes(ev.sent)} of ${formatBytes(ev.size)}`, ev.sent, ev.size);
      break;
    }
    case 'blob_committed': {
      const row = rowOf(ev);
      if (row) setRow(row, 'done', `pushed · ${formatBytes(ev.size)}`, ev.size, ev.size);
      break;
    }
    case 'blob_skipped': {
      const row = rowOf(ev);
      if (row) setRow(row, 'skipped', `already in the registry · ${formatBytes(ev.size)}`, ev.size, ev.size);
      break;
    }
    case 'blob_mounted': {
      const row = rowOf(ev);
      if (row) setRow(row, 'skipped', `mounted from ${ev.from} · ${formatBytes(ev.size)}`, ev.size, ev.size);
      break;
    }
    case 'retrying': {
      state.retries += 1;
      const when = formatTime(new Date()).slice(11);
      const delay = Number.isFinite(ev.delay_ms) ? ` in ${formatDuration(ev.delay_ms)}` : '';
      const reason = ev.reason ? `: ${ev.reason}` : '';
      const what = String(ev.what ?? 'a request').replace(/(?:blob )?(sha256:[0-9a-f]{12,64})/g, (_, d) => `${labelFor(d).toLowerCase()} (${shortDigest(d)})`);
      const text = `${when} — retrying ${what}${delay} (attempt ${ev.attempt ?? '?'})${reason}`;
      $('retry-list').append(el('li', { text }));
      show($('retries-box'), true);
      setStatus('working', `Pushing — ${state.retries} ${state.retries === 1 ? 'retry' : 'retries'} so far`);
      break;
    }
    case 'plain_http_fallback':
      $('retry-list').append(el('li', { text: `${ev.host} speaks plain HTTP; using http://` }));
      show($('retries-box'), true);
      break;
    case 'manifest_pushed':
      setStatus('working', 'Blobs done; manifest pushed');
      break;
    case 'progress': {
      const total = ev.total_bytes ?? 0;
      const moved = ev.transferred_bytes ?? ev.done_bytes ?? 0;
      state.lastTotal = total;
      state.progress = {
        moved,
        total,
        rate: ev.bytes_per_second > 0 ? ev.bytes_per_second : 0,
        etaMs: Number.isFinite(ev.eta_ms) ? ev.eta_ms : null,
        at: performance.now(),
      };
      break;
    }
    default:
      break;
  }
}

// How often the progress (overall figures, blob rows, the status dot) is redrawn while a push
// runs, events or not (the CLI's progress line redraws at this pace too): the ETA counts down
// between the core's reports. Progress events only note what to draw: one frame per tick.
const REDRAW_MS = 250;

/** Draws the overall bytes, rate and ETA from the last progress report. */
function renderOverall() {
  const p = state.progress;
  if (!p) return;
  const bar = $('overall-bar');
  bar.max = Math.max(p.total, 1);
  bar.value = Math.min(p.moved, bar.max);
  const pct = p.total > 0 ? Math.floor((p.moved / p.total) * 100) : 0;
  $('overall-bytes').textContent = `${formatBytes(p.moved)} of ${formatBytes(p.total)} (${pct}%)`;
  $('overall-speed').textContent = p.rate > 0 ? formatRate(p.rate) : '';
  const left = p.etaMs === null ? null : Math.max(0, p.etaMs - (performance.now() - p.at));
  $('overall-eta').textContent = left !== null && p.moved < p.total && state.running ? `${formatDuration(left)} left` : '';
}

async function startPush(dest, options) {
  const image = state.images[state.selected];
  const file = state.file;
  state.running = true;
  updatePushButton();
  $('cancel').disabled = false;
  $('file-clear').disabled = true;
  resetProgress(image);
  setStatus('working', `Pushing to ${dest.display}…`);
  const started = performance.now();
  state.progress = null;
  const pulse = new Pulse($('status'));
  const tick = () => {
    renderOverall();
    flushRows();
    pulse.step();
  };
  const redraw = setInterval(tick, REDRAW_MS);
  const context = {
    registry: dest.origin,
    pageOrigin: window.location.origin,
    repository: dest.repository,
    plainHttp: dest.plainHttp,
    target: dest.target,
  };
  const record = {
    command: 'push',
    source: file.name,
    registryUrl: $('registry-url').value.trim(),
    repository: $('repository').value.trim(),
    time: new Date().toISOString(),
    target: dest.display,
    image: image.tags?.[0] ?? `image ${state.selected + 1} of ${file.name}`,
    size: image.totalSize,
  };
  let ended = null; // the history record of how the push ended
  try {
    const uploads = { registry: dest.origin, repository: dest.repository };
    await sessionsReady;
    options.resume = await sessions.resumable(uploads);
    if (options.resume.length) setStatus('working', `Pushing to ${dest.display}, going on with ${options.resume.length} unfinished upload${options.resume.length === 1 ? '' : 's'}…`);
    state.handle = state.tug.push(file, dest.target, options, (ev) => {
      sessions.keep(uploads, ev);
      onEvent(ev);
    });
    const result = await state.handle.done;
    tick(); // the last figures the core reported
    const duration = result.durationMs ?? performance.now() - started;
    for (const row of state.rows.values()) {
      if (row.item.classList.contains('waiting')) setRow(row, 'skipped', 'already in the registry', 1, 0);
    }
    const bar = $('overall-bar');
    bar.value = bar.max;
    $('overall-eta').textContent = '';
    $('result-target').textContent = dest.display;
    $('result-digest').textContent = result.manifestDigest;
    const skipped = result.blobsSkipped ? `, ${result.blobsSkipped} blob${result.blobsSkipped === 1 ? '' : 's'} already there` : '';
    $('result-sent').textContent = `${formatBytes(result.bytesSent ?? 0)} in ${result.blobsPushed ?? 0} blob${result.blobsPushed === 1 ? '' : 's'}${skipped}`;
    $('result-time').textContent = formatDuration(duration);
    show($('result'), true);
    setStatus('success', `Pushed ${dest.display} in ${formatDuration(duration)}`);
    setPushLabel(false); // a Retry that succeeded: the next click pushes anew
    ended = { ...record, digest: result.manifestDigest, bytesSent: result.bytesSent, durationMs: duration, outcome: 'success', retries: result.retries, blobTimings: result.blobTimings ?? [] };
  } catch (e) {
    const code = typeof e?.code === 'string' ? e.code : 'network';
    const duration = performance.now() - started;
    const cancelled = code === 'cancelled';
    const title = explain(code, context, errorDetail(e, messageOf(e))).title;
    setStatus(cancelled ? 'cancelled' : 'failed', cancelled ? 'Push cancelled' : `Push failed: ${title}`);
    for (const row of state.rows.values()) {
      if (row.item.classList.contains('uploading')) setRow(row, cancelled ? 'waiting' : 'failed', cancelled ? 'stopped' : 'failed');
    }
    $('overall-eta').textContent = '';
    showError(code, messageOf(e), context, undefined, e);
    setPushLabel(true);
    ended = { ...record, durationMs: duration, outcome: cancelled ? 'cancelled' : 'failed', errorCode: code, message: cleanMessage(messageOf(e), e?.excerpt), retries: state.retries, blobTimings: e?.blobTimings ?? [] };
  } finally {
    clearInterval(redraw);
    pulse.stop();
    state.handle = null;
    state.running = false;
    $('cancel').disabled = true;
    $('file-clear').disabled = false;
    updatePushButton();
  }
  // The page shows the outcome (and takes the next click) before the history is written.
  if (ended) await remember(ended);
}

function cancel() {
  if (state.handle) {
    $('cancel').disabled = true;
    setStatus('working', 'Cancelling…');
    state.handle.cancel();
  }
}

// ---------------------------------------------------------------- errors

/** The facts tug-wasm gives about an error, for `explain`. */
function errorDetail(error, message) {
  return {
    status: error?.status,
    registryCodes: error?.registryCodes,
    transport: error?.transport,
    message,
  };
}

function showError(code, message, context, title, error) {
  const text = explain(code, context, errorDetail(error, message));
  const panel = $('error-panel');
  panel.dataset.code = code;
  panel.dataset.kind = text.kind;
  $('error-title').textContent = title || text.title;
  $('error-message').textContent = code === 'cancelled' ? '' : cleanMessage(message, error?.excerpt);
  show($('error-message'), code !== 'cancelled');
  const help = $('error-help');
  help.replaceChildren();
  for (const p of text.paragraphs) help.append(el('p', { text: p }));
  if (text.snippet) help.append(el('pre', {}, el('code', { text: text.snippet })));
  if (text.tips.length) help.append(el('ul', {}, ...text.tips.map((t) => el('li', { text: t }))));
  if (text.link) help.append(el('p', {}, el('a', { href: text.link.href, target: '_blank', rel: 'noopener', text: text.link.text })));
  show(panel, true);
}

function hideError() {
  const panel = $('error-panel');
  show(panel, false);
  delete panel.dataset.code;
  delete panel.dataset.kind;
}

// ---------------------------------------------------------------- history

async function remember(entry) {
  try {
    await history.add(entry);
  } catch (e) {
    $('history-note').textContent = `The history could not be saved: ${messageOf(e)}`;
  }
  await renderHistory();
}

async function renderHistory() {
  let entries = [];
  try {
    entries = await history.list();
  } catch (e) {
    $('history-note').textContent = `The history could not be read: ${messageOf(e)}`;
  }
  const body = $('history-body');
  body.replaceChildren();
  for (const h of entries) body.append(...historyRows(h, { again }));
  show($('history'), entries.length > 0);
  show($('history-empty'), entries.length === 0);
  $('history-clear').disabled = entries.length === 0;
  $('history-export').disabled = entries.length === 0;
  state.historyEntries = entries;
}

/** "Push again" / "Pull again": the record's destination back in the form, then the same action. */
function again(h) {
  if (h.registryUrl) $('registry-url').value = h.registryUrl;
  if (h.command === 'pull') {
    if (h.repository) $('pull-ref').value = h.repository;
    $('pull-ref').dispatchEvent(new Event('change'));
    $('pull').click();
    return;
  }
  if (h.repository) $('repository').value = h.repository;
  if (state.file && !$('push').disabled) {
    onSubmit();
  } else {
    setStatus('idle', `Choose ${h.source ?? 'the image file'} again to push it to ${h.target}.`);
    $('file-input').focus();
  }
}

/** Saves the history as JSON, in the CLI history's record shape. */
function onExportHistory() {
  const url = URL.createObjectURL(new Blob([exportJson(state.historyEntries ?? [])], { type: 'application/json' }));
  const a = el('a', { href: url, download: 'tug-web-history.json' });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

let clearArmed = null;
async function onClearHistory() {
  const button = $('history-clear');
  if (!clearArmed) {
    button.textContent = 'Click again to clear';
    clearArmed = setTimeout(() => {
      clearArmed = null;
      button.textContent = 'Clear history';
    }, 4000);
    return;
  }
  clearTimeout(clearArmed);
  clearArmed = null;
  button.textContent = 'Clear history';
  await history.clear();
  await renderHistory();
}

// ---------------------------------------------------------------- wiring

function wire() {
  const input = $('file-input');
  input.addEventListener('change', () => {
    if (input.files && input.files[0]) setFile(input.files[0]);
  });
  const zone = $('dropzone');
  const hasFiles = (e) => Array.from(e.dataTransfer?.types ?? []).includes('Files');
  zone.addEventListener('dragenter', (e) => { if (hasFiles(e)) zone.classList.add('dragging'); });
  zone.addEventListener('dragleave', (e) => { if (!zone.contains(e.relatedTarget)) zone.classList.remove('dragging'); });
  // Dropping anywhere on the page takes the file (and never navigates away to it).
  window.addEventListener('dragover', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = state.running ? 'none' : 'copy';
  });
  window.addEventListener('drop', (e) => {
    if (!hasFiles(e)) return;
    e.preventDefault();
    zone.classList.remove('dragging');
    const file = e.dataTransfer.files?.[0];
    if (file && !state.running) setFile(file);
  });
  $('file-clear').addEventListener('click', clearFile);
  $('push-form').addEventListener('submit', onSubmit);
  $('cancel').addEventListener('click', cancel);
  $('history-clear').addEventListener('click', onClearHistory);
  $('history-export').addEventListener('click', onExportHistory);
  $('copy-digest').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('result-digest').textContent);
      $('copy-digest').textContent = 'Copied';
    } catch {
      $('copy-digest').textContent = 'Select and copy';
    }
    setTimeout(() => { $('copy-digest').textContent = 'Copy'; }, 2000);
  });
  for (const id of ['registry-url', 'repository']) {
    $(id).addEventListener('input', () => $(id).removeAttribute('aria-invalid'));
  }
  // Settings are remembered as they are typed (never the password); a changed destination
  // or option makes the next push a new one.
  for (const id of Settings.FIELDS) {
    $(id).addEventListener('input', () => {
      settings.save(readSettings());
      if (!state.running) setPushLabel(false);
    });
  }
  $('settings-forget').addEventListener('click', () => {
    settings.clear();
    for (const id of Settings.FIELDS) $(id).value = '';
    if (state.limits) applyLimits(state.limits);
    $('settings-note').textContent = 'Forgotten: nothing is stored in this browser now.';
  });
  window.addEventListener('beforeunload', (e) => {
    if (state.running) e.preventDefault();
  });
}

/** The form's remembered fields, by id. */
function readSettings() {
  return Object.fromEntries(Settings.FIELDS.map((id) => [id, $(id).value]));
}

wire();
initPull({ engine: engineReady, remember });
for (const [id, value] of Object.entries(settings.load())) $(id).value = value;
history.init().then(() => {
  if (!history.persistent) {
    $('history-note').textContent = `This browser keeps no history here (${history.problem}); it lasts until the page is closed.`;
  }
  return renderHistory();
});
engineReady.catch(() => {});
