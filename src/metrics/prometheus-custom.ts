// The plan's custom metrics (analysis.custom) read from Prometheus: each kind's templates become one
// version's CustomValues. A source that cannot read them must say so, not leave them empty: an
// empty custom metric is "no data" for ever, and the rollout would wait until it pauses.
import type { CustomMetric } from './prometheus-templates';
import { count, fromBuckets, total, type Sample } from './prometheus-samples';
import {
  MetricsConfigError,
  type CustomValues,
  type MetricsQuery,
  type MetricsSource,
  type MetricsWindow,
} from './types';

/** Runs one template for the version being read; errors name `custom.<name>.<field>`. */
export type RunTemplate = (name: string, field: string, template: string) => Promise<Sample[]>;

export async function readCustom(
  metrics: CustomMetric[],
  run: RunTemplate,
): Promise<Record<string, CustomValues>> {
  const entries = await Promise.all(
    metrics.map(async (m): Promise<[string, CustomValues]> => {
      const scalar = async (field: string, template: string) => total(await run(m.name, field, template));
      switch (m.kind) {
        case 'proportion': {
          const [n, k] = await Promise.all([
            scalar('total', m.query.total),
            scalar('matching', m.query.matching),
          ]);
          const c = count(n);
          return [m.name, { count: c, matching: Math.min(c, count(k)), histogram: [] }];
        }
        case 'mean': {
          const [sum, n, buckets] = await Promise.all([
            scalar('sum', m.query.sum),
            scalar('count', m.query.count),
            m.query.buckets ? run(m.name, 'buckets', m.query.buckets) : Promise.resolve([]),
          ]);
          return [
            m.name,
            {
              count: count(n),
              sum: Number.isFinite(sum) ? sum : 0,
              histogram: fromBuckets(buckets, 1).histogram,
            },
          ];
        }
        case 'quantile': {
          const h = fromBuckets(await run(m.name, 'buckets', m.query.buckets), 1);
          return [m.name, { count: h.count, histogram: h.histogram }];
        }
      }
    }),
  );
  return Object.fromEntries(entries);
}

/**
 * Fetches a window with the plan's custom metrics; a source that returned none of them (the
 * gateway's, or a Prometheus source without query support) is a configuration error naming them.
 */
export async function fetchWithCustom(
  source: MetricsSource,
  query: MetricsQuery,
  custom: CustomMetric[] | undefined,
): Promise<MetricsWindow> {
  if (query.queries && !source.readsPlanQueries) {
    throw new MetricsConfigError(
      `the plan's analysis.queries (${Object.keys(query.queries).join(', ')}) needs Prometheus: run the worker with --metrics prometheus-query and --prometheus-url (this worker's metrics source reads its own series)`,
    );
  }
  if (!custom || custom.length === 0) return source.fetch(query);
  const window = await source.fetch({ ...query, custom });
  const missing = custom
    .map((m) => m.name)
    .filter((name) => !window.stable.custom?.[name] || !window.canary.custom?.[name]);
  if (missing.length > 0) {
    throw new MetricsConfigError(
      `the plan's analysis.custom (${missing.join(', ')}) needs Prometheus: run the worker with --metrics prometheus-query and --prometheus-url (this worker's metrics source does not read custom queries)`,
    );
  }
  return window;
}
