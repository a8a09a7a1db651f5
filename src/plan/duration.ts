// Durations as people write them in plans and flags: "500ms", "30s", "5m", "1h30m", "2h", or a
// bare number of milliseconds. Parsed once at the boundary; everything inside works in ms.
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** No duration anywhere is longer than this (a year): beyond it timers and dates stop making sense. */
export const MAX_DURATION_MS = 365 * 86_400_000;

export function parseDuration(input: string | number): number {
  const ms = parseUnbounded(input);
  if (!Number.isFinite(ms) || ms > MAX_DURATION_MS) {
    throw new Error(`${quote(input)} is too long: durations are at most 365d`);
  }
  return ms;
}

function quote(input: string | number): string {
  const text = String(input);
  return `"${text.length > 40 ? `${text.slice(0, 40)}…` : text}"`;
}

function parseUnbounded(input: string | number): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new Error(`${quote(input)} is not a duration`);
    return input;
  }
  if (input.length > 100) throw new Error(`${quote(input)} is not a duration (too long)`);
  const text = input.trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  let total = 0;
  PART.lastIndex = 0;
  let pos = 0;
  while (pos < text.length) {
    PART.lastIndex = pos;
    const m = PART.exec(text);
    if (!m) throw new Error(`${quote(input)} is not a duration (use e.g. 30s, 5m, 1h30m)`);
    total += Number(m[1]) * UNIT_MS[m[2]];
    pos = PART.lastIndex;
  }
  if (text.length === 0) throw new Error('empty duration');
  return total;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', sec || (!h && !m) ? `${sec}s` : ''].join('');
}
