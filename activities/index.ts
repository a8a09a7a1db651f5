// Activities are thin adapters: each turns one workflow request into a call on a backend
// (router, metrics source, judge, notifiers). All I/O of a rollout happens here.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { judge as defaultJudge } from '../src/analysis';
import type { Verdict } from '../src/analysis/types';
import { MetricsConfigError, type MetricsSource, type MetricsWindow } from '../src/metrics/types';
import type { DeliveryFailure, Notifier, NotifyEvent } from '../src/notify/types';
import type { AnalysisConfig, NotifyTarget } from '../src/plan/schema';
import { RouterConfigError, type AppliedSplit, type DesiredSplit, type Router } from '../src/router/types';

export interface ActivityDeps {
  router: Router;
  metrics: MetricsSource;
  /** Builds the notifiers for a plan's notify targets (a log notifier is the usual extra). */
  notifiers: (targets: NotifyTarget[]) => Notifier[];
  judge?: (window: MetricsWindow, analysis: AnalysisConfig) => Verdict;
}

export interface SetSplitInput {
  agent: string;
  desired: DesiredSplit;
}

export interface AnalyzeInput {
  agent: string;
  stable: string;
  canary: string;
  /** Epoch ms: the stage's start and the check's time, both from workflow time. */
  since: number;
  until: number;
  analysis: AnalysisConfig;
}

export interface AnalyzeResult {
  verdict: Verdict;
  stableRequests: number;
  canaryRequests: number;
}

export interface NotifyInput {
  event: NotifyEvent;
  targets: NotifyTarget[];
}

export function createActivities(deps: ActivityDeps) {
  const judge = deps.judge ?? defaultJudge;
  return {
    async setTrafficSplit({ agent, desired }: SetSplitInput): Promise<AppliedSplit> {
      try {
        return await deps.router.setSplit(agent, desired);
      } catch (err) {
        if (err instanceof RouterConfigError) {
          throw ApplicationFailure.nonRetryable(err.message, 'RouterConfigError');
        }
        throw err;
      }
    },

    async analyzeCanary(input: AnalyzeInput): Promise<AnalyzeResult> {
      let window: MetricsWindow;
      try {
        window = await deps.metrics.fetch({
          agent: input.agent,
          stable: input.stable,
          canary: input.canary,
          since: input.since,
          until: input.until,
        });
      } catch (err) {
        // A wrong token or unknown agent will not heal by retrying: fail the check at once.
        if (err instanceof MetricsConfigError) throw ApplicationFailure.nonRetryable(err.message, err.name);
        throw err;
      }
      const verdict = judge(window, input.analysis);
      return { verdict, stableRequests: window.stable.requests, canaryRequests: window.canary.requests };
    },

    /** Best effort: never throws, so a broken channel cannot hold up a decision. */
    async notify({ event, targets }: NotifyInput): Promise<DeliveryFailure[]> {
      const failures: DeliveryFailure[] = [];
      const notifiers = deps.notifiers(targets);
      await Promise.all(
        notifiers.map(async (n) => {
          try {
            await n.send(event);
          } catch (err) {
            failures.push({ target: n.name, error: (err as Error).message });
            Context.current().log.warn('notification failed', { target: n.name, error: String(err) });
          }
        }),
      );
      return failures;
    },
  };
}

export type Activities = ReturnType<typeof createActivities>;
