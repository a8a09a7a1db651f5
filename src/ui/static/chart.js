/* global document */
// SVG charts for the rollout page, hand-written so the page needs no build step and no download:
// one chart per metric with stable and canary over time, each check's verdict on the canary's point,
// the stages as bands and each decision as a marked line; and the stage timeline.
const SVG = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs))
    if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children) if (c !== null && c !== undefined) el.append(c);
  return el;
}

const title = (text) => svg('title', {}, text);

export const METRIC_LABELS = {
  error_rate: 'Error rate',
  p99_latency_ms: 'p99 latency',
  task_success_rate: 'Task success',
  quality_score: 'Quality score',
  cost_per_request: 'Cost per request',
  output_tokens: 'Output tokens',
  input_tokens: 'Input tokens',
  ttft_p99_ms: 'p99 time to first token',
  tool_error_rate: 'Tool errors',
  truncation_rate: 'Answers cut off',
};

/** Which way is worse, said in words under each chart's title. */
export const METRIC_HINTS = {
  error_rate: 'lower is better',
  p99_latency_ms: 'lower is better',
  task_success_rate: 'higher is better, from feedback',
  quality_score: 'higher is better, from feedback',
  cost_per_request: 'lower is better, from the answers and the prices',
  output_tokens: 'lower is better, from the answers',
  input_tokens: 'lower is better, from the answers',
  ttft_p99_ms: 'lower is better, from streamed answers',
  tool_error_rate: 'lower is better, tool calls the client cannot run',
  truncation_rate: 'lower is better, out of tokens or filtered',
};

const FROM_ANSWERS = new Set([
  'cost_per_request',
  'output_tokens',
  'input_tokens',
  'ttft_p99_ms',
  'tool_error_rate',
  'truncation_rate',
]);

export function formatValue(metric, v) {
  if (v === null || v === undefined || !Number.isFinite(v)) return 'no data';
  if (
    metric === 'error_rate' ||
    metric === 'task_success_rate' ||
    metric === 'tool_error_rate' ||
    metric === 'truncation_rate'
  ) {
    const pct = v * 100;
    return `${pct < 10 ? pct.toFixed(1) : pct.toFixed(0)}%`;
  }
  if (metric === 'cost_per_request') return `$${v < 0.01 ? v.toPrecision(2) : v.toFixed(3)}`;
  if (metric === 'output_tokens' || metric === 'input_tokens') return `${Math.round(v)} tokens`;
  if (metric === 'p99_latency_ms' || metric === 'ttft_p99_ms')
    return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${Math.round(v)} ms`;
  return v.toFixed(2);
}

export function clockTime(ms) {
  return new Date(ms).toLocaleTimeString([], {
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hour12: false,
  });
}

/** The page's one date format: 2026-12-05 14:03:07, local time (the clock of clockTime). */
export function dateTime(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${clockTime(ms)}`;
}

/**
 * The judges' reasons carry statistics for experts (likelihood ratio, p-value): the page keeps the
 * words and the counts, the raw figures stay in the tooltip and in `agent-canary status --json`.
 */
export function plain(reason) {
  return String(reason ?? '')
    .replace(/\bLR [-+.\deE]+(,\s*|;\s*)?/g, '')
    .replace(/\bp=[-+.\deE]+(;\s*|,\s*)?/g, '')
    .replace(/\(\s*\)/g, '')
    .replace(/\(\s+/g, '(')
    .trim();
}

export function duration(ms) {
  if (!Number.isFinite(ms)) return '—';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return s % 60 ? `${m}m ${s % 60}s` : `${m}m`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h}h ${m % 60}m` : `${h}h`;
}

const VERDICT_WORD = { pass: 'ok', fail: 'FAIL', inconclusive: 'not yet', nodata: 'no data' };

/** Nice round ticks between lo and hi. */
function ticks(lo, hi, count) {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(t);
  return out;
}

/** Glyph width in chart units: closer decisions go on another row. */
const GLYPH_W = 12;

const DECISION_MARKS = {
  stage_started: { glyph: '▲', cls: 'stage' },
  paused: { glyph: 'Ⅱ', cls: 'pause' },
  resumed: { glyph: '▶', cls: 'resume' },
  promoted_stage: { glyph: '⏭', cls: 'promote' },
  promoted: { glyph: '★', cls: 'good' },
  rolled_back: { glyph: '↩', cls: 'bad' },
  aborted: { glyph: '■', cls: 'bad' },
  check_failed: { glyph: '✕', cls: 'bad' },
  inconclusive_streak: { glyph: '?', cls: 'pause' },
};

/**
 * One metric's chart. `checks` are the history's check points, `decisions` the ledger, `span`
 * {from, to} in epoch ms, `stages` [{from, to, weight}] for the bands.
 */
export function metricChart({ metric, checks, decisions, span, stages }) {
  const W = 560;
  const H = 226;
  const M = { l: 58, r: 12, t: 40, b: 26 };
  const points = checks
    .map((c) => ({ c, m: c.metrics.find((x) => x.metric === metric) }))
    .filter((p) => p.m)
    .map(({ c, m }) => ({ t: Date.parse(c.at), stable: m.stable, canary: m.canary, m, check: c }));
  const values = points.flatMap((p) => [p.stable, p.canary]).filter((v) => Number.isFinite(v));
  let lo = values.length ? Math.min(...values) : 0;
  let hi = values.length ? Math.max(...values) : 1;
  const quantileMetric = metric === 'p99_latency_ms' || metric === 'ttft_p99_ms';
  if (!quantileMetric) lo = Math.min(lo, 0);
  // Latency ticks are whole milliseconds: a span under 10 ms would label "1 ms" twice.
  if (quantileMetric && hi - lo < 10) {
    const mid = (hi + lo) / 2;
    lo = Math.max(0, mid - 5);
    hi = lo + 10;
  }
  if (metric === 'task_success_rate' || metric === 'quality_score') hi = Math.max(hi, Math.min(1, hi * 1.05));
  if (hi === lo) hi = lo + (lo === 0 ? 1 : Math.abs(lo) * 0.2);
  const pad = (hi - lo) * 0.08;
  hi += pad;
  if (lo !== 0) lo -= pad;
  const from = span.from;
  const to = Math.max(span.to, from + 1000);
  const x = (t) => M.l + ((t - from) / (to - from)) * (W - M.l - M.r);
  const y = (v) => H - M.b - ((v - lo) / (hi - lo)) * (H - M.t - M.b);

  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'chart',
    role: 'img',
    'data-metric': metric,
    'data-points': points.length,
    'aria-label': `${METRIC_LABELS[metric] ?? metric}: stable and canary over time`,
  });
  // Stage bands, with the canary share written on each.
  stages.forEach((s, i) => {
    const x0 = x(Math.max(from, s.from));
    const x1 = x(Math.min(to, s.to));
    if (x1 <= x0) return;
    root.append(
      svg('rect', { x: x0, y: M.t, width: x1 - x0, height: H - M.t - M.b, class: `band band-${i % 2}` }),
      svg('text', { x: x0 + 4, y: M.t + 12, class: 'band-label' }, `${s.weight}%`),
    );
  });
  // Axes and grid; no value axis without values (it would only show made-up numbers).
  for (const t of values.length ? ticks(lo, hi, 4) : []) {
    root.append(
      svg('line', { x1: M.l, x2: W - M.r, y1: y(t), y2: y(t), class: 'grid' }),
      svg('text', { x: M.l - 6, y: y(t) + 4, class: 'tick', 'text-anchor': 'end' }, formatValue(metric, t)),
    );
  }
  const xTicks = 4;
  for (let i = 0; i <= xTicks; i++) {
    const t = from + ((to - from) * i) / xTicks;
    root.append(
      svg(
        'text',
        {
          x: x(t),
          y: H - 8,
          class: 'tick',
          'text-anchor': i === 0 ? 'start' : i === xTicks ? 'end' : 'middle',
        },
        clockTime(t),
      ),
    );
  }
  // Decisions: a line and a glyph at the top, the words in the tooltip. Glyphs closer than a glyph's
  // width (a failed check and the rollback it caused) go on a second and third row instead of overlapping.
  const rowEnds = [];
  const sorted = [...decisions].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  for (const d of sorted) {
    const mark = DECISION_MARKS[d.action];
    if (!mark) continue;
    const t = Date.parse(d.at);
    if (t < from || t > to) continue;
    let row = rowEnds.findIndex((end) => x(t) - end >= GLYPH_W);
    if (row === -1) row = rowEnds.length < 3 ? rowEnds.length : rowEnds.indexOf(Math.min(...rowEnds));
    rowEnds[row] = x(t);
    root.append(
      svg(
        'g',
        { class: `decision ${mark.cls}`, 'data-action': d.action },
        title(`${clockTime(t)} ${d.action.replace(/_/g, ' ')} by ${d.by}: ${d.reason}`),
        svg('line', { x1: x(t), x2: x(t), y1: M.t, y2: H - M.b }),
        svg('text', { x: x(t), y: M.t - 6 - row * 11, 'text-anchor': 'middle', 'data-row': row }, mark.glyph),
      ),
    );
  }
  // The two series: stable as a thin line, the canary bold with its verdict on every point.
  for (const series of ['stable', 'canary']) {
    const pts = points.filter((p) => Number.isFinite(p[series]));
    if (pts.length > 1) {
      root.append(
        svg('polyline', {
          points: pts.map((p) => `${x(p.t).toFixed(1)},${y(p[series]).toFixed(1)}`).join(' '),
          class: `line ${series}`,
        }),
      );
    }
    for (const p of pts) {
      const status = series === 'canary' ? p.m.status : 'stable';
      const tip =
        `${clockTime(p.t)}, canary at ${p.check.percent}%: stable ${formatValue(metric, p.stable)} ` +
        `vs canary ${formatValue(metric, p.canary)} (n=${p.m.stableSamples}/${p.m.canarySamples}) — ` +
        `${VERDICT_WORD[p.m.status] ?? p.m.status}${p.m.reason ? `: ${p.m.reason}` : ''}`;
      root.append(
        svg(
          'circle',
          {
            cx: x(p.t).toFixed(1),
            cy: y(p[series]).toFixed(1),
            r: series === 'canary' ? (status === 'fail' ? 5 : 4) : 2.5,
            class: `pt ${series} v-${status}`,
            'data-series': series,
            'data-verdict': series === 'canary' ? p.m.status : undefined,
          },
          title(tip),
        ),
      );
    }
  }
  if (values.length === 0) {
    const why =
      points.length === 0
        ? 'no checks yet'
        : metric === 'task_success_rate' || metric === 'quality_score'
          ? 'no data yet: this metric comes only from feedback (POST /v1/feedback)'
          : FROM_ANSWERS.has(metric)
            ? 'no data yet: no answer has said it (see docs/signals.md)'
            : 'no data yet';
    root.append(svg('text', { x: W / 2, y: H / 2, class: 'empty', 'text-anchor': 'middle' }, why));
  }
  return root;
}

/**
 * The stage timeline: one segment per stage run so far (width = its time), the stages still to come
 * dashed at their planned length after it, paused stretches hatched and labelled, the end marked
 * with the outcome (or the expected promotion while it runs).
 */
export function timeline({ span, stages, planned = [], pauses, ending, expectedEnd = null }) {
  const W = 1000;
  const H = 58;
  const from = span.from;
  const to = Math.max(span.to, from + 1000, ...planned.map((p) => p.to));
  const x = (t) => 8 + ((t - from) / (to - from)) * (W - 16);
  const root = svg('svg', {
    viewBox: `0 0 ${W} ${H}`,
    class: 'timeline',
    role: 'img',
    'aria-label': 'stage timeline',
  });
  root.append(
    svg(
      'defs',
      {},
      svg(
        'pattern',
        { id: 'hatch', width: 6, height: 6, patternUnits: 'userSpaceOnUse', patternTransform: 'rotate(45)' },
        svg('rect', { width: 3, height: 6, class: 'hatch' }),
      ),
    ),
  );
  const segment = (s, i, kind) => {
    const x0 = x(s.from);
    const x1 = Math.max(x0 + 2, x(s.to));
    const words = s.rest
      ? `stage ${s.index + 1}: about ${duration(s.to - s.from)} left`
      : kind === 'planned'
        ? `stage ${s.index + 1}: canary at ${s.weight}%, planned for ${duration(s.to - s.from)} from about ${clockTime(s.from)}`
        : `stage ${s.index + 1}: canary at ${s.weight}% from ${clockTime(s.from)} for ${duration(s.to - s.from)}`;
    const cls = kind === 'planned' ? (s.rest ? 'segment planned rest' : 'segment planned') : 'segment';
    return svg(
      'g',
      { class: cls, 'data-stage': s.index },
      title(words),
      svg('rect', {
        x: x0,
        y: 8,
        width: x1 - x0,
        height: 26,
        rx: 3,
        class: kind === 'planned' ? 'seg seg-planned' : `seg seg-${i % 2}`,
      }),
      x1 - x0 > 70
        ? svg(
            'text',
            { x: x0 + 6, y: 26, class: 'seg-label' },
            s.rest ? `${duration(s.to - s.from)} left` : `stage ${s.index + 1} · ${s.weight}%`,
          )
        : null,
    );
  };
  stages.forEach((s, i) => root.append(segment(s, i, 'run')));
  planned.forEach((s, i) => root.append(segment(s, i, 'planned')));
  for (const p of pauses) {
    const x0 = x(p.from);
    const x1 = Math.max(x0 + 2, x(p.to));
    root.append(
      svg(
        'g',
        { class: 'pause-band' },
        title(`paused ${duration(p.to - p.from)} by ${p.by}: ${p.reason}`),
        svg('rect', { x: x0, y: 8, width: x1 - x0, height: 26, class: 'paused', fill: 'url(#hatch)' }),
        // The hatching alone read as "something wrong with the bar": say what it is.
        svg('text', { x: x0, y: 44, class: 'pause-label' }, `Ⅱ paused ${duration(p.to - p.from)}`),
      ),
    );
  }
  if (ending) {
    const t = Date.parse(ending.at);
    root.append(
      svg(
        'g',
        { class: `end ${ending.tone}` },
        title(`${ending.label} at ${clockTime(t)}`),
        svg('line', { x1: x(t), x2: x(t), y1: 4, y2: 38 }),
      ),
    );
  } else if (expectedEnd) {
    root.append(
      svg(
        'g',
        { class: 'end expected' },
        title(`promotion expected about ${clockTime(expectedEnd)} if every stage passes on time`),
        svg('line', { x1: x(expectedEnd), x2: x(expectedEnd), y1: 4, y2: 38 }),
      ),
    );
  }
  root.append(
    svg('text', { x: 8, y: H - 2, class: 'tick' }, clockTime(from)),
    svg('text', { x: W - 8, y: H - 2, class: 'tick', 'text-anchor': 'end' }, clockTime(to)),
  );
  return root;
}
