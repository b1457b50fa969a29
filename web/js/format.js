// Formatting of sizes, rates, durations, times and digests for display.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

/** `1536` → `"1.5 KiB"` (binary units, three significant digits). */
export function formatBytes(n) {
  if (!Number.isFinite(n) || n < 0) return '–';
  let i = 0;
  let v = n;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i += 1;
  }
  if (i === 0) return `${n} B`;
  const digits = v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${v.toFixed(digits)} ${UNITS[i]}`;
}

/** Bytes per second as `"12.3 MiB/s"`. */
export function formatRate(bytesPerSecond) {
  if (!Number.isFinite(bytesPerSecond) || bytesPerSecond <= 0) return '–';
  return `${formatBytes(Math.round(bytesPerSecond))}/s`;
}

/** Milliseconds as `"850 ms"`, `"4.2 s"`, `"3 min 05 s"`, `"1 h 02 min"`. */
export function formatDuration(ms) {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const total = Math.round(s);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = total % 60;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  return `${m} min ${String(sec).padStart(2, '0')} s`;
}

/** `"sha256:0123456789abcdef…"` → `"sha256:0123456789ab"`. */
export function shortDigest(digest) {
  if (typeof digest !== 'string') return '';
  const [algo, hex] = digest.includes(':') ? digest.split(':', 2) : ['', digest];
  const short = hex.slice(0, 12);
  return algo ? `${algo}:${short}` : short;
}

/** A date as local `"2024-05-01 14:03:22"`. */
export function formatTime(date) {
  const d = date instanceof Date ? date : new Date(date);
  if (Number.isNaN(d.getTime())) return '–';
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** Short name of a layer media type: `"tar"`, `"tar+gzip"`, `"tar+zstd"`, or the type. */
export function mediaTypeShort(mediaType) {
  if (typeof mediaType !== 'string') return '';
  const m = /(?:layer\.v1\.|\.rootfs\.diff\.)(tar(?:\.|\+)?(?:gzip|zstd)?)/.exec(mediaType);
  if (m) return m[1].replace('tar.', 'tar+');
  if (mediaType.endsWith('tar.gzip') || mediaType.endsWith('tar+gzip')) return 'tar+gzip';
  return mediaType;
}
