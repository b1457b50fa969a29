// Pushes a tar from the page `tug web` serves, as push.mjs does, but drives chromium over a
// bare DevTools pipe with only the Page, DOM and Runtime calls it needs: playwright enables
// the Network domain, and chromium then copies every request body it can see (an
// `ArrayBuffer` upload's, not a `Blob`'s) into a DevTools event, which would be measured as
// the page's cost. For comparing upload bodies (bench `--mode browser` with
// TUG_PAGE_DRIVER=push-bare.mjs); prints one JSON object like push.mjs's: state, status,
// timings.pushMs (click → outcome, in the page), sessionCpuS (the CPU chromium's processes
// and node used up to the close), profile.cpu with TUG_PROFILE_DIR.
//
// Environment: TUG_PAGE_URL, TUG_TAR, TUG_REGISTRY_URL, TUG_REPOSITORY (required);
// TUG_TRUST_CERT, TUG_CHUNK_MIB, TUG_UPLOAD_BODY, TUG_PROFILE_DIR, TUG_TIMEOUT_MS,
// TUG_CHROMIUM as push.mjs reads them.

import { spawn } from 'node:child_process';
import { required, spkiPin } from './driver-env.mjs';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cpuBetween, processTree, treeCpuSeconds } from './profile.mjs';

const env = process.env;

/** A DevTools connection over chromium's --remote-debugging-pipe (fd 3 in, fd 4 out). */
class Pipe {
  constructor(child) {
    this.out = child.stdio[3];
    this.next = 1;
    this.waiting = new Map();
    let buffered = '';
    child.stdio[4].on('data', (data) => {
      buffered += data.toString('utf8');
      let end;
      while ((end = buffered.indexOf('\0')) >= 0) {
        const message = JSON.parse(buffered.slice(0, end));
        buffered = buffered.slice(end + 1);
        const w = message.id && this.waiting.get(message.id);
        if (!w) continue;
        this.waiting.delete(message.id);
        if (message.error) w.reject(new Error(`${w.method}: ${message.error.message}`));
        else w.resolve(message.result);
      }
    });
  }

  send(method, params = {}, sessionId = undefined) {
    const id = this.next++;
    this.out.write(`${JSON.stringify({ id, method, params, sessionId })}\0`);
    return new Promise((resolve, reject) => this.waiting.set(id, { resolve, reject, method }));
  }
}

async function main() {
  const pageUrl = new URL(required('TUG_PAGE_URL'));
  if (env.TUG_UPLOAD_BODY) pageUrl.searchParams.set('uploadBody', env.TUG_UPLOAD_BODY);
  const tar = required('TUG_TAR');
  const registryUrl = required('TUG_REGISTRY_URL');
  const repository = required('TUG_REPOSITORY');
  const timeout = Number(env.TUG_TIMEOUT_MS || 120000);
  const executable = env.TUG_CHROMIUM || '/usr/bin/chromium';
  if (!existsSync(executable)) throw new Error(`${executable} not found: run scripts/install-deps.sh`);
  const profile = mkdtempSync(join(tmpdir(), 'tug-chromium-'));
  // push.mjs's switches, and those playwright adds to every chromium it launches that could
  // change how fast a page runs (throttling, backgrounding, IPC flooding protection,
  // features), so only the DevTools domains differ.
  const args = [
    '--headless', '--hide-scrollbars', '--mute-audio', '--no-sandbox', '--disable-gpu',
    '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage',
    '--disable-field-trial-config', '--disable-background-timer-throttling',
    '--disable-backgrounding-occluded-windows', '--disable-renderer-backgrounding',
    '--disable-back-forward-cache', '--disable-breakpad', '--disable-extensions',
    '--disable-component-extensions-with-background-pages', '--disable-default-apps',
    '--no-default-browser-check', '--allow-pre-commit-input', '--disable-hang-monitor',
    '--disable-ipc-flooding-protection', '--disable-popup-blocking', '--metrics-recording-only',
    '--password-store=basic', '--use-mock-keychain', '--no-service-autorun',
    '--disable-features=PaintHolding,OptimizationHints,MediaRouter,HttpsUpgrades,ThirdPartyStoragePartitioning',
    '--remote-debugging-pipe', `--user-data-dir=${profile}`, '--window-size=1280,900',
  ];
  if (env.TUG_TRUST_CERT) args.push(`--ignore-certificate-errors-spki-list=${spkiPin(env.TUG_TRUST_CERT)}`);
  args.push('about:blank');
  const child = spawn(executable, args, { stdio: ['ignore', 'ignore', 'ignore', 'pipe', 'pipe'] });
  const pipe = new Pipe(child);
  const report = { driver: 'push-bare', timings: {} };
  try {
    const { targetInfos } = await pipe.send('Target.getTargets');
    const target = targetInfos.find((t) => t.type === 'page');
    if (!target) throw new Error('chromium opened no page');
    const { sessionId } = await pipe.send('Target.attachToTarget', { targetId: target.targetId, flatten: true });
    const page = (method, params) => pipe.send(method, params, sessionId);
    // Evaluates `expression` in the page, awaiting a promise; returns its value.
    const evaluate = async (expression) => {
      const r = await page('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
      if (r.exceptionDetails) throw new Error(`in the page: ${r.exceptionDetails.exception?.description ?? r.exceptionDetails.text}`);
      return r.result.value;
    };
    // Resolves once `condition` (an expression) is true in the page, checked on every change.
    const until = (condition, ms) => evaluate(`new Promise((resolve, reject) => {
      const check = () => { if (${condition}) { observer.disconnect(); clearTimeout(timer); resolve(true); return true; } return false; };
      const observer = new MutationObserver(check);
      const timer = setTimeout(() => { observer.disconnect(); reject(new Error('timed out waiting for ' + ${JSON.stringify(condition)})); }, ${ms});
      if (!check()) observer.observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
    })`);

    await page('Page.navigate', { url: pageUrl.href });
    await new Promise((r) => setTimeout(r, 200)); // the navigation replaces about:blank's document
    await evaluate(`new Promise((r) => document.readyState === 'loading' ? addEventListener('DOMContentLoaded', r) : r())`);
    await until(`document.querySelector('#engine')?.dataset.state === 'ready'`, 30000);
    const { root } = await page('DOM.getDocument', { depth: 0 });
    const { nodeId } = await page('DOM.querySelector', { nodeId: root.nodeId, selector: '#file-input' });
    await page('DOM.setFileInputFiles', { nodeId, files: [tar] });
    await until(`!document.querySelector('#images').hidden || !document.querySelector('#error-panel').hidden`, 60000);
    const fields = { 'registry-url': registryUrl, repository };
    if (env.TUG_CHUNK_MIB) fields.chunk = env.TUG_CHUNK_MIB;
    await evaluate(`(() => {
      document.querySelector('details.advanced').open = true;
      for (const [id, value] of Object.entries(${JSON.stringify(fields)})) {
        const input = document.getElementById(id);
        input.value = value;
        input.dispatchEvent(new Event('input', { bubbles: true }));
        input.dispatchEvent(new Event('change', { bubbles: true }));
      }
    })()`);
    const cpuBefore = env.TUG_PROFILE_DIR ? processTree() : null;
    report.timings.pushMs = await evaluate(`new Promise((resolve, reject) => {
      const status = document.getElementById('status');
      const t0 = performance.now();
      const done = () => ['success', 'failed', 'cancelled'].includes(status.dataset.state);
      const observer = new MutationObserver(() => { if (done()) { observer.disconnect(); resolve(Math.round(performance.now() - t0)); } });
      observer.observe(status, { attributes: true });
      setTimeout(() => { observer.disconnect(); reject(new Error('the push took longer than ${timeout} ms')); }, ${timeout});
      document.getElementById('push').click();
    })`);
    if (cpuBefore) report.profile = { cpu: cpuBetween(cpuBefore, processTree()) };
    Object.assign(report, await evaluate(`({
      state: document.getElementById('status').dataset.state,
      status: document.getElementById('status-text')?.textContent ?? null,
      error: document.getElementById('error-panel').hidden ? null : document.getElementById('error-message')?.textContent,
    })`));
    // The session's CPU so far, renderers included (the bench counts it as the browser's).
    report.sessionCpuS = treeCpuSeconds();
  } finally {
    pipe.send('Browser.close').catch(() => {});
    await new Promise((r) => { child.once('exit', r); setTimeout(() => { child.kill('SIGKILL'); r(); }, 5000); });
    rmSync(profile, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
}

main().then(() => process.exit(0), (e) => {
  process.stderr.write(`push-bare: ${e.stack ?? e}\n`);
  process.exit(1);
});
