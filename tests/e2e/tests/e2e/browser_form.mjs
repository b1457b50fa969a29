// The page's push form in headless chromium (tests/e2e/tests/e2e/browser_form.rs): a push
// that fails, then a destination the form refuses. Reports what the page shows after each as
// one JSON object on stdout.
//
//   TUG_BROWSER_DIR    tests/browser (its playwright-core)
//   TUG_PAGE_URL       the page `tug web` serves
//   TUG_TAR            an image tar to pick
//   TUG_REGISTRY_URL   a registry the push fails on
//   TUG_CHROMIUM       the browser (default /usr/bin/chromium)
import { createRequire } from 'node:module';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const { chromium } = createRequire(join(env('TUG_BROWSER_DIR'), 'package.json'))('playwright-core');
const profile = mkdtempSync(join(tmpdir(), 'tug-chromium-'));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.TUG_CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-dev-shm-usage'],
});
const report = {};
try {
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(env('TUG_PAGE_URL'));
  await page.waitForSelector('#engine[data-state="ready"]', { timeout: 30000 });
  await page.setInputFiles('#file-input', env('TUG_TAR'));
  await page.waitForSelector('#images:not([hidden])', { timeout: 30000 });
  const seen = () => page.evaluate(() => ({
    state: document.querySelector('#status').dataset.state,
    status: document.querySelector('#status-text').textContent,
    errorPanel: !document.querySelector('#error-panel').hidden,
    formError: document.querySelector('#form-error').hidden ? null : document.querySelector('#form-error').textContent,
  }));
  await page.fill('#registry-url', env('TUG_REGISTRY_URL'));
  await page.fill('#repository', 'form/app:v1');
  await page.evaluate(() => { document.querySelector('details.advanced').open = true; });
  await page.fill('#retries', '1');
  await page.click('#push');
  await page.waitForSelector('#status[data-state="failed"]', { timeout: 60000 });
  report.failed = await seen();
  await page.fill('#repository', 'Form/Up:v1');
  await page.click('#push');
  await page.waitForSelector('#form-error:not([hidden])', { timeout: 10000 });
  report.refused = await seen();
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
console.log(JSON.stringify(report));
