// Drives the page `tug web` serves in Debian's headless chromium (playwright-core): picks an
// image tar with the file input, fills in the destination, pushes, waits for the outcome and
// reports what the page shows as one JSON object on stdout. Screenshots go to a directory.
//
// Run by tests/e2e/tests/e2e/browser.rs and by the browser mode of the benchmark; configured by
// environment variables:
//   TUG_PAGE_URL        the page (required), e.g. http://127.0.0.1:PORT/
//   TUG_TAR             the image tar to push (required)
//   TUG_REGISTRY_URL    what to type as the registry URL (required)
//   TUG_REPOSITORY      what to type as repository:tag (required)
//   TUG_USERNAME, TUG_PASSWORD   credentials to type (optional)
//   TUG_RETRIES         what to type as the attempts per request (optional)
//   TUG_TRUST_CERT      a PEM certificate whose key chromium accepts even though no CA it
//                       knows signed it (--ignore-certificate-errors-spki-list)
//   TUG_SCREENSHOTS     directory for screenshots; TUG_SCREENSHOT_NAME their name prefix
//   TUG_CANCEL_RETRY=1  cancel the push once bytes move (uploads throttled to
//                       TUG_THROTTLE_BPS), check the page says so, then press Retry
//   TUG_INTERRUPT=cancel|reload  stop the push (uploads throttled to TUG_THROTTLE_BPS) once
//                       the page keeps an upload session with TUG_INTERRUPT_AT_BYTES confirmed:
//                       cancel then Retry, or reload the page then pick the same file and
//                       push again (report.sessionsAtInterrupt, sessionsBeforeAgain)
//   TUG_CHUNK_MIB       what to type as the chunk size (MiB)
//   TUG_UPLOAD_BODY     blob|buffer: open the page with ?uploadBody= (how chunks go to the browser)
//   TUG_RELOAD_CHECK=1  after the push, reload the page and report the history it shows
//   TUG_CLEAR_HISTORY=1 at the end, clear the history with its button (pressed twice)
//   TUG_FILE_VIA=drop   drop the file on the page (a drag-and-drop DataTransfer) instead of
//                       setting the file input (the file is then read into the page: keep it small)
//   TUG_SAMPLE_MS=N     every N ms during the push, note what the overall figures show
//                       (report.samples: [ms since the click, bytes text, bar value, bar max])
//   TUG_SETTINGS_CHECK=1 after the push, reload and report the form's fields
//                       (settingsAfterReload), then forget them, reload and report again
//                       (settingsAfterForget)
//   TUG_NEW_FILE_CHECK=1 after the push, pick the file again and report what the page shows
//                       (afterNewFile)
//   TUG_SHOT_MIDWAY=1   while the push runs, once the page shows between 10 % and 90 % sent with
//                       a rate and an ETA, note the figures (report.midway: bytes, speed, eta,
//                       fraction) and take the screenshot "-pushing" (observed, never slept for)
//   TUG_NARROW_CHECK=1  after the push, at a phone's width (375 px), report the page's words, what
//                       overflows sideways and every button's name (report.narrow), screenshot "-narrow"
//   TUG_RENDER_COUNTS=1 count the page's style recalculations and layouts during the push (click →
//                       outcome; CDP Performance metrics): report.renderCounts { styles, layouts, ms }
//   TUG_PROFILE_DIR     profile the push (click → outcome): CPU seconds per chromium process and
//                       thread (report.profile.cpu); with TUG_PROFILE_PAGE=1 also a CPU profile of the
//                       page's main thread (DIR/page.cpuprofile; report.profile.page: the functions
//                       with most self time), with TUG_PROFILE_TRACE=1 a chromium trace (DIR/trace.json)
//   TUG_TIMEOUT_MS      how long a push may take (default 120000)
//   TUG_CHROMIUM        the browser (default /usr/bin/chromium)
// Exit status 0 when the page reached an outcome (whatever it was: the caller judges it),
// 1 when driving the page failed (the message says why).

import { required, spkiPin } from './driver-env.mjs';
import { mkdtempSync, readFileSync, rmSync, mkdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { cpuBetween, processTree, startPageProfile, startTrace, stopPageProfile } from './profile.mjs';

const env = process.env;

async function loadPlaywright() {
  try {
    return await import('playwright-core');
  } catch (e) {
    throw new Error(`playwright-core is not installed in tests/browser (run scripts/install-deps.sh): ${e.message}`);
  }
}

async function main() {
  const pageUrl = required('TUG_PAGE_URL');
  const tar = required('TUG_TAR');
  const registryUrl = required('TUG_REGISTRY_URL');
  const repository = required('TUG_REPOSITORY');
  const timeout = Number(env.TUG_TIMEOUT_MS || 120000);
  const executablePath = env.TUG_CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) {
    throw new Error(`${executablePath} not found: install Debian's chromium with scripts/install-deps.sh`);
  }
  const shots = env.TUG_SCREENSHOTS || null;
  const shotName = env.TUG_SCREENSHOT_NAME || 'push';
  if (shots) mkdirSync(shots, { recursive: true });

  const { chromium } = await loadPlaywright();
  const args = [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
    '--disable-dev-shm-usage',
  ];
  if (env.TUG_TRUST_CERT) args.push(`--ignore-certificate-errors-spki-list=${spkiPin(env.TUG_TRUST_CERT)}`);
  const profile = mkdtempSync(join(tmpdir(), 'tug-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath,
    headless: true,
    args,
    viewport: { width: 1280, height: 900 },
  });
  const report = { console: [], timings: {} };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));
    const shot = async (suffix) => {
      if (!shots) return;
      const path = join(shots, `${shotName}${suffix}.png`);
      await page.screenshot({ path, fullPage: true });
      (report.screenshots ??= []).push(path);
    };

    const openUrl = env.TUG_UPLOAD_BODY
      ? `${pageUrl}${pageUrl.includes('?') ? '&' : '?'}uploadBody=${encodeURIComponent(env.TUG_UPLOAD_BODY)}`
      : pageUrl;
    await page.goto(openUrl);
    await page.waitForSelector('#engine[data-state="ready"]', { timeout: 30000 }).catch(async (e) => {
      report.engine = await page.textContent('#engine');
      throw new Error(`the page's tug-wasm did not load: ${report.engine}; console: ${report.console.join(' | ')}`);
    });
    report.engine = await page.textContent('#engine');
    // The option fields' ranges and defaults, as the page set them from tug-wasm's limits().
    report.optionFields = await page.$$eval('#jobs, #retries, #chunk', (inputs) =>
      Object.fromEntries(inputs.map((i) => [i.id, { min: i.min, max: i.max, value: i.value }])));

    if (env.TUG_FILE_VIA === 'drop') {
      const bytes = readFileSync(tar).toString('base64');
      const transfer = await page.evaluateHandle(({ name, b64 }) => {
        const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([raw], name, { type: 'application/x-tar' }));
        return dt;
      }, { name: basename(tar), b64: bytes });
      for (const type of ['dragenter', 'dragover', 'drop']) {
        await page.dispatchEvent('#dropzone', type, { dataTransfer: transfer });
      }
      report.fileVia = 'drop';
    } else {
      await page.setInputFiles('#file-input', tar);
    }
    await page.waitForSelector('#images:not([hidden]), #error-panel:not([hidden])', { timeout: 60000 });
    report.fileStatus = await page.textContent('#file-status');
    report.images = await page.$$eval('#image-list .image', (nodes) => nodes.map((n) => n.innerText));

    await page.fill('#registry-url', registryUrl);
    await page.fill('#repository', repository);
    if (env.TUG_USERNAME) await page.fill('#username', env.TUG_USERNAME);
    if (env.TUG_PASSWORD) await page.fill('#password', env.TUG_PASSWORD);
    if (env.TUG_RETRIES || env.TUG_CHUNK_MIB) {
      await page.evaluate(() => { document.querySelector('details.advanced').open = true; });
      if (env.TUG_RETRIES) await page.fill('#retries', env.TUG_RETRIES);
      if (env.TUG_CHUNK_MIB) await page.fill('#chunk', env.TUG_CHUNK_MIB);
    }
    await shot('-ready');

    const outcome = () =>
      page.waitForSelector('#status[data-state="success"], #status[data-state="failed"], #status[data-state="cancelled"]', { timeout });

    if (env.TUG_CANCEL_RETRY === '1') {
      const cdp = await context.newCDPSession(page);
      await cdp.send('Network.enable');
      const bps = Number(env.TUG_THROTTLE_BPS || 4 * 1024 * 1024);
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bps,
      });
      await page.click('#push');
      // Cancel once the first bytes are confirmed, while the rest is still on its way.
      await page.waitForFunction(() => document.querySelector('#overall-bar')?.value > 0, null, { timeout });
      report.progressBeforeCancel = await page.textContent('#overall-bytes');
      await page.click('#cancel');
      await outcome();
      report.cancelled = await readOutcome(page);
      await shot('-cancelled');
      await cdp.send('Network.emulateNetworkConditions', {
        offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1,
      });
      const t0 = Date.now();
      // One button: after the cancel, Push reads "Retry".
      report.pushLabelAfterCancel = await page.textContent('#push');
      await page.click('#push');
      await page.waitForSelector('#status[data-state="working"]', { timeout: 10000 });
      await outcome();
      report.timings.retryMs = Date.now() - t0;
    } else if (env.TUG_INTERRUPT) {
      await interruptAndPushAgain(page, context, { tar, registryUrl, timeout, outcome, shot, report });
    } else {
      if (env.TUG_SAMPLE_MS) {
        await page.evaluate((every) => {
          const t0 = performance.now();
          window.__tugSamples = [];
          const bar = document.getElementById('overall-bar');
          const sample = () => window.__tugSamples.push([
            Math.round(performance.now() - t0),
            document.getElementById('overall-bytes').textContent,
            bar.value,
            bar.max,
          ]);
          document.getElementById('push').addEventListener('click', () => {
            window.__tugSampler = setInterval(sample, every);
          }, { once: true });
        }, Number(env.TUG_SAMPLE_MS));
      }
      const profileDir = env.TUG_PROFILE_DIR;
      let profiler = null;
      let cpuBefore = null;
      if (profileDir) {
        mkdirSync(profileDir, { recursive: true });
        if (env.TUG_PROFILE_TRACE === '1') report.traced = await startTrace(context, page, profileDir);
        else if (env.TUG_PROFILE_PAGE === '1') profiler = await startPageProfile(context, page);
        cpuBefore = processTree();
      }
      const counts = env.TUG_RENDER_COUNTS === '1' ? await renderCounter(context, page) : null;
      const t0 = Date.now();
      await page.click('#push');
      if (env.TUG_SHOT_MIDWAY === '1') await midway(page, shot, report, outcome);
      await outcome();
      report.timings.pushMs = Date.now() - t0;
      if (counts) report.renderCounts = await counts();
      if (profileDir) {
        report.profile = { cpu: cpuBetween(cpuBefore, processTree()) };
        if (profiler) report.profile.page = await stopPageProfile(profiler, profileDir);
        if (report.traced) await context.browser().stopTracing();
      }
      if (env.TUG_SAMPLE_MS) {
        report.samples = await page.evaluate(() => {
          clearInterval(window.__tugSampler);
          return window.__tugSamples;
        });
      }
    }
    Object.assign(report, await readOutcome(page));
    report.retriesShown = await page.$$eval('#retry-list li', (n) => n.map((li) => li.textContent));
    report.blobs = await page.$$eval('#blobs li', (n) => n.map((li) => li.innerText.replace(/\s+/g, ' ').trim()));
    report.history = await readHistory(page);
    report.indexedDb = await page.evaluate(dumpIndexedDb);
    await shot('');

    if (env.TUG_NARROW_CHECK === '1') {
      // The page as the push left it, at a phone's width: what overflows sideways, and every
      // button's name; then back to the desktop width.
      await page.setViewportSize({ width: 375, height: 740 });
      report.narrow = await page.evaluate(readLayout);
      await shot('-narrow');
      await page.setViewportSize({ width: 1280, height: 900 });
    }

    if (env.TUG_NEW_FILE_CHECK === '1') {
      await page.setInputFiles('#file-input', []);
      await page.setInputFiles('#file-input', tar);
      await page.waitForSelector('#images:not([hidden])', { timeout: 60000 });
      report.afterNewFile = await readOutcome(page);
      report.afterNewFile.blobs = await page.$$eval('#blobs li', (n) => n.length);
      report.afterNewFile.overallVisible = await page.evaluate(() => !document.getElementById('overall').hidden);
    }

    if (env.TUG_SETTINGS_CHECK === '1') {
      const fields = () => page.$$eval('#registry-url, #repository, #username, #password, #jobs, #retries, #chunk',
        (inputs) => Object.fromEntries(inputs.map((i) => [i.id, i.value])));
      await page.reload();
      await page.waitForSelector('#engine[data-state="ready"]', { timeout: 30000 });
      report.settingsAfterReload = await fields();
      report.localStorage = await page.evaluate(() => JSON.stringify(localStorage));
      await page.click('#settings-forget');
      await page.reload();
      await page.waitForSelector('#engine[data-state="ready"]', { timeout: 30000 });
      report.settingsAfterForget = await fields();
    }

    if (env.TUG_CLEAR_HISTORY === '1') {
      await page.click('#history-clear');
      report.clearButtonArmed = await page.textContent('#history-clear');
      await page.click('#history-clear');
      await page.waitForSelector('#history-empty:not([hidden])', { timeout: 10000 });
      report.historyAfterClear = await readHistory(page);
      report.indexedDbAfterClear = await page.evaluate(dumpIndexedDb);
    }

    if (env.TUG_RELOAD_CHECK === '1') {
      await page.reload();
      await page.waitForSelector('#engine[data-state="ready"]', { timeout: 30000 });
      await page.waitForFunction(() => document.querySelectorAll('#history-body tr[data-outcome]').length > 0, null, { timeout: 10000 });
      report.historyAfterReload = await readHistory(page);
      // The newest row opened to its per-blob timings, as a person would look at it.
      await page.click('#history-body tr[data-outcome] .toggle');
      report.historyExpanded = await readHistory(page);
      await shot('-history');
    }
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

// TUG_RENDER_COUNTS: the page's style recalculations and layouts from now until the returned
// function is called (CDP Performance metrics), and the milliseconds between.
async function renderCounter(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  const read = async () => {
    const { metrics } = await cdp.send('Performance.getMetrics');
    const m = Object.fromEntries(metrics.map((x) => [x.name, x.value]));
    return { styles: m.RecalcStyleCount, layouts: m.LayoutCount, at: performance.now() };
  };
  const before = await read();
  return async () => {
    const after = await read();
    return { styles: after.styles - before.styles, layouts: after.layouts - before.layouts, ms: Math.round(after.at - before.at) };
  };
}

// TUG_SHOT_MIDWAY: waits (polling each animation frame) for the page to show the push midway
// with a rate and an ETA, notes the figures and screenshots it; gives up, noting nothing, if the
// push reaches its outcome first.
async function midway(page, shot, report, outcome) {
  const seen = page.waitForFunction(() => {
    const bar = document.getElementById('overall-bar');
    const fraction = bar.max > 1 ? bar.value / bar.max : 0;
    const speed = document.getElementById('overall-speed').textContent;
    const eta = document.getElementById('overall-eta').textContent;
    if (fraction < 0.1 || fraction > 0.9 || !speed || !eta) return null;
    return {
      bytes: document.getElementById('overall-bytes').textContent,
      speed,
      eta,
      fraction,
      state: document.getElementById('status').dataset.state,
    };
  }, null, { polling: 'raf', timeout: Number(env.TUG_TIMEOUT_MS || 120000) }).then((h) => h.jsonValue());
  const first = await Promise.race([seen, outcome().then(() => null)]);
  seen.catch(() => {});
  if (!first) return;
  report.midway = first;
  await shot('-pushing');
}

// Runs in the page: its header's words, whether anything makes the page wider than the window
// (and which elements stick out on the right), and each visible button's accessible name (aria-label, else
// its text) with what it is for (id or class).
function readLayout() {
  const width = document.documentElement.clientWidth;
  const visible = (n) => n.getClientRects().length > 0 && getComputedStyle(n).visibility !== 'hidden';
  const outside = [];
  for (const n of document.querySelectorAll('body *')) {
    if (!visible(n)) continue;
    const r = n.getBoundingClientRect();
    // Inside a box that scrolls sideways (a wide table) it does not widen the page.
    let clipped = false;
    for (let p = n.parentElement; p && p !== document.body; p = p.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(p).overflowX)) { clipped = true; break; }
    }
    if (!clipped && r.right > width + 0.5) {
      outside.push(`${n.tagName.toLowerCase()}${n.id ? `#${n.id}` : ''}.${n.className}: ${Math.round(r.left)}..${Math.round(r.right)}`);
    }
  }
  const buttons = Array.from(document.querySelectorAll('button')).filter(visible).map((b) => ({
    id: b.id || b.className,
    // Within the window's width, not only after scrolling a box sideways.
    inView: b.getBoundingClientRect().left >= 0 && b.getBoundingClientRect().right <= width + 0.5,
    name: (b.getAttribute('aria-label') || b.textContent).replace(/\s+/g, ' ').trim(),
    text: b.textContent.replace(/\s+/g, ' ').trim(),
  }));
  return {
    width,
    scrollWidth: document.documentElement.scrollWidth,
    outside,
    title: document.title,
    tagline: document.querySelector('.tagline')?.textContent ?? null,
    engine: document.getElementById('engine').textContent,
    headings: Array.from(document.querySelectorAll('h2')).map((h) => h.textContent.replace(/\s+/g, ' ').trim()),
    buttons,
  };
}

// Runs in the page: the upload sessions the page keeps (tug-web-sessions/uploads).
async function keptSessions() {
  if (!(await indexedDB.databases()).some((d) => d.name === 'tug-web-sessions')) return [];
  const db = await new Promise((res, rej) => {
    const r = indexedDB.open('tug-web-sessions');
    r.onsuccess = () => res(r.result);
    r.onerror = () => rej(r.error);
  });
  try {
    if (!db.objectStoreNames.contains('uploads')) return [];
    return await new Promise((res, rej) => {
      const r = db.transaction('uploads').objectStore('uploads').getAll();
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
  } finally {
    db.close();
  }
}

// TUG_INTERRUPT: push throttled, stop once a session confirms TUG_INTERRUPT_AT_BYTES (seen
// in IndexedDB, polled), then Retry (cancel) or reload, pick the same file and push (reload).
async function interruptAndPushAgain(page, context, { tar, registryUrl, timeout, outcome, shot, report }) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  const throttle = (bps) => cdp.send('Network.emulateNetworkConditions', {
    offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: bps,
  });
  await throttle(Number(env.TUG_THROTTLE_BPS || 4 * 1024 * 1024));
  const at = Number(env.TUG_INTERRUPT_AT_BYTES || 1);
  await page.click('#push');
  const deadline = Date.now() + timeout;
  let kept = [];
  while (!kept.some((s) => s.committed >= at)) {
    if (Date.now() > deadline) throw new Error(`no upload session reached ${at} bytes: ${JSON.stringify(kept)}`);
    if ((await page.$('#status[data-state="success"], #status[data-state="failed"]'))) {
      throw new Error(`the push ended before a session reached ${at} bytes: ${JSON.stringify(await readOutcome(page))}`);
    }
    await page.waitForTimeout(25);
    kept = await page.evaluate(keptSessions);
  }
  report.sessionsAtInterrupt = kept;
  if (env.TUG_INTERRUPT === 'cancel') {
    await page.click('#cancel');
    await outcome();
    report.cancelled = await readOutcome(page);
    await shot('-cancelled');
    await throttle(-1);
    report.pushLabelAfterCancel = await page.textContent('#push');
  } else {
    // A reload while pushing asks "leave the page?": the user says yes.
    page.on('dialog', (d) => (d.type() === 'beforeunload' ? d.accept() : d.dismiss()));
    await page.reload();
    await page.waitForSelector('#engine[data-state="ready"]', { timeout: 30000 });
    await throttle(-1);
    await page.setInputFiles('#file-input', tar);
    await page.waitForSelector('#images:not([hidden])', { timeout: 60000 });
    report.settingsAfterReload = await page.$$eval('#registry-url, #repository, #chunk', (inputs) =>
      Object.fromEntries(inputs.map((i) => [i.id, i.value])));
    await page.fill('#registry-url', registryUrl);
    if (env.TUG_PASSWORD) await page.fill('#password', env.TUG_PASSWORD);
  }
  report.sessionsBeforeAgain = await page.evaluate(keptSessions);
  await page.click('#push');
  await page.waitForSelector('#status[data-state="working"]', { timeout: 10000 });
  await outcome();
  report.sessionsAfter = await page.evaluate(keptSessions);
}

async function readOutcome(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id)?.textContent ?? null;
    const visible = (id) => !document.getElementById(id)?.hidden;
    return {
      state: document.getElementById('status').dataset.state,
      status: text('status-text'),
      digest: visible('result') ? text('result-digest') : null,
      sent: visible('result') ? text('result-sent') : null,
      error: visible('error-panel')
        ? {
            code: document.getElementById('error-panel').dataset.code ?? null,
            kind: document.getElementById('error-panel').dataset.kind ?? null,
            title: text('error-title'),
            message: text('error-message'),
            help: document.getElementById('error-help').innerText,
          }
        : null,
      overall: text('overall-bytes'),
      retryVisible: document.getElementById('push').dataset.retry === 'true',
      pushLabel: text('push'),
      buttons: Array.from(document.querySelectorAll('#push-form .actions button')).map((b) => b.textContent),
    };
  });
}

async function readHistory(page) {
  // One summary row per record (data-outcome), then its error (in full) and its folded details.
  return page.$$eval('#history-body tr[data-outcome]', (rows) =>
    rows.map((r) => {
      let error = null;
      let details = null;
      for (let next = r.nextElementSibling; next && !next.dataset.outcome; next = next.nextElementSibling) {
        if (next.classList.contains('history-error-row')) error = next.textContent;
        if (next.classList.contains('history-more')) details = { hidden: next.hidden, timings: next.querySelectorAll('.timings tbody tr').length };
      }
      return {
        when: r.cells[0].textContent,
        target: r.cells[1].querySelector('span')?.textContent ?? '',
        digest: r.cells[1].querySelector('code')?.title ?? null,
        size: r.cells[2].textContent,
        took: r.cells[3].textContent,
        outcome: r.cells[4].querySelector('span')?.textContent ?? '',
        actions: Array.from(r.cells[4].querySelectorAll('button')).map((b) => b.textContent),
        error,
        details,
      };
    }));
}

// Runs in the page: every record of every store of the page's IndexedDB databases.
async function dumpIndexedDb() {
  const out = {};
  const dbs = await indexedDB.databases();
  for (const { name } of dbs) {
    const db = await new Promise((res, rej) => {
      const r = indexedDB.open(name);
      r.onsuccess = () => res(r.result);
      r.onerror = () => rej(r.error);
    });
    for (const store of db.objectStoreNames) {
      const all = await new Promise((res, rej) => {
        const r = db.transaction(store).objectStore(store).getAll();
        r.onsuccess = () => res(r.result);
        r.onerror = () => rej(r.error);
      });
      out[`${name}/${store}`] = all;
    }
    db.close();
  }
  return out;
}

main().catch((e) => {
  process.stderr.write(`browser driver: ${e.stack || e.message || e}\n`);
  process.exit(1);
});
