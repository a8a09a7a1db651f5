// What the demo prints while it runs: one line per decision and per check, and on a terminal a
// footer with the live traffic, redrawn in place. Piped output (CI) gets plain lines only.
import type { MetricResult } from '../analysis/types';
import { formatMetricValue } from '../notify/format';
import { rolloutUrl } from '../notify/format';
import { plainReason } from '../ui/plain';
import type { RolloutStatus } from '../../workflows/messages';
import { endedAsExpected, type DemoRollout } from './result';
import type { Traffic } from './traffic';

export interface Printer {
  line(text: string): void;
  event(agent: string, text: string): void;
  /** How a rollout ended (promoted, rolled back...), with the workflow's reason. */
  outcome(agent: string, state: string, reason: string): void;
  /** Polls a rollout's status and prints what changed, until stop(). */
  watch(agent: string, status: () => Promise<RolloutStatus>, traffic?: Traffic): { stop(): Promise<void> };
  /** The closing table: one row per rollout, with links to its pages. */
  summary(results: DemoRollout[], ok: boolean, links: SummaryLinks): void;
  /** What the columns of a check line mean, printed once before the first. */
  legend(): void;
  close(): void;
}

export interface SummaryLinks {
  uiUrl: string | null;
  namespace: string;
  dashboard: { rolloutUrl(workflowId: string): string } | null;
}

export const LEGEND =
  'each check: canary share, verdict (pass / not yet / fail n of the limit), then per metric ' +
  'stable/canary and ok (no worse), FAIL (worse) or … (too little data yet); n = requests stable/canary';

/** The canary share a check ran at: that of the stage whose window it read (the poll may be later). */
export function checkPercent(s: RolloutStatus): number {
  const a = s.lastAnalysis;
  if (!a) return s.canaryPercent;
  const stages = s.decisions.filter((d) => d.action === 'stage_started');
  const exact = stages.find((d) => d.at === a.windowStart);
  if (exact) return exact.percent;
  const before = stages.filter((d) => d.at <= a.at).at(-1);
  return before ? before.percent : s.canaryPercent;
}

/** "stage 2: canary at 50% (stage 1 healthy after 3 passing checks)"; no reason that repeats the stage. */
export function describeStage(d: RolloutStatus['decisions'][number]): string {
  const head = `stage ${d.stageIndex + 1}: canary at ${d.percent}%`;
  const redundant = /^stage \d+: [\d.]+%$/.test(d.reason.trim());
  const who = d.by && d.by !== 'agent-canary' ? `by ${d.by}` : '';
  const why = redundant ? '' : d.reason;
  const tail = [who, why].filter(Boolean).join(': ');
  return tail ? `${head} (${tail})` : head;
}

const COLORS = { red: 31, green: 32, yellow: 33, dim: 2, bold: 1 } as const;
type Color = keyof typeof COLORS;

const SHORT: Record<string, string> = {
  error_rate: 'errors',
  p99_latency_ms: 'p99',
  task_success_rate: 'success',
  quality_score: 'quality',
};

export function clock(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

/** "errors 1.0%/15.2% fail" per metric: stable first, canary second. */
export function compactMetric(m: MetricResult, paint: (c: Color, t: string) => string): string {
  const status =
    m.status === 'fail' ? paint('red', 'FAIL') : m.status === 'pass' ? paint('green', 'ok') : '…';
  return `${SHORT[m.metric] ?? m.metric} ${formatMetricValue(m.metric, m.stable)}/${formatMetricValue(m.metric, m.canary)} ${status}`;
}

export function createProgressPrinter(o: {
  tty: boolean;
  write: (text: string) => void;
  startedAt: number;
  pollMs?: number;
}): Printer {
  const paint = (c: Color, t: string) => (o.tty ? `\x1b[${COLORS[c]}m${t}\x1b[0m` : t);
  const footers = new Map<string, string>();
  let footerShown = false;
  const width = 12;

  const clearFooter = () => {
    if (o.tty && footerShown) o.write('\r\x1b[K');
    footerShown = false;
  };
  const drawFooter = () => {
    if (!o.tty || footers.size === 0) return;
    const text = [...footers.entries()].map(([a, f]) => `${a} ${f}`).join('  |  ');
    o.write(`\r\x1b[K${paint('dim', text.slice(0, (process.stdout.columns || 160) - 1))}`);
    footerShown = true;
  };
  const line = (text: string) => {
    clearFooter();
    o.write(`${paint('dim', clock(Date.now() - o.startedAt).padStart(5))}  ${text}\n`);
    drawFooter();
  };
  const event = (agent: string, text: string) => line(`${paint('bold', agent.padEnd(width))} ${text}`);

  function describeDecision(d: RolloutStatus['decisions'][number]): string {
    switch (d.action) {
      case 'stage_started':
        return describeStage(d);
      case 'check_failed':
        return paint('yellow', `check failed: ${plainReason(d.reason)}`);
      default:
        return `${d.action.replace('_', ' ')}: ${plainReason(d.reason)}`;
    }
  }

  let legendShown = false;
  const legend = () => {
    legendShown = true;
    line(paint('dim', LEGEND));
  };

  const outcome = (agent: string, state: string, raw: string) => {
    const reason = plainReason(raw);
    if (state === 'promoted')
      event(agent, paint('green', `PROMOTED: the canary is the new stable (${reason})`));
    else if (state === 'rolled_back') event(agent, paint('red', `ROLLED BACK to stable 100% (${reason})`));
    else event(agent, paint('yellow', `ended ${state}: ${reason}`));
  };

  return {
    line,
    event,
    outcome,
    watch(agent, status, traffic) {
      let seenDecisions = 0;
      let lastCheck = '';
      let checks = 0;
      let stopped = false;
      const poll = async () => {
        let s: RolloutStatus;
        try {
          s = await status();
        } catch {
          return; // a missed poll only delays the next line
        }
        for (const d of s.decisions.slice(seenDecisions)) {
          // A failed check is shown with its metrics below; the decision line would repeat it.
          // Final decisions are printed from the workflow's result by outcome().
          if (!['check_failed', 'started', 'promoted', 'rolled_back', 'aborted'].includes(d.action)) {
            event(agent, describeDecision(d));
          }
        }
        seenDecisions = s.decisions.length;
        const a = s.lastAnalysis;
        if (a && a.at !== lastCheck) {
          lastCheck = a.at;
          checks++;
          const verdict =
            a.verdict === 'fail'
              ? paint('red', `fail ${a.failedChecks}/${s.failureLimit}`)
              : a.verdict === 'pass'
                ? paint('green', 'pass')
                : paint('yellow', 'not yet');
          const metrics = a.metrics.map((m) => compactMetric(m, paint)).join(', ');
          const n = a.metrics[0] ? ` n=${a.metrics[0].stableSamples}/${a.metrics[0].canarySamples}` : '';
          event(
            agent,
            `${String(checkPercent(s)).padStart(3)}%  check ${checks}: ${verdict}  ${metrics}${n}`,
          );
        }
        if (traffic) {
          const t = traffic.stats();
          const versions = Object.entries(t.byVersion)
            .sort()
            .map(([v, x]) => `${v} ${x.requests}`)
            .join(' ');
          footers.set(agent, `${s.canaryPercent}% canary, ${t.sent} sent (${versions})`);
          drawFooter();
        }
      };
      if (!legendShown) legend();
      const loop = (async () => {
        while (!stopped) {
          await poll();
          if (stopped) break;
          await new Promise((r) => setTimeout(r, o.pollMs ?? 1000));
        }
        await poll(); // the last decisions (promoted, rolled back) before the watch ends
        footers.delete(agent);
      })();
      return {
        stop: async () => {
          stopped = true;
          await loop;
        },
      };
    },
    legend,
    summary(results, ok, links) {
      line(paint('bold', 'result:'));
      for (const row of summaryTable(results, links)) line(`  ${row}`);
      line(ok ? paint('green', 'demo succeeded') : paint('red', 'demo FAILED'));
    },
    close() {
      clearFooter();
      footers.clear();
    },
  };
}

const STATE_WORDS: Record<string, string> = {
  promoted: 'promoted',
  rolled_back: 'rolled back',
  aborted: 'aborted',
  unfinished: 'unfinished',
};

/** The closing table as aligned lines: agent, how it ended against what was expected, the split, links. */
export function summaryTable(results: DemoRollout[], links: SummaryLinks): string[] {
  const rows = results.map((r) => {
    const split = r.finalSplit
      ? `${r.finalSplit.stable} 100%` +
        (r.finalSplit.canaryWeight > 0 ? ` (${r.finalSplit.canary} still ${r.finalSplit.canaryWeight}%)` : '')
      : 'unknown';
    const workflowId = `canary-${r.agent}`;
    const page =
      links.dashboard?.rolloutUrl(workflowId) ??
      rolloutUrl(links.uiUrl ?? undefined, links.namespace, workflowId);
    return [
      r.agent,
      `${r.stable} -> ${r.canary}`,
      STATE_WORDS[r.state] ?? r.state,
      endedAsExpected(r) ? 'yes' : `NO (expected ${STATE_WORDS[r.expected] ?? r.expected})`,
      split,
      page ?? '',
    ];
  });
  const head = ['agent', 'versions', 'outcome', 'as expected', 'traffic now', 'details'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [fmt(head), ...rows.map(fmt)];
}
