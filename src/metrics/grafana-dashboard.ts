// The Grafana dashboard for agent-canary (deploy/grafana/agent-canary.json, and the Helm chart's
// copy): the gateway's per-version series and the worker's rollout series, one row per agent
// (weight over time, canary against stable on each metric, checks, time in stage), and every
// rollout decision as an annotation. Generated here, so that each panel's query is written once;
// test/grafana-dashboard.test.ts validates it against Grafana's dashboard schema.

const DS = { type: 'prometheus', uid: '${datasource}' };

type Target = { expr: string; legendFormat: string };

let nextId = 1;

function timeseries(
  title: string,
  description: string,
  targets: Target[],
  unit: string,
  gridPos: { x: number; y: number; w: number; h: number },
  extra: { min?: number; max?: number } = {},
): Record<string, unknown> {
  return {
    type: 'timeseries',
    id: nextId++,
    title,
    description,
    datasource: DS,
    gridPos,
    targets: targets.map((t, i) => ({
      datasource: DS,
      refId: String.fromCharCode(65 + i),
      expr: t.expr,
      legendFormat: t.legendFormat,
      range: true,
    })),
    fieldConfig: {
      defaults: {
        unit,
        ...extra,
        custom: { drawStyle: 'line', lineWidth: 1, fillOpacity: 10, spanNulls: false },
      },
      overrides: [],
    },
    options: {
      legend: { showLegend: true, displayMode: 'list', placement: 'bottom', calcs: [] },
      tooltip: { mode: 'multi', sort: 'none' },
    },
  };
}

const A = 'agent="$agent"';
const RATE = '[$__rate_interval]';

/** The dashboard model (Grafana's JSON model, schemaVersion 41). */
export function grafanaDashboard(): Record<string, unknown> {
  nextId = 1;
  const overview = [
    timeseries(
      'Canary weight by agent',
      "The canary's share of traffic as the worker carries the rollout out (agent_canary_rollout_weight).",
      [{ expr: `max by (agent) (agent_canary_rollout_weight{agent=~"$agent"})`, legendFormat: '{{agent}}' }],
      'percent',
      { x: 0, y: 1, w: 12, h: 7 },
      { min: 0, max: 100 },
    ),
    timeseries(
      'Rollouts by state',
      'Rollouts seen by the workers in each state (agent_canary_rollout_state).',
      [
        {
          expr: `count by (state) (max by (agent, state) (agent_canary_rollout_state{agent=~"$agent"}) == 1)`,
          legendFormat: '{{state}}',
        },
      ],
      'short',
      { x: 12, y: 1, w: 12, h: 7 },
      { min: 0 },
    ),
  ];
  const perAgent = [
    timeseries(
      'Weight over time',
      'Canary share as decided by the rollout (worker) and as applied by the gateway.',
      [
        { expr: `max(agent_canary_rollout_weight{${A}})`, legendFormat: 'rollout' },
        { expr: `max(agent_canary_canary_weight{${A}})`, legendFormat: 'gateway' },
      ],
      'percent',
      { x: 0, y: 9, w: 8, h: 7 },
      { min: 0, max: 100 },
    ),
    timeseries(
      'Error rate: canary vs stable',
      'Failed requests (upstream 5xx or unreachable) per version, from the gateway.',
      [
        {
          expr: `sum by (version) (rate(agent_canary_errors_total{${A}}${RATE})) / sum by (version) (rate(agent_canary_requests_total{${A}}${RATE}))`,
          legendFormat: '{{version}}',
        },
      ],
      'percentunit',
      { x: 8, y: 9, w: 8, h: 7 },
      { min: 0 },
    ),
    timeseries(
      'p99 latency: canary vs stable',
      'Request duration, 99th percentile per version, from the gateway.',
      [
        {
          expr: `histogram_quantile(0.99, sum by (version, le) (rate(agent_canary_request_duration_seconds_bucket{${A}}${RATE})))`,
          legendFormat: '{{version}}',
        },
      ],
      's',
      { x: 16, y: 9, w: 8, h: 7 },
      { min: 0 },
    ),
    timeseries(
      'Task success: canary vs stable',
      'Outcomes reporting task success, per version.',
      [
        {
          expr: `sum by (version) (rate(agent_canary_task_success_total{${A}}${RATE})) / sum by (version) (rate(agent_canary_task_outcomes_total{${A}}${RATE}))`,
          legendFormat: '{{version}}',
        },
      ],
      'percentunit',
      { x: 0, y: 16, w: 8, h: 7 },
      { min: 0, max: 1 },
    ),
    timeseries(
      'Quality score: canary vs stable',
      'Mean quality score per version (feedback and evaluations).',
      [
        {
          expr: `sum by (version) (rate(agent_canary_quality_score_sum{${A}}${RATE})) / sum by (version) (rate(agent_canary_quality_score_count{${A}}${RATE}))`,
          legendFormat: '{{version}}',
        },
      ],
      'short',
      { x: 8, y: 16, w: 8, h: 7 },
    ),
    timeseries(
      'Checks by verdict',
      'Checks of canary against stable per verdict; outage: the metrics source did not answer.',
      [
        {
          expr: `sum by (verdict) (increase(agent_canary_rollout_checks_total{${A}}${RATE}))`,
          legendFormat: '{{verdict}}',
        },
      ],
      'short',
      { x: 16, y: 16, w: 8, h: 7 },
      { min: 0 },
    ),
    timeseries(
      'Stage and time in stage',
      'The current stage (1-based) and how long the rollout has been in it.',
      [
        { expr: `max(agent_canary_rollout_stage_seconds{${A}})`, legendFormat: 'time in stage' },
        { expr: `max(agent_canary_rollout_stage{${A}})`, legendFormat: 'stage' },
      ],
      's',
      { x: 0, y: 23, w: 12, h: 7 },
      { min: 0 },
    ),
    timeseries(
      'Decisions',
      'Rollout decisions by action and actor kind (system, gitops, person).',
      [
        {
          expr: `sum by (action, actor) (increase(agent_canary_rollout_decisions_total{${A}}${RATE}))`,
          legendFormat: '{{action}} ({{actor}})',
        },
      ],
      'short',
      { x: 12, y: 23, w: 12, h: 7 },
      { min: 0 },
    ),
  ];
  return {
    uid: 'agent-canary',
    title: 'agent-canary rollouts',
    description:
      'Canary rollouts of AI agents: the gateway per version, the worker per rollout (docs/gitops.md).',
    tags: ['agent-canary', 'canary', 'rollouts'],
    timezone: 'browser',
    editable: true,
    graphTooltip: 1,
    schemaVersion: 41,
    version: 1,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    timepicker: {},
    links: [],
    fiscalYearStartMonth: 0,
    liveNow: false,
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
        {
          name: 'Rollout decisions',
          datasource: DS,
          enable: true,
          iconColor: 'orange',
          expr: `sum by (agent, action, actor) (increase(agent_canary_rollout_decisions_total{agent=~"$agent"}[1m])) > 0`,
          step: '30s',
          titleFormat: '{{agent}}: {{action}}',
          textFormat: 'by {{actor}}',
          tagKeys: 'agent,action,actor',
          useValueForTime: false,
        },
      ],
    },
    templating: {
      list: [
        {
          type: 'datasource',
          name: 'datasource',
          label: 'Prometheus',
          query: 'prometheus',
          current: { text: 'default', value: 'default' },
          hide: 0,
          options: [],
          refresh: 1,
          regex: '',
        },
        {
          type: 'query',
          name: 'agent',
          label: 'Agent',
          datasource: DS,
          query: 'label_values(agent_canary_requests_total, agent)',
          definition: 'label_values(agent_canary_requests_total, agent)',
          current: { text: 'All', value: '$__all' },
          multi: true,
          includeAll: true,
          hide: 0,
          options: [],
          refresh: 2,
          sort: 1,
          regex: '',
        },
      ],
    },
    panels: [
      {
        type: 'row',
        id: nextId++,
        title: 'All agents',
        collapsed: false,
        gridPos: { x: 0, y: 0, w: 24, h: 1 },
        panels: [],
      },
      ...overview,
      {
        type: 'row',
        id: nextId++,
        title: 'Agent $agent',
        collapsed: false,
        repeat: 'agent',
        gridPos: { x: 0, y: 8, w: 24, h: 1 },
        panels: [],
      },
      ...perAgent,
    ],
  };
}

export const DASHBOARD_JSON = (): string => `${JSON.stringify(grafanaDashboard(), null, 2)}\n`;
