// Drives the page's Pull panel in Debian's headless chromium (playwright-core): types the
// registry URL, credentials and repository:tag, lets the page list the image's platforms,
// pulls it as a streamed download (the service worker path: the File System Access API is
// taken away from the page first, since its picker is a native dialog a headless browser
// cannot answer), saves the download to a file and reports what the page showed as one
// JSON object on stdout.
//
// Run by tests/e2e/tests/e2e/browser.rs; configured by environment variables:
//   TUG_PAGE_URL        the page (required)
//   TUG_REGISTRY_URL    what to type as the registry URL (required)
//   TUG_PULL_REF        what to type as repository:tag (required)
//   TUG_OUT             where to save the downloaded archive (required)
//   TUG_FORMAT          docker-archive (default) or oci-archive
//   TUG_PLATFORM        the platform to choose (optional; else the page's default)
//   TUG_SAVE_VIA=picker the File System Access path instead: showSaveFilePicker answers with a
//                       file of the origin's private file system (a real FileSystemFileHandle),
//                       copied to TUG_OUT afterwards (report.picked: its name and size)
//   TUG_RSS_MS=N        every N ms from just before the click until the outcome, note how far
//                       the pull is and the resident memory (VmRSS, /proc) of this browser's
//                       largest renderer (the page's) and of all its processes (report.rss)
//   TUG_USERNAME, TUG_PASSWORD, TUG_TRUST_CERT, TUG_SCREENSHOTS, TUG_SCREENSHOT_NAME,
//   TUG_TIMEOUT_MS, TUG_CHROMIUM   as for push.mjs
// Exit status 0 when the page reached an outcome (the caller judges it), 1 when driving
// the page failed.

import { required, spkiPin } from './driver-env.mjs';
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = process.env;

async function main() {
  const pageUrl = required('TUG_PAGE_URL');
  const registryUrl = required('TUG_REGISTRY_URL');
  const ref = required('TUG_PULL_REF');
  const out = required('TUG_OUT');
  const format = env.TUG_FORMAT || 'docker-archive';
  const via = env.TUG_SAVE_VIA || 'download';
  const timeout = Number(env.TUG_TIMEOUT_MS || 120000);
  const executablePath = env.TUG_CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executablePath)) throw new Error(`${executablePath} not found: run scripts/install-deps.sh`);
  const shots = env.TUG_SCREENSHOTS || null;
  const shotName = env.TUG_SCREENSHOT_NAME || 'pull';
  if (shots) mkdirSync(shots, { recursive: true });

  const { chromium } = await import('playwright-core');
  const args = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
    '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'];
  if (env.TUG_TRUST_CERT) args.push(`--ignore-certificate-errors-spki-list=${spkiPin(env.TUG_TRUST_CERT)}`);
  const profile = mkdtempSync(join(tmpdir(), 'tug-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath, headless: true, args, acceptDownloads: true, viewport: { width: 1280, height: 1100 },
  });
  const report = { console: [] };
  try {
    const page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (m) => report.console.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => report.console.push(`pageerror: ${e.message}`));
    if (via === 'picker') {
      // The File System Access path with its dialog answered: the "picked" file is a real
      // FileSystemFileHandle of the origin's private file system (same createWritable()).
      await page.addInitScript(() => {
        window.showSaveFilePicker = async ({ suggestedName }) => {
          const root = await navigator.storage.getDirectory();
          window.__tugPicked = suggestedName;
          return root.getFileHandle(suggestedName, { create: true });
        };
      });
    } else {
      // The service-worker download, not the File System Access picker (see the top).
      await page.addInitScript(() => {
        delete window.showSaveFilePicker;
        delete Window.prototype.showSaveFilePicker;
      });
    }
    await page.goto(pageUrl);
    await page.waitForSelector('#engine[data-state="ready"]', { timeout: 30000 });
    if (via !== 'picker') await page.evaluate(() => navigator.serviceWorker.ready.then(() => true));
    report.saveNote = await page.textContent('#pull-save-note');

    await page.fill('#registry-url', registryUrl);
    if (env.TUG_USERNAME) await page.fill('#username', env.TUG_USERNAME);
    if (env.TUG_PASSWORD) await page.fill('#password', env.TUG_PASSWORD);
    await page.fill('#pull-ref', ref);
    await page.dispatchEvent('#pull-ref', 'change');
    await page.waitForFunction(() => /platform/.test(document.getElementById('pull-platform-note').textContent)
      && !/once a repository/.test(document.getElementById('pull-platform-note').textContent), null, { timeout: 30000 });
    report.platformNote = await page.textContent('#pull-platform-note');
    report.platforms = await page.$$eval('#pull-platform option', (o) => o.map((x) => x.value));
    report.platformSelected = await page.$eval('#pull-platform', (s) => s.value);
    if (env.TUG_PLATFORM) await page.selectOption('#pull-platform', env.TUG_PLATFORM);
    await page.selectOption('#pull-format', format);

    const download = via === 'picker' ? Promise.reject(new Error('no download')) : page.waitForEvent('download', { timeout });
    download.catch(() => {});
    const rss = env.TUG_RSS_MS ? sampleRss(profile, Number(env.TUG_RSS_MS), page) : null;
    await page.click('#pull');
    await page.waitForSelector('#pull-status[data-state="success"], #pull-status[data-state="failed"], #pull-status[data-state="cancelled"]', { timeout });
    if (rss) report.rss = await rss.stop();
    report.state = await page.$eval('#pull-status', (s) => s.dataset.state);
    report.status = await page.textContent('#pull-status-text');
    if (via === 'picker') {
      // What the picked file holds now, copied out 1 MiB at a time.
      report.picked = await page.evaluate(async () => {
        const root = await navigator.storage.getDirectory();
        const file = await (await root.getFileHandle(window.__tugPicked)).getFile();
        return { name: window.__tugPicked, size: file.size };
      });
      const fd = openSync(out, 'w');
      for (let at = 0; at < report.picked.size; at += 1 << 20) {
        const b64 = await page.evaluate(async ({ name, at }) => {
          const root = await navigator.storage.getDirectory();
          const file = await (await root.getFileHandle(name)).getFile();
          const bytes = new Uint8Array(await file.slice(at, at + (1 << 20)).arrayBuffer());
          let s = '';
          for (const b of bytes) s += String.fromCharCode(b);
          return btoa(s);
        }, { name: report.picked.name, at });
        writeSync(fd, Buffer.from(b64, 'base64'));
      }
      closeSync(fd);
    }
    // The download began when the page opened it (before the first byte): it has an end now.
    const d = await download.catch(() => null);
    report.downloadStarted = d !== null;
    if (d) {
      report.suggestedName = d.suggestedFilename();
      report.downloadFailure = await d.failure();
      if (report.downloadFailure === null) await d.saveAs(out);
    }
    report.digest = await page.textContent('#pull-result-digest');
    report.resultFile = await page.textContent('#pull-result-file');
    report.resultSize = await page.textContent('#pull-result-size');
    report.bytesText = await page.textContent('#pull-bytes');
    report.error = await page.evaluate(() => ({
      visible: !document.getElementById('pull-error').hidden,
      title: document.getElementById('pull-error-title').textContent,
      message: document.getElementById('pull-error-message').textContent,
    }));
    report.button = await page.textContent('#pull');
    await page.waitForFunction(() => document.querySelectorAll('#history-body tr[data-outcome]').length > 0, null, { timeout: 10000 });
    report.history = await page.$$eval('#history-body tr[data-outcome]', (rows) => rows.map((r) => r.innerText.replace(/\s+/g, ' ').trim()));
    // The newest record opened: its error (in full) and per-blob timings.
    await page.click('#history-body tr[data-outcome] .toggle');
    report.historyDetails = await page.evaluate(() => {
      const first = document.querySelector('#history-body tr[data-outcome]');
      let error = null;
      let timings = [];
      let open = false;
      for (let next = first.nextElementSibling; next && !next.dataset.outcome; next = next.nextElementSibling) {
        if (next.classList.contains('history-error-row')) error = next.textContent;
        if (next.classList.contains('history-more')) {
          open = !next.hidden;
          timings = Array.from(next.querySelectorAll('.timings tbody tr')).map((t) => Array.from(t.cells).map((c) => c.textContent));
        }
      }
      return { error, open, timings, actions: Array.from(first.querySelectorAll('button')).map((b) => b.textContent) };
    });
    // The history's Export JSON: a download of the records, in the CLI history's shape.
    const [exported] = await Promise.all([page.waitForEvent('download', { timeout: 10000 }), page.click('#history-export')]);
    report.exportName = exported.suggestedFilename();
    report.exported = JSON.parse(readFileSync(await exported.path(), 'utf8'));
    if (shots) {
      const path = join(shots, `${shotName}.png`);
      await page.screenshot({ path, fullPage: true });
      report.screenshot = path;
    }
  } finally {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

// This browser's processes (the one whose command line names `profile`, and all its
// descendants: renderers are forked by the zygote) as { type, rss }: the process type
// (--type=renderer, …; "browser" for the main one) and its resident bytes.
function browserProcesses(profile) {
  const parent = new Map();
  const cmdlines = new Map();
  const roots = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      parent.set(pid, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      cmdlines.set(pid, cmdline);
      if (cmdline.includes(profile)) roots.push(pid);
    } catch {
      // The process ended meanwhile.
    }
  }
  const ours = (pid) => {
    for (let p = pid, hops = 0; p && p !== '0' && hops < 64; p = parent.get(p), hops += 1) {
      if (roots.includes(p)) return true;
    }
    return false;
  };
  const out = [];
  for (const pid of parent.keys()) {
    if (!ours(pid)) continue;
    try {
      const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      const type = /--type=([a-z-]+)/.exec(cmdlines.get(pid))?.[1] ?? 'browser';
      if (kb) out.push({ type, rss: Number(kb[1]) * 1024 });
    } catch {
      // The process ended meanwhile.
    }
  }
  return out;
}

// Samples the browser's memory every `every` ms until stop(), with how far the pull is (the
// page's bar, 0–1): report.rss.trace [[fraction, MiB of the largest renderer, MiB of all
// processes]], and the largest renderer before the click.
function sampleRss(profile, every, page) {
  const renderer = (each) => Math.max(0, ...each.filter((p) => p.type === 'renderer').map((p) => p.rss));
  const mib = (n) => Math.round(n / 1048576);
  const result = { rendererBefore: mib(renderer(browserProcesses(profile))), trace: [] };
  let busy = false;
  const take = async () => {
    if (busy) return;
    busy = true;
    const each = browserProcesses(profile);
    const f = await page.evaluate(() => {
      const b = document.getElementById('pull-bar');
      return b.max > 1 ? b.value / b.max : 0;
    }).catch(() => null);
    result.trace.push([f, mib(renderer(each)), mib(each.reduce((a, p) => a + p.rss, 0))]);
    busy = false;
  };
  const timer = setInterval(take, every);
  return { stop: async () => { clearInterval(timer); await take(); return result; } };
}

main().catch((e) => {
  process.stderr.write(`browser driver: ${e.stack || e.message || e}\n`);
  process.exit(1);
});
