// Where a page's push spends the browser's CPU (TUG_PROFILE_DIR in push.mjs): the CPU time of
// every thread of every process below this node process (chromium's browser, renderer,
// network and GPU processes), read from /proc before and after, and a CDP CPU profile of the
// page's main thread (JS and wasm) summarised by function.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function read(path) {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** [ppid, utime + stime ticks] from a /proc stat line (the name may hold spaces). */
function statFields(text) {
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { ppid: Number(rest[1]), ticks: Number(rest[11]) + Number(rest[12]) };
}

/** Every process below `root`, with its chromium type and each thread's CPU ticks by name. */
export function processTree(root = process.pid) {
  const all = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const stat = read(`/proc/${name}/stat`);
    if (stat) all.set(Number(name), statFields(stat).ppid);
  }
  const below = new Set([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const [pid, ppid] of all) {
      if (!below.has(pid) && below.has(ppid)) {
        below.add(pid);
        grew = true;
      }
    }
  }
  below.delete(root);
  const out = [];
  for (const pid of below) {
    // chromium rewrites its children's command lines into one space-separated string.
    const cmdline = (read(`/proc/${pid}/cmdline`) ?? '').split(/[\0 ]/);
    const flag = (f) => cmdline.find((a) => a.startsWith(`--${f}=`))?.split('=')[1];
    const kind = flag('utility-sub-type') ?? flag('type') ?? (cmdline[0].includes('chrom') ? 'browser' : cmdline[0]);
    const threads = {};
    let tasks = [];
    try {
      tasks = readdirSync(`/proc/${pid}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      const stat = read(`/proc/${pid}/task/${tid}/stat`);
      if (!stat) continue;
      const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')).replace(/[0-9]+$/, '');
      threads[comm] = (threads[comm] ?? 0) + statFields(stat).ticks;
    }
    out.push({ pid, kind, threads });
  }
  return out;
}

/** CPU seconds every process below this node process has used so far, and node's own: what
 *  a session's GNU time misses of chromium's processes that are not waited for (renderers). */
export function treeCpuSeconds() {
  const ticks = processTree().reduce((sum, p) => sum + Object.values(p.threads).reduce((a, b) => a + b, 0), 0);
  const own = process.cpuUsage();
  return ticks / TICKS_PER_SECOND + (own.user + own.system) / 1e6;
}

/** CPU seconds per process and thread name spent between two `processTree` snapshots. */
export function cpuBetween(before, after) {
  const was = new Map(before.map((p) => [p.pid, p]));
  const rows = [];
  for (const p of after) {
    const old = was.get(p.pid)?.threads ?? {};
    const threads = Object.entries(p.threads)
      .map(([name, t]) => [name, (t - (old[name] ?? 0)) / TICKS_PER_SECOND])
      .filter(([, s]) => s > 0)
      .sort((a, b) => b[1] - a[1]);
    const total = threads.reduce((s, [, v]) => s + v, 0);
    if (total > 0) rows.push({ pid: p.pid, kind: p.kind, cpu: +total.toFixed(2), threads: threads.map(([n, s]) => `${n} ${s.toFixed(2)}`) });
  }
  return rows.sort((a, b) => b.cpu - a.cpu);
}

/** Starts a CPU profile of the page's main thread (JS and wasm). */
export async function startPageProfile(context, page) {
  const cdp = await context.newCDPSession(page);
  await cdp.send('Profiler.enable');
  await cdp.send('Profiler.setSamplingInterval', { interval: 250 });
  await cdp.send('Profiler.start');
  return cdp;
}

/** Starts a chromium performance trace of the whole browser (DIR/trace.json, for
 *  chrome://tracing or DevTools), when the context's browser can be traced. */
export async function startTrace(context, page, dir) {
  const browser = context.browser();
  if (!browser) return false;
  await browser.startTracing(page, {
    path: join(dir, 'trace.json'),
    screenshots: false,
    categories: ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'blink', 'cc', 'viz', 'gpu', 'netlog', 'disabled-by-default-netlog', 'v8', 'toplevel', 'loading', 'navigation', 'renderer.scheduler', 'ipc', 'mojom', 'base', 'net', 'Blob', 'storage'],
  });
  return true;
}

/** Stops the profile, writes it to `dir/page.cpuprofile` (DevTools opens it) and returns the
 *  functions with the most self time. */
export async function stopPageProfile(cdp, dir) {
  const { profile } = await cdp.send('Profiler.stop');
  writeFileSync(join(dir, 'page.cpuprofile'), JSON.stringify(profile));
  const byNode = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  for (let i = 0; i < profile.samples.length; i++) {
    const node = byNode.get(profile.samples[i]);
    const dt = (profile.timeDeltas[i + 1] ?? 0) / 1000; // ms
    const f = node.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url ? f.url.split('/').pop() : ''}`.trim();
    self.set(key, (self.get(key) ?? 0) + dt);
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  return {
    sampledMs: Math.round(total),
    top: [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 20).map(([k, ms]) => `${k}: ${ms.toFixed(1)} ms`),
  };
}
