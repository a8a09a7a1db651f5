/* global document, window, location, history, localStorage, fetch, URLSearchParams */
// The dashboard page: the rollouts list at /, one rollout at /rollouts/<workflow id>. Plain DOM,
// text set with textContent only (rollout data never becomes markup), polled for live updates.
import {
  METRIC_HINTS,
  METRIC_LABELS,
  clockTime,
  dateTime,
  duration,
  formatValue,
  metricChart,
  plain,
  timeline,
} from './chart.js';

const TOKEN_KEY = 'agent-canary-token';
// Set when the dashboard refused the kept token: it belongs to another dashboard or an earlier start.
const STALE_KEY = 'agent-canary-token-stale';
const BY_KEY = 'agent-canary-by';
const LIST_POLL_MS = 3000;
const DETAIL_POLL_MS = 2000;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'text') el.textContent = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

// The token arrives in the URL fragment (never sent to a server), is kept, and leaves the address bar.
// Also when the link is opened in a tab already on the page (only the fragment changes then).
window.addEventListener('hashchange', () => {
  takeToken();
  showTokenState();
});
takeToken();
function takeToken() {
  const m = /(?:^#|&)token=([^&]+)/.exec(location.hash);
  if (m) {
    localStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
    localStorage.removeItem(STALE_KEY);
    history.replaceState(null, '', location.pathname + location.search);
  }
}

const token = () => localStorage.getItem(TOKEN_KEY) || '';

async function api(path, init = {}) {
  const res = await fetch(path, init);
  let body = null;
  try {
    body = await res.json();
  } catch {
    body = { error: `HTTP ${res.status}` };
  }
  if (!res.ok) {
    const err = new Error(body?.error || `HTTP ${res.status}`);
    err.status = res.status;
    err.problems = body?.problems;
    if (res.status === 401 && body?.token === 'wrong') {
      localStorage.setItem(STALE_KEY, '1');
      showTokenState();
    }
    throw err;
  }
  return body;
}

function badge(b, big = false) {
  return h(
    'span',
    { class: `badge tone-${b.tone}${big ? ' big' : ''}`, title: b.meaning, 'data-outcome': b.outcome },
    b.label,
  );
}

function ago(iso) {
  const ms = Date.now() - Date.parse(iso);
  if (ms < 60_000) return 'just now';
  return `${duration(ms)} ago`;
}

function time(iso) {
  const t = Date.parse(iso);
  return h('time', { datetime: iso, title: dateTime(t) }, clockTime(t));
}

function link(href, text, attrs = {}) {
  return h(
    'a',
    {
      href,
      ...attrs,
      onclick: (e) => {
        if (e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
        e.preventDefault();
        navigate(href);
      },
    },
    text,
  );
}

// ---- header ------------------------------------------------------------------------------------
function header() {
  const by = h('input', {
    id: 'by',
    value: localStorage.getItem(BY_KEY) || '',
    placeholder: 'your name',
    maxlength: 200,
    title: 'recorded as who acted, with every command',
    onchange: (e) => localStorage.setItem(BY_KEY, e.target.value.trim()),
  });
  const tokenState = h('button', { id: 'token-state', class: 'link', type: 'button' });
  tokenState.addEventListener('click', () => {
    const t = window.prompt(
      'Dashboard token (in the link `agent-canary dev` or `agent-canary ui` printed, after #token=):',
      '',
    );
    if (t !== null) {
      localStorage.setItem(TOKEN_KEY, t.trim());
      localStorage.removeItem(STALE_KEY);
    }
    showTokenState();
  });
  return h(
    'header',
    {},
    link('/', 'agent-canary', { class: 'brand' }),
    h('span', { class: 'sub' }, 'rollouts'),
    h('span', { class: 'spacer' }),
    h('label', {}, 'acting as ', by),
    tokenState,
  );
}

/** The header's token button: none, kept, or refused by this dashboard (stale). */
function showTokenState() {
  const el = document.getElementById('token-state');
  if (!el) return;
  const stale = token() && localStorage.getItem(STALE_KEY);
  el.textContent = stale ? 'token refused: set the new one' : token() ? 'token set ✓' : 'set token to act';
  el.className = stale ? 'link stale' : 'link';
  el.dataset.state = stale ? 'stale' : token() ? 'set' : 'none';
  el.title = stale
    ? 'this dashboard refused the kept token (it is from another dashboard or an earlier start): open the link `agent-canary dev` or `agent-canary ui` printed, or click to paste the token'
    : token()
      ? 'commands are sent with the dashboard token; click to change it'
      : 'buttons need the token in the link `agent-canary dev` or `agent-canary ui` printed';
}

// ---- list --------------------------------------------------------------------------------------
const OUTCOME_ORDER = [
  'progressing',
  'paused',
  'promoted',
  'rolled_back',
  'failed_to_start',
  'aborted',
  'failed',
  'terminated',
  'canceled',
  'timed_out',
  'unknown',
];

function listView(main) {
  const filters = h('div', { class: 'filters' });
  const table = h('table', { class: 'rollouts' });
  const note = h('p', { class: 'note' });
  main.replaceChildren(h('h1', {}, 'Rollouts'), filters, table, note);
  let shown = new Set();
  let rows = [];
  const draw = () => {
    const counts = {};
    for (const r of rows) counts[r.badge.outcome] = (counts[r.badge.outcome] || 0) + 1;
    filters.replaceChildren(
      ...OUTCOME_ORDER.filter((o) => counts[o]).map((o) => {
        const r = rows.find((x) => x.badge.outcome === o);
        return h(
          'button',
          {
            type: 'button',
            class: `chip tone-${r.badge.tone}${shown.has(o) ? ' on' : ''}`,
            'aria-pressed': shown.has(o) ? 'true' : 'false',
            onclick: () => {
              shown = shown.has(o) ? new Set([...shown].filter((x) => x !== o)) : new Set([...shown, o]);
              draw();
            },
          },
          `${r.badge.label} ${counts[o]}`,
        );
      }),
    );
    const visible = shown.size ? rows.filter((r) => shown.has(r.badge.outcome)) : rows;
    table.replaceChildren(
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['outcome', 'agent', 'stable → canary', 'canary share', 'started', 'took', 'why it ended'].map(
            (t) => h('th', {}, t),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        visible.map((r) => {
          const href = `/rollouts/${encodeURIComponent(r.workflowId)}?run=${encodeURIComponent(r.runId)}`;
          const took = r.closeTime
            ? duration(Date.parse(r.closeTime) - Date.parse(r.startTime))
            : `${duration(Date.now() - Date.parse(r.startTime))} so far`;
          return h(
            'tr',
            { 'data-workflow-id': r.workflowId, 'data-outcome': r.badge.outcome },
            h('td', {}, badge(r.badge)),
            h('td', { class: 'agent' }, link(href, r.agent)),
            // A promotion publishes the canary as the new stable: say so instead of "v2 → v2".
            h(
              'td',
              {},
              r.badge.outcome === 'promoted' && r.stable === r.canary
                ? `→ ${r.canary} (now stable)`
                : `${r.stable ?? '?'} → ${r.canary ?? '?'}`,
            ),
            h(
              'td',
              { class: 'num' },
              r.badge.outcome === 'progressing' || r.badge.outcome === 'paused' ? `${r.percent ?? 0}%` : '—',
            ),
            h('td', { class: 'when', title: ago(r.startTime) }, dateTime(Date.parse(r.startTime))),
            h('td', {}, took),
            h('td', { class: 'why', title: r.reason ?? '' }, r.reason ? plain(r.reason) : ''),
          );
        }),
      ),
    );
    note.textContent = rows.length
      ? ''
      : 'No rollouts yet: start one with `agent-canary start -f plan.yaml`.';
  };
  const refresh = async () => {
    try {
      rows = (await api('/api/rollouts')).rollouts;
      draw();
    } catch (err) {
      note.textContent = `Could not load rollouts: ${err.message}`;
    }
  };
  return { refresh, every: LIST_POLL_MS };
}

// ---- one rollout -------------------------------------------------------------------------------
const ACTION_WORDS = {
  started: 'started',
  stage_started: 'stage started',
  paused: 'paused',
  resumed: 'resumed',
  promoted_stage: 'promoted a stage',
  promoted: 'promoted',
  rolled_back: 'rolled back',
  aborted: 'aborted',
  inconclusive_streak: 'too little data',
  check_failed: 'check failed',
};

const BUTTONS = [
  {
    command: 'pause',
    label: 'Pause',
    hint: 'stop the observation clock; checks and automatic rollback go on',
  },
  { command: 'resume', label: 'Resume', hint: 'start the observation clock again' },
  {
    command: 'dismiss',
    label: 'Dismiss failed checks',
    hint: 'set the failed checks aside (and lift a pause on a failed check); the stage observes again from now',
  },
  {
    command: 'approve',
    label: 'Approve stage',
    hint: 'open this stage’s approval gate (recorded with your name)',
  },
  {
    command: 'extend',
    duration: '10m',
    label: 'Observe 10 min longer',
    hint: 'add 10 minutes to this stage’s observation window (within the progress deadline)',
  },
  { command: 'promote', label: 'Next stage now', hint: 'skip the rest of this stage' },
  { command: 'promote', full: true, label: 'Promote to 100%', hint: 'make the canary the new stable now' },
  { command: 'abort', label: 'Abort', hint: 'all traffic back to stable; needs a reason', danger: true },
];

/** When the rollout began: its first run's start (a run continued as new starts later). */
function startOf(d) {
  return Date.parse(d.history.startedAt ?? d.startTime);
}

function spanOf(d) {
  const from = startOf(d);
  const to = d.closeTime ? Date.parse(d.closeTime) : Date.now();
  return { from, to };
}

/** Stage stretches from the split changes: [{index, weight, from, to}]. */
function stageStretches(d, span) {
  const out = [];
  for (const s of d.stages) {
    if (!s.startedAt || s.weight >= 100) continue;
    out.push({
      index: s.index,
      weight: s.weight,
      from: Date.parse(s.startedAt),
      to: s.endedAt ? Date.parse(s.endedAt) : span.to,
    });
  }
  return out;
}

function pausedStretches(d, span) {
  const out = [];
  let open = null;
  for (const x of d.decisions) {
    if (x.action === 'paused' || x.action === 'inconclusive_streak') open ??= x;
    if ((x.action === 'resumed' || ['promoted', 'rolled_back', 'aborted'].includes(x.action)) && open) {
      out.push({ from: Date.parse(open.at), to: Date.parse(x.at), by: open.by, reason: open.reason });
      open = null;
    }
  }
  if (open) out.push({ from: Date.parse(open.at), to: span.to, by: open.by, reason: open.reason });
  return out;
}

/**
 * The stages still to come of a live rollout, laid out after the current one at their planned
 * windows, and when a healthy canary should be promoted: [{index, weight, from, to}], epoch ms.
 * The current stage ends when its window does, or later when a metric still has to be decided.
 */
function plannedAhead(d, now = Date.now()) {
  const s = d.status;
  if (!s || !['progressing', 'paused'].includes(s.state) || !d.stages.length) {
    return { planned: [], expectedEnd: null };
  }
  const left = d.holding
    ? Math.max(d.holding.windowLeftMs, d.holding.forecastMs ?? 0)
    : Math.max(0, s.remainingMs ?? 0);
  let t = now + left;
  // The rest of the current stage, then the stages after it.
  const cur = d.stages[s.stageIndex];
  const planned =
    cur && left > 0 ? [{ index: cur.index, weight: cur.weight, from: now, to: t, rest: true }] : [];
  for (const st of d.stages.slice(s.stageIndex + 1)) {
    if (st.weight >= 100) break;
    planned.push({ index: st.index, weight: st.weight, from: t, to: t + st.plannedObserveMs });
    t += st.plannedObserveMs;
  }
  // Paused: the clock is stopped, so no time can be promised.
  return { planned, expectedEnd: s.state === 'paused' ? null : t };
}

/** "stage 1 of 3 · canary 20% · then 50% · promotion expected about 12:34:56 (in 4m)" */
function stageCaptionParts(d, ahead, now = Date.now()) {
  const s = d.status;
  if (!s || !['progressing', 'paused'].includes(s.state)) {
    const run = d.stages.filter((st) => st.startedAt && st.weight < 100).length;
    const total = d.stages.filter((st) => st.weight < 100).length;
    return total ? [`${run} of ${total} stages run`] : [];
  }
  const later = d.stages
    .slice(s.stageIndex + 1)
    .map((st) => (st.weight >= 100 ? 'promotion' : `${st.weight}%`));
  return [
    h(
      'strong',
      { 'data-stage-of': `${s.stageIndex + 1}/${s.stageCount}` },
      `stage ${s.stageIndex + 1} of ${s.stageCount}`,
    ),
    ` · canary ${s.canaryPercent}%`,
    later.length ? ` · then ${later.join(', ')}` : '',
    ahead.expectedEnd
      ? h(
          'span',
          { class: 'expected-end' },
          ` · promotion expected about ${clockTime(ahead.expectedEnd)} (in ${duration(ahead.expectedEnd - now)}) if every stage passes on time`,
        )
      : s.state === 'paused'
        ? ' · paused: no end can be expected until it resumes'
        : '',
  ];
}

function statusLine(d) {
  const s = d.status;
  if (s && (s.state === 'progressing' || s.state === 'paused')) {
    const st = s.stages[s.stageIndex];
    const where =
      st?.shadow !== undefined
        ? `shadow stage: every user on stable, ${st.shadow}% of requests mirrored to the canary`
        : `canary at ${s.canaryPercent}%`;
    return (
      `stage ${s.stageIndex + 1} of ${s.stageCount}: ${where}, observed ${duration(s.observedMs)} of ${duration(st?.observeMs ?? 0)}` +
      `, failed checks ${s.failedChecks} of ${s.failureLimit} allowed` +
      (s.state === 'paused' ? ' — the clock is stopped' : '')
    );
  }
  const e = d.history.ending;
  if (e) return `${d.badge.label} at ${clockTime(Date.parse(e.at))}${e.reason ? `: ${plain(e.reason)}` : ''}`;
  return d.badge.meaning;
}

/** The online evaluator at the last check: down (and why) or up, and what this rollout spent. */
function evaluatorNote(e) {
  if (!e) return null;
  const spend = `${e.calls} evaluator call(s), ${e.tokens.toLocaleString('en-US')} tokens this rollout`;
  const up = e.state === 'ok' || e.state === 'waiting';
  return h(
    'p',
    { class: up ? 'note' : 'note evaluator-down' },
    up ? `Evaluator ${e.state}: ${spend}.` : `${plain(e.reason ?? `Evaluator ${e.state}`)}. ${spend}.`,
  );
}

/** A shadow stage's check: pairs judged blind in both orders, as win / tie / loss. */
function shadowNote(v) {
  if (!v) return null;
  const p = v.pairs;
  return h(
    'div',
    {},
    h(
      'p',
      { class: 'note shadow' },
      `Shadow stage: every user on stable, ${v.percent}% of requests mirrored (${v.mirrored} so far). ` +
        `${p.judged} pair(s) judged: ${p.wins} win / ${p.ties} tie / ${p.losses} loss for the canary.`,
    ),
    lossReasonsNote(v.lossReasons),
  );
}

/** The evaluator's reasons for the latest losses (kept only when the gateway is told to), as text. */
function lossReasonsNote(reasons) {
  if (!Array.isArray(reasons)) {
    return h(
      'p',
      { class: 'note' },
      'Loss reasons are not kept (they may quote users): set evaluate.keepLossReasons in the gateway config to see some.',
    );
  }
  if (reasons.length === 0) return h('p', { class: 'note' }, 'Loss reasons: none kept yet.');
  return h(
    'div',
    { class: 'note loss-reasons' },
    `The evaluator's reasons for the latest ${Math.min(reasons.length, 5)} loss(es) (the stable was answer A):`,
    // Text nodes only; a reason is the evaluator's words, not statistics for plain() to trim.
    h(
      'ul',
      {},
      reasons.slice(-5).map((r) => h('li', {}, String(r))),
    ),
  );
}

function lastCheckTable(d) {
  const c = d.history.checks.at(-1);
  if (!c) return h('p', { class: 'note' }, 'No check yet.');
  return h(
    'div',
    {},
    h(
      'p',
      {},
      `Last check at ${clockTime(Date.parse(c.at))}, canary at ${c.percent}%: `,
      h('strong', { class: `v-${c.verdict}` }, c.verdict === 'inconclusive' ? 'not yet' : c.verdict),
      ` (${c.stableRequests} stable and ${c.canaryRequests} canary requests since the stage began)`,
    ),
    evaluatorNote(c.evaluator),
    shadowNote(c.shadow),
    h(
      'table',
      { class: 'last-check' },
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          ['metric', 'stable', 'canary', 'samples (stable/canary)', 'verdict', 'why'].map((t) =>
            h('th', {}, t),
          ),
        ),
      ),
      h(
        'tbody',
        {},
        c.metrics.map((m) =>
          h(
            'tr',
            {},
            h('td', {}, METRIC_LABELS[m.metric] ?? m.metric),
            h('td', { class: 'num' }, formatValue(m.metric, m.stable)),
            h('td', { class: 'num' }, formatValue(m.metric, m.canary)),
            h('td', { class: 'num' }, `${m.stableSamples} / ${m.canarySamples}`),
            h(
              'td',
              {},
              h(
                'span',
                { class: `verdict v-${m.status}` },
                m.status === 'inconclusive' ? 'not yet' : m.status === 'nodata' ? 'no data' : m.status,
              ),
            ),
            h('td', { class: 'why', title: m.reason }, plain(m.reason)),
          ),
        ),
      ),
    ),
  );
}

function planTable(d) {
  if (!d.stages.length) return h('p', { class: 'note' }, 'The plan is not readable from this run.');
  return h(
    'table',
    { class: 'plan' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        [
          'stage',
          'canary share',
          'planned observation',
          'predicted to pass after',
          'took',
          'checks: ok / FAIL / not yet',
        ].map((t) => h('th', {}, t)),
      ),
    ),
    h(
      'tbody',
      {},
      d.stages.map((s) => {
        const took = s.startedAt
          ? (s.endedAt ? Date.parse(s.endedAt) : Date.now()) - Date.parse(s.startedAt)
          : null;
        return h(
          'tr',
          { class: s.startedAt ? '' : 'not-run' },
          h('td', {}, String(s.index + 1)),
          h('td', { class: 'num' }, s.shadow !== undefined ? `shadow ${s.shadow}%` : `${s.weight}%`),
          h('td', {}, s.weight >= 100 ? 'promotion' : duration(s.plannedObserveMs)),
          h(
            'td',
            { title: s.observedRps ? `at the ${s.observedRps.toFixed(1)} requests/s seen` : '' },
            s.predictedPassMs ? duration(s.predictedPassMs) : '—',
          ),
          h(
            'td',
            {},
            s.weight >= 100
              ? s.startedAt
                ? 'done'
                : 'not reached'
              : took === null
                ? 'not reached'
                : `${duration(took)}${s.endedAt ? '' : ' so far'}`,
          ),
          h(
            'td',
            { class: 'num' },
            s.weight >= 100 ? '' : `${s.checks.pass} / ${s.checks.fail} / ${s.checks.inconclusive}`,
          ),
        );
      }),
    ),
  );
}

function ledger(d) {
  return h(
    'table',
    { class: 'ledger' },
    h(
      'thead',
      {},
      h(
        'tr',
        {},
        ['when', 'what', 'who', 'why', 'canary'].map((t) => h('th', {}, t)),
      ),
    ),
    h(
      'tbody',
      {},
      [...d.decisions]
        .reverse()
        .map((x) =>
          h(
            'tr',
            { 'data-action': x.action },
            h('td', {}, time(x.at)),
            h('td', {}, h('span', { class: `action a-${x.action}` }, ACTION_WORDS[x.action] ?? x.action)),
            h('td', {}, x.by),
            h('td', { class: 'why', title: x.reason }, plain(x.reason)),
            h('td', { class: 'num' }, `${x.percent}%`),
          ),
        ),
    ),
  );
}

function detailView(main, workflowId, runId) {
  const title = h('h1', {});
  const sub = h('p', { class: 'sub' });
  const state = h('p', { class: 'state' });
  const headline = h('p', { class: 'headline', role: 'status' });
  const stageCaption = h('p', { class: 'stage-caption' });
  const links = h('p', { class: 'links' });
  const reason = h('input', {
    id: 'reason',
    placeholder: 'reason (recorded with the decision; an abort needs one)',
    maxlength: 2000,
  });
  const buttons = h('div', { class: 'buttons' });
  const message = h('p', { class: 'message', role: 'status' });
  const actions = h('section', { class: 'actions' }, h('h2', {}, 'Act'), reason, buttons, message);
  const tl = h('div', { class: 'timeline-box' });
  const charts = h('div', { class: 'charts' });
  const last = h('div');
  const plan = h('div');
  const decisions = h('div');
  main.replaceChildren(
    h('p', { class: 'crumbs' }, link('/', '← all rollouts')),
    title,
    sub,
    headline,
    state,
    links,
    actions,
    h('section', {}, h('h2', {}, 'Stages'), stageCaption, tl),
    h(
      'section',
      {},
      h('h2', {}, 'Canary against stable, per check'),
      h(
        'p',
        { class: 'legend' },
        h('span', { class: 'key stable' }, 'stable'),
        h('span', { class: 'key canary' }, 'canary'),
        ' — each canary point is one check: ',
        h('span', { class: 'key v-pass' }, 'ok'),
        h('span', { class: 'key v-fail' }, 'FAIL'),
        h('span', { class: 'key v-inconclusive' }, 'not yet (too little data)'),
        '; lines mark decisions (▲ stage, Ⅱ pause, ▶ resume, ↩ rollback, ★ promoted; hover for who and why)',
      ),
      charts,
    ),
    h('section', {}, h('h2', {}, 'Last check'), last),
    h('section', {}, h('h2', {}, 'Plan against what happened'), plan),
    h('section', {}, h('h2', {}, 'Decisions'), decisions),
  );
  let busy = false;
  let current = null;

  const send = async (b) => {
    if (busy) return;
    const why = reason.value.trim();
    if (b.command === 'abort' && !why) {
      message.textContent = 'An abort needs a reason: write it in the field above.';
      message.className = 'message bad';
      reason.focus();
      return;
    }
    if (!token()) {
      message.textContent =
        'Commands need the dashboard token: use the link `agent-canary ui` printed, or "set token to act" above.';
      message.className = 'message bad';
      return;
    }
    busy = true;
    message.textContent = `${b.label}: sending…`;
    message.className = 'message';
    try {
      const by = (localStorage.getItem(BY_KEY) || '').trim();
      const body = {
        ...(by ? { by } : {}),
        ...(why ? { reason: why } : {}),
        ...(b.full ? { full: true } : {}),
        ...(b.duration ? { duration: b.duration } : {}),
      };
      const r = await api(`/api/rollouts/${encodeURIComponent(workflowId)}/${b.command}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${token()}` },
        body: JSON.stringify(body),
      });
      const s = r.status;
      message.textContent = `${b.label}: done. Now ${s.state.replace('_', ' ')}, stage ${s.stageIndex + 1} of ${s.stageCount}, canary at ${s.canaryPercent}%.`;
      message.className = 'message good';
      reason.value = '';
    } catch (err) {
      message.textContent = `${b.label} refused: ${err.message}`;
      message.className = err.status === 401 ? 'message bad token' : 'message bad';
    } finally {
      busy = false;
      await refresh();
    }
  };

  const draw = (d) => {
    current = d;
    title.replaceChildren(d.agent, ' ', badge(d.badge, true));
    sub.textContent =
      `stable ${d.stable} → canary ${d.canary} · started ${dateTime(startOf(d))}` +
      (d.closeTime ? ` · ended ${dateTime(Date.parse(d.closeTime))}` : '');
    headline.textContent = d.headline ?? '';
    headline.hidden = !d.headline;
    headline.className = d.holding?.metric ? 'headline waiting' : 'headline';
    if (d.holding?.metric) headline.dataset.metric = d.holding.metric;
    else delete headline.dataset.metric;
    state.textContent = statusLine(d);
    links.replaceChildren(
      ...(d.temporalUrl
        ? [h('a', { href: d.temporalUrl, target: '_blank', rel: 'noopener' }, 'open in the Temporal Web UI')]
        : []),
      ...(d.statusNote ? [h('span', { class: 'note' }, d.statusNote)] : []),
    );
    actions.hidden = d.commands.length === 0;
    buttons.replaceChildren(
      ...BUTTONS.filter((b) => d.commands.includes(b.command)).map((b) =>
        h(
          'button',
          {
            type: 'button',
            class: b.danger ? 'danger' : '',
            title: b.hint,
            'data-command': b.command + (b.full ? '-full' : ''),
            disabled: busy,
            onclick: () => void send(b),
          },
          b.label,
        ),
      ),
    );
    const span = spanOf(d);
    const stages = stageStretches(d, span);
    const ahead = plannedAhead(d);
    stageCaption.replaceChildren(...stageCaptionParts(d, ahead));
    tl.replaceChildren(
      timeline({
        span,
        stages,
        planned: ahead.planned,
        expectedEnd: ahead.expectedEnd,
        pauses: pausedStretches(d, span),
        ending:
          d.history.ending && d.history.ending.kind !== 'continued_as_new'
            ? { at: d.history.ending.at, label: d.badge.label, tone: d.badge.tone }
            : null,
      }),
    );
    const metrics = d.history.plan?.analysis?.metrics ?? [
      ...new Set(d.history.checks.flatMap((c) => c.metrics.map((m) => m.metric))),
    ];
    charts.replaceChildren(
      ...metrics.map((metric) =>
        h(
          'figure',
          { class: 'metric' },
          h(
            'figcaption',
            {},
            h('strong', {}, METRIC_LABELS[metric] ?? metric),
            h('span', { class: 'hint' }, ` ${METRIC_HINTS[metric] ?? ''}`),
          ),
          metricChart({ metric, checks: d.history.checks, decisions: d.decisions, span, stages }),
        ),
      ),
    );
    last.replaceChildren(lastCheckTable(d));
    plan.replaceChildren(planTable(d));
    decisions.replaceChildren(ledger(d));
    document.title = `${d.agent}: ${d.badge.label} — agent-canary`;
  };

  const refresh = async () => {
    try {
      const q = runId ? `?runId=${encodeURIComponent(runId)}` : '';
      draw(await api(`/api/rollouts/${encodeURIComponent(workflowId)}${q}`));
    } catch (err) {
      if (!current)
        main.replaceChildren(
          h('p', { class: 'crumbs' }, link('/', '← all rollouts')),
          h('p', { class: 'message bad' }, err.message),
        );
      else message.textContent = `Could not refresh: ${err.message}`;
    }
  };
  return { refresh, every: DETAIL_POLL_MS, live: () => !current || current.executionStatus === 'RUNNING' };
}

// ---- routing -----------------------------------------------------------------------------------
let timer = null;
let generation = 0;
function route() {
  if (timer) clearTimeout(timer);
  const mine = ++generation;
  const main = document.querySelector('main');
  const m = /^\/rollouts\/([^/]+)\/?$/.exec(location.pathname);
  const view = m
    ? detailView(main, decodeURIComponent(m[1]), new URLSearchParams(location.search).get('run'))
    : listView(main);
  const loop = async () => {
    await view.refresh();
    // A page left while its request was out must not start polling again.
    if (mine === generation && (!view.live || view.live())) timer = setTimeout(loop, view.every);
  };
  void loop();
}

function navigate(href) {
  history.pushState(null, '', href);
  route();
}

window.addEventListener('popstate', route);
document.body.prepend(header());
showTokenState();
route();
