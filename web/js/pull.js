// The Pull panel: an image from the registry named in the Registry form (its URL, user
// name and password), saved as a `docker save` tar or an OCI archive as it arrives — into a
// file picked with the File System Access API, or a download the service worker streams
// (save-target.js). tug-wasm writes each blob once the core has checked its digest; a
// failure aborts the file. Progress, errors, Retry and history work as for a push.

import { formatBytes, formatDuration, formatRate, formatTime } from './format.js';
import { FieldError, parseDestination } from './target.js';
import { cleanMessage, explain } from './explain.js';
import { Pulse } from './pulse.js';
import { canPickFile, pickFile, registerDownloads, streamedDownload } from './save-target.js';

const $ = (id) => document.getElementById(id);
const REDRAW_MS = 250;

/** The file name a pull is saved under: `app-1.0.tar` for `team/app:1.0`. */
export function archiveName(repository, reference, format) {
  const base = String(repository).split('/').pop() || 'image';
  const ref = String(reference).replace(/^sha256:/, '').slice(0, 12);
  const suffix = format === 'oci-archive' ? '.oci.tar' : '.tar';
  return `${base}-${ref}${suffix}`.replace(/[^A-Za-z0-9._-]/g, '_');
}

/**
 * Wires the panel. `engine` resolves to the tug-wasm module; `remember(entry)` keeps a
 * history record (and redraws the history).
 */
export function initPull({ engine, remember }) {
  const state = { handle: null, running: false, progress: null, retries: 0, listed: null, listing: null };

  function setStatus(name, text) {
    $('pull-status').dataset.state = name;
    $('pull-status-text').textContent = text;
  }

  function render() {
    const p = state.progress;
    if (!p) return;
    const bar = $('pull-bar');
    bar.max = Math.max(p.total, 1);
    bar.value = Math.min(p.moved, bar.max);
    const pct = p.total > 0 ? Math.floor((p.moved / p.total) * 100) : 0;
    $('pull-bytes').textContent = `${formatBytes(p.moved)} of ${formatBytes(p.total)} (${pct}%)`;
    $('pull-speed').textContent = p.rate > 0 ? formatRate(p.rate) : '';
    const left = p.etaMs === null ? null : Math.max(0, p.etaMs - (performance.now() - p.at));
    $('pull-eta').textContent = left !== null && p.moved < p.total && state.running ? `${formatDuration(left)} left` : '';
  }

  function onEvent(ev) {
    if (!ev || typeof ev.event !== 'string') return;
    if (ev.event === 'progress') {
      state.progress = {
        moved: ev.transferred_bytes ?? ev.done_bytes ?? 0,
        total: ev.total_bytes ?? 0,
        rate: ev.bytes_per_second > 0 ? ev.bytes_per_second : 0,
        etaMs: Number.isFinite(ev.eta_ms) ? ev.eta_ms : null,
        at: performance.now(),
      };
    } else if (ev.event === 'platform_chosen') {
      setStatus('working', `Pulling ${ev.platform}…`);
    } else if (ev.event === 'retrying') {
      state.retries += 1;
      const delay = Number.isFinite(ev.delay_ms) ? ` in ${formatDuration(ev.delay_ms)}` : '';
      const text = `${formatTime(new Date()).slice(11)} — retrying ${ev.what ?? 'a request'}${delay} (attempt ${ev.attempt ?? '?'})${ev.reason ? `: ${ev.reason}` : ''}`;
      $('pull-retry-list').append(Object.assign(document.createElement('li'), { textContent: text }));
      $('pull-retries').hidden = false;
    }
  }

  function showError(code, error, context) {
    const message = error?.message ?? String(error);
    const text = explain(code, context, { status: error?.status, registryCodes: error?.registryCodes, transport: error?.transport, message });
    const panel = $('pull-error');
    panel.dataset.code = code;
    panel.dataset.kind = text.kind;
    $('pull-error-title').textContent = text.title;
    $('pull-error-message').textContent = code === 'cancelled' ? '' : cleanMessage(message, error?.excerpt);
    const help = $('pull-error-help');
    help.replaceChildren();
    for (const p of text.paragraphs) help.append(Object.assign(document.createElement('p'), { textContent: p }));
    if (text.tips.length) {
      const ul = document.createElement('ul');
      for (const t of text.tips) ul.append(Object.assign(document.createElement('li'), { textContent: t }));
      help.append(ul);
    }
    panel.hidden = false;
  }

  function clearView() {
    $('pull-error').hidden = true;
    $('pull-result').hidden = true;
    $('pull-retries').hidden = true;
    $('pull-retry-list').replaceChildren();
    $('pull-form-error').hidden = true;
  }

  function destination(tug) {
    return parseDestination(tug, $('registry-url').value, $('pull-ref').value);
  }

  function registryOptions(dest) {
    const options = { plainHttp: dest.plainHttp };
    const username = $('username').value.trim();
    if (username) {
      options.username = username;
      options.password = $('password').value;
    }
    return options;
  }

  /** Lists the platforms of the image named (an index's; a single image's one) from tug-wasm. */
  async function listPlatforms() {
    const tug = await engine;
    let dest;
    try {
      dest = destination(tug);
    } catch {
      return null;
    }
    const key = dest.target;
    if (state.listed?.key === key) return state.listed;
    const listing = tug.platforms(dest.target, registryOptions(dest)).done.then((found) => ({ key, ...found }));
    state.listing = listing;
    const found = await listing;
    if (state.listing !== listing) return found;
    state.listed = found;
    const select = $('pull-platform');
    select.replaceChildren();
    // A single image is pulled whatever its platform: nothing to choose, none to ask for.
    const names = found.index ? found.platforms : [];
    for (const p of names) select.append(new Option(p, p, p === found.default, p === found.default));
    if (!names.length) select.append(new Option(found.platforms[0] || 'its own platform', '', true, true));
    select.disabled = names.length < 2;
    $('pull-platform-note').textContent = found.index
      ? `${found.platforms.length} platform${found.platforms.length === 1 ? '' : 's'} in this image`
      : 'a single-platform image';
    return found;
  }

  function setPullLabel(retry) {
    $('pull').textContent = retry ? 'Retry' : 'Pull';
  }

  async function onPull(event) {
    event?.preventDefault();
    if (state.running) return;
    const tug = await engine;
    clearView();
    let dest;
    try {
      dest = destination(tug);
    } catch (e) {
      if (!(e instanceof FieldError)) throw e;
      $('pull-form-error').textContent = e.field === 'registry' ? `Registry URL (under 2 Registry): ${e.message}` : e.message;
      $('pull-form-error').hidden = false;
      return;
    }
    const format = $('pull-format').value;
    const name = archiveName(dest.repository, dest.reference, format);
    // The file is asked for first, while the click still counts as the person's gesture.
    let target = null;
    if (canPickFile()) {
      target = await pickFile(name);
      if (!target) {
        setStatus('idle', 'Nothing saved: no file was chosen.');
        return;
      }
    }
    state.running = true;
    state.retries = 0;
    state.progress = null;
    $('pull').disabled = true;
    $('pull-cancel').disabled = false;
    $('pull-overall').hidden = false;
    $('pull-bar').value = 0;
    for (const id of ['pull-bytes', 'pull-speed', 'pull-eta']) $(id).textContent = '';
    const pulse = new Pulse($('pull-status'));
    // Progress events only note the figures: the tick draws them (one frame per tick).
    const redraw = setInterval(() => {
      render();
      pulse.step();
    }, REDRAW_MS);
    const context = { registry: dest.origin, pageOrigin: window.location.origin, repository: dest.repository, plainHttp: dest.plainHttp, target: dest.target, operation: 'pull' };
    const started = performance.now();
    const record = { command: 'pull', time: new Date().toISOString(), target: dest.display, format, registryUrl: $('registry-url').value.trim(), repository: $('pull-ref').value.trim() };
    let output = null;
    try {
      setStatus('working', `Reading ${dest.display}…`);
      const platforms = await listPlatforms();
      // Only an index is asked for a platform (a single image is taken as it is).
      const platform = platforms?.index ? $('pull-platform').value || platforms.default : undefined;
      output = target ? await target.open() : await streamedDownload(name);
      record.file = target ? target.name : name;
      setStatus('working', `Pulling ${dest.display}${platforms?.index ? ` (${platform})` : ''}…`);
      state.handle = tug.pull(dest.target, { ...registryOptions(dest), platform, format, output }, onEvent);
      output = null; // tug-wasm owns it now: it closes or aborts it
      const result = await state.handle.done;
      render(); // the last figures the core reported
      const duration = result.durationMs ?? performance.now() - started;
      const bar = $('pull-bar');
      bar.value = bar.max;
      $('pull-eta').textContent = '';
      $('pull-result-file').textContent = record.file;
      $('pull-result-digest').textContent = result.manifestDigest;
      $('pull-result-size').textContent = `${formatBytes(result.bytesWritten ?? 0)} written, ${formatBytes(result.bytesReceived ?? 0)} downloaded`;
      $('pull-result-time').textContent = formatDuration(duration);
      $('pull-result').hidden = false;
      setStatus('success', `Pulled ${dest.display} in ${formatDuration(duration)}`);
      setPullLabel(false);
      await remember({ ...record, digest: result.manifestDigest, size: result.bytesWritten, bytesReceived: result.bytesReceived, durationMs: duration, outcome: 'success', retries: state.retries, blobTimings: result.blobTimings ?? [] });
    } catch (e) {
      if (output) await output.abort(e).catch(() => {});
      const code = typeof e?.code === 'string' ? e.code : 'network';
      const cancelled = code === 'cancelled';
      setStatus(cancelled ? 'cancelled' : 'failed', cancelled ? 'Pull cancelled: nothing was saved' : `Pull failed: ${explain(code, context, { status: e?.status, registryCodes: e?.registryCodes, transport: e?.transport, message: e?.message }).title}`);
      $('pull-eta').textContent = '';
      showError(code, e, context);
      setPullLabel(true);
      await remember({ ...record, durationMs: performance.now() - started, outcome: cancelled ? 'cancelled' : 'failed', errorCode: code, message: cleanMessage(e?.message ?? String(e), e?.excerpt), retries: state.retries, blobTimings: e?.blobTimings ?? [] });
    } finally {
      clearInterval(redraw);
      pulse.stop();
      state.handle = null;
      state.running = false;
      $('pull').disabled = false;
      $('pull-cancel').disabled = true;
    }
  }

  $('pull-form').addEventListener('submit', onPull);
  $('pull-cancel').addEventListener('click', () => {
    if (!state.handle) return;
    $('pull-cancel').disabled = true;
    setStatus('working', 'Cancelling…');
    state.handle.cancel();
  });
  for (const id of ['pull-ref', 'registry-url']) {
    $(id).addEventListener('change', () => {
      state.listed = null;
      setPullLabel(false);
      listPlatforms().catch(() => { $('pull-platform-note').textContent = 'platforms: the registry could not be asked yet'; });
    });
  }
  $('pull-save-note').textContent = canPickFile()
    ? 'You choose the file; it is written as the image arrives.'
    : 'Saved as a download, streamed as the image arrives.';
  if (!canPickFile()) registerDownloads().catch(() => {});
  engine.then(() => { $('pull').disabled = false; }).catch(() => {});
}
