// The AgentRollout operator: watches AgentRollout resources and carries each one out as a rollout
// (workflow `canary-<agent>`), reporting back in the resource's status. Level-triggered: every pass
// (a watch event, or the resync of a rollout still going) compares the spec with what runs and acts
// on the difference, so a restart of the operator loses nothing (the run it started is in status,
// and a run with the spec's versions is adopted).
//   create, or a new spec.canary/stable  start a rollout (a running one of the resource is aborted first)
//   delete                               abort its rollout, then let the resource go (finalizer)
//   agent-canary.dev/<command>: <reason> pause, resume, promote, promote-full, abort, approve, once per value
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import type { Informer, KubernetesObject } from '@kubernetes/client-node';
import { PlanError, resolvePlan, type ResolvedPlan } from '../plan';
import {
  getStatus,
  sendCommand,
  startRollout,
  DEFAULT_UPDATE_TIMEOUT_MS,
  type StartOptions,
} from '../temporal/rollouts';
import {
  CommandPendingError,
  CommandRefusedError,
  NoWorkerError,
  RolloutError,
  UnknownAgentError,
} from '../temporal/errors';
import { SA, workflowIdFor } from '../../workflows/messages';
import {
  AgentRolloutSchema,
  AgentRolloutStatusSchema,
  ANNOTATION_COMMANDS,
  annotationFor,
  FINALIZER,
  GROUP,
  PLURAL,
  VERSION,
  type AgentRollout,
  type AgentRolloutStatus,
  type AnnotationCommand,
} from './agent-rollout';
import { fromRollout, notRolling, settled, withConditions } from './operator-status';
import { KubeClient, statusMessage } from './client';

export interface OperatorOptions {
  kube: KubeClient;
  /** A connected Temporal client (namespace included). */
  temporal: Client;
  /** Watch one namespace; all namespaces when omitted (needs a ClusterRole). */
  namespace?: string;
  /** How often rollouts still going are read again, ms (default 5000). */
  resyncMs?: number;
  /** Task queue of the workers (default agent-canary's). */
  taskQueue?: string;
  log?: (line: string) => void;
}

type Cmd = AnnotationCommand;
type CommandResult = { result: 'done' | 'refused'; message: string };

/** The operator's loop; `start()` lists and watches, `stop()` ends both. */
export class AgentRolloutOperator {
  private readonly objects = new Map<string, AgentRollout>();
  private readonly queue = new Set<string>();
  private informer?: Informer<KubernetesObject>;
  private resync?: NodeJS.Timeout;
  private running = false;
  private wake?: () => void;
  private loop?: Promise<void>;
  private readonly log: (line: string) => void;

  constructor(private readonly opts: OperatorOptions) {
    this.log = opts.log ?? ((line) => process.stderr.write(`operator: ${line}\n`));
  }

  private get basePath(): string {
    const ns = this.opts.namespace ? `/namespaces/${encodeURIComponent(this.opts.namespace)}` : '';
    return `/apis/${GROUP}/${VERSION}${ns}/${PLURAL}`;
  }

  private pathOf(ar: AgentRollout): string {
    const { namespace, name } = ar.metadata;
    return `/apis/${GROUP}/${VERSION}/namespaces/${encodeURIComponent(namespace)}/${PLURAL}/${encodeURIComponent(name)}`;
  }

  async start(): Promise<void> {
    const { makeInformer } = await import('@kubernetes/client-node');
    const kc = await this.opts.kube.loadedConfig();
    const list = async () => {
      const res = await this.opts.kube.request('GET', this.basePath);
      if (res.status !== 200) {
        throw new Error(`listing ${PLURAL} answered ${res.status}: ${statusMessage(res)}`);
      }
      return res.body as { items: AgentRollout[]; metadata: { resourceVersion?: string } };
    };
    const informer = makeInformer<KubernetesObject>(kc, this.basePath, list as never);
    const seen = (obj: KubernetesObject) => {
      const parsed = AgentRolloutSchema.safeParse(obj);
      if (!parsed.success) return;
      const key = keyOf(parsed.data);
      this.objects.set(key, parsed.data);
      this.enqueue(key);
    };
    informer.on('add', seen);
    informer.on('update', seen);
    informer.on('delete', (obj) => this.objects.delete(`${obj.metadata?.namespace}/${obj.metadata?.name}`));
    informer.on('error', (err: unknown) => {
      if (!this.running) return;
      this.log(`watch interrupted (${(err as Error)?.message ?? String(err)}); watching again in 2s`);
      setTimeout(() => {
        if (this.running) informer.start().catch((e: Error) => this.log(`watch: ${e.message}`));
      }, 2_000).unref();
    });
    this.running = true;
    this.informer = informer;
    await informer.start();
    this.loop = this.work();
    this.resync = setInterval(() => {
      for (const [key, ar] of this.objects) {
        const status = AgentRolloutStatusSchema.safeParse(ar.status ?? {});
        if (!status.success || !settled(status.data) || ar.metadata.deletionTimestamp) this.enqueue(key);
      }
    }, this.opts.resyncMs ?? 5_000);
    this.log(`watching ${PLURAL}.${GROUP} in ${this.opts.namespace ?? 'all namespaces'}`);
  }

  async stop(): Promise<void> {
    this.running = false;
    clearInterval(this.resync);
    await this.informer?.stop();
    this.wake?.();
    await this.loop;
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    this.wake?.();
  }

  private async work(): Promise<void> {
    while (this.running) {
      const key = this.queue.values().next().value;
      if (key === undefined) {
        await new Promise<void>((r) => (this.wake = r));
        continue;
      }
      this.queue.delete(key);
      const ar = this.objects.get(key);
      if (!ar) continue;
      try {
        await this.reconcile(ar);
      } catch (err) {
        // The resync brings it back; a conflict (409) is a newer version already queued.
        this.log(`${key}: ${(err as Error).message}`);
      }
    }
  }

  /** One pass over one resource. */
  private async reconcile(ar: AgentRollout): Promise<void> {
    const prev = AgentRolloutStatusSchema.safeParse(ar.status ?? {});
    const status: AgentRolloutStatus = prev.success ? prev.data : {};
    const finalizers = ar.metadata.finalizers ?? [];

    if (ar.metadata.deletionTimestamp) {
      if (!finalizers.includes(FINALIZER)) return;
      await this.abortOwnRun(ar, status, `AgentRollout ${keyOf(ar)} was deleted`);
      await this.patch(ar, '', {
        metadata: {
          finalizers: finalizers.filter((f) => f !== FINALIZER),
          resourceVersion: ar.metadata.resourceVersion,
        },
      });
      this.log(`${keyOf(ar)}: deleted; its rollout was aborted`);
      return;
    }
    if (!finalizers.includes(FINALIZER)) {
      await this.patch(ar, '', {
        metadata: { finalizers: [...finalizers, FINALIZER], resourceVersion: ar.metadata.resourceVersion },
      });
      return; // the watch brings the new version
    }

    const spec = ar.spec as { stable?: unknown; canary?: unknown; agent?: unknown } | null;
    if (spec && typeof spec.canary === 'string' && spec.canary === spec.stable) {
      await this.abortOwnRun(ar, status, `spec.canary is now the stable version ${spec.stable}`);
      const msg = `nothing to roll out: canary and stable are both ${spec.stable}`;
      return this.writeStatus(ar, status, {
        state: 'steady',
        reason: msg,
        stable: spec.stable,
        canary: spec.canary,
        conditions: notRolling('steady', 'Steady', msg),
      });
    }
    let plan: ResolvedPlan;
    try {
      plan = resolvePlan(ar.spec);
    } catch (err) {
      if (!(err instanceof PlanError)) throw err;
      const msg = `spec is not a valid plan: ${err.problems.map((p) => `${p.field || 'spec'}: ${p.message}`).join('; ')}`;
      return this.writeStatus(ar, status, {
        state: 'invalid',
        reason: msg.slice(0, 4000),
        conditions: notRolling('invalid', 'InvalidSpec', msg),
      });
    }

    const workflowId = workflowIdFor(plan.agent);
    const ours =
      status.runId !== undefined &&
      status.workflowId === workflowId &&
      status.canary === plan.canary &&
      status.stable === plan.stable;
    if (!ours) return this.begin(ar, status, plan);

    if (!settled(status)) await this.runCommands(ar, status, plan.agent);
    let s;
    try {
      s = await getStatus(this.opts.temporal, plan.agent);
    } catch (err) {
      if (err instanceof NoWorkerError || err instanceof UnknownAgentError || err instanceof RolloutError) {
        this.log(`${keyOf(ar)}: status unknown for now: ${err.message.split('\n')[0]}`);
        return;
      }
      throw err;
    }
    const { fields, conditions } = fromRollout(s);
    await this.writeStatus(ar, status, { ...fields, conditions });
  }

  /** Starts the spec's rollout, or adopts a run of the same versions, or says why it waits. */
  private async begin(ar: AgentRollout, status: AgentRolloutStatus, plan: ResolvedPlan): Promise<void> {
    const workflowId = workflowIdFor(plan.agent);
    if (status.runId && status.workflowId) {
      await this.abortOwnRun(ar, status, `superseded: spec now rolls out ${plan.canary} over ${plan.stable}`);
    }
    const latest = await this.opts.temporal.workflow
      .getHandle(workflowId)
      .describe()
      .catch((err: unknown) => {
        if (err instanceof WorkflowNotFoundError) return null;
        throw err;
      });
    const sa = latest?.typedSearchAttributes;
    const sameVersions =
      sa?.get(SA.canaryVersion) === plan.canary && sa?.get(SA.stableVersion) === plan.stable;
    let runId: string;
    if (latest && sameVersions && latest.runId !== status.runId) {
      runId = latest.runId; // started by an earlier pass whose status write was lost, or by hand
      this.log(`${keyOf(ar)}: adopted ${workflowId} (run ${runId})`);
    } else if (latest?.status.name === 'RUNNING') {
      const msg =
        `another rollout of agent "${plan.agent}" is running (${workflowId}, canary ${sa?.get(SA.canaryVersion) ?? '?'}), ` +
        'not started by this resource; it starts when that one ends (or abort it: agent-canary abort)';
      return this.writeStatus(ar, status, {
        state: 'waiting',
        reason: msg,
        conditions: notRolling('waiting', 'AgentBusy', msg),
      });
    } else {
      const started = await startRollout(this.opts.temporal, plan, {
        ...(this.opts.taskQueue ? { taskQueue: this.opts.taskQueue } : {}),
      } satisfies StartOptions);
      runId = started.runId;
      this.log(`${keyOf(ar)}: started ${workflowId} (${plan.stable} -> ${plan.canary}, run ${runId})`);
    }
    // Commands written before this rollout belong to the one before it.
    const commands: AgentRolloutStatus['commands'] = {};
    const now = new Date().toISOString();
    for (const c of ANNOTATION_COMMANDS) {
      const value = ar.metadata.annotations?.[annotationFor(c)];
      if (value !== undefined)
        commands[c] = {
          value: value.slice(0, 2000),
          at: now,
          result: 'stale',
          message: 'set before this rollout',
        };
    }
    const msg = `started: ${plan.stable} -> ${plan.canary}`;
    await this.writeStatus(ar, status, {
      replace: true,
      workflowId,
      runId,
      stable: plan.stable,
      canary: plan.canary,
      state: 'progressing',
      stage: 1,
      stageCount: plan.stages.length,
      weight: 0,
      commands,
      conditions: [
        { type: 'Progressing', status: 'True', reason: 'Started', message: msg },
        { type: 'Promoted', status: 'False', reason: 'Started', message: msg },
        { type: 'RolledBack', status: 'False', reason: 'Started', message: msg },
        { type: 'Ready', status: 'False', reason: 'Started', message: msg },
      ],
    });
  }

  /** The annotation commands not yet carried out, each once per value. */
  private async runCommands(ar: AgentRollout, status: AgentRolloutStatus, agent: string): Promise<void> {
    const done = { ...(status.commands ?? {}) };
    let changed = false;
    for (const c of ANNOTATION_COMMANDS) {
      const value = ar.metadata.annotations?.[annotationFor(c)]?.slice(0, 2000);
      if (value === undefined || done[c]?.value === value) continue;
      const by = `${managerOf(ar, annotationFor(c)) ?? 'someone'} via agentrollout/${keyOf(ar)}`.slice(
        0,
        200,
      );
      let r: CommandResult;
      try {
        r = await this.command(agent, c, value, by);
      } catch (err) {
        if (err instanceof NoWorkerError) {
          this.log(`${keyOf(ar)}: ${c} not sent (no worker); sent again at the next pass`);
          continue;
        }
        throw err;
      }
      done[c] = { value, at: new Date().toISOString(), ...r, message: r.message.slice(0, 4000) };
      changed = true;
      this.log(`${keyOf(ar)}: ${c} ${r.result}: ${r.message.split('\n')[0]}`);
    }
    if (changed) {
      status.commands = done;
      await this.writeStatus(ar, status, { commands: done });
      ar.status = status;
    }
  }

  private async command(agent: string, c: Cmd, value: string, by: string): Promise<CommandResult> {
    const reason = value || `${c} by annotation`;
    try {
      if (c === 'approve') return await this.approve(agent, reason, by);
      const s =
        c === 'pause'
          ? await sendCommand(this.opts.temporal, agent, 'pause', { reason, by })
          : c === 'resume'
            ? await sendCommand(this.opts.temporal, agent, 'resume', { reason, by })
            : c === 'abort'
              ? await sendCommand(this.opts.temporal, agent, 'abort', { reason, by })
              : await sendCommand(this.opts.temporal, agent, 'promote', {
                  reason,
                  by,
                  ...(c === 'promote-full' ? { full: true } : {}),
                });
      return {
        result: 'done',
        message: `${s.state}, stage ${s.stageIndex + 1}/${s.stageCount}, canary ${s.canaryPercent}%`,
      };
    } catch (err) {
      if (err instanceof CommandPendingError) return { result: 'done', message: err.message };
      if (err instanceof CommandRefusedError || err instanceof PlanError)
        return { result: 'refused', message: err.message };
      throw err;
    }
  }

  /** `approve` of a stage that waits for a person: an Update of the same name, by whoever defines it. */
  private async approve(agent: string, reason: string, by: string): Promise<CommandResult> {
    const handle = this.opts.temporal.workflow.getHandle(workflowIdFor(agent));
    try {
      await this.opts.temporal.withDeadline(Date.now() + DEFAULT_UPDATE_TIMEOUT_MS, () =>
        handle.executeUpdate('approve', { args: [{ reason, by }] }),
      );
      return { result: 'done', message: 'approved' };
    } catch (err) {
      const cause = (err as { cause?: Error }).cause?.message ?? (err as Error).message;
      return { result: 'refused', message: `approve refused: ${cause}` };
    }
  }

  /** Aborts the run this resource started, if it still runs; a finished one is left as it ended. */
  private async abortOwnRun(ar: AgentRollout, status: AgentRolloutStatus, reason: string): Promise<void> {
    if (!status.runId || !status.workflowId || !status.canary) return;
    const agent = status.workflowId.replace(/^canary-/, '');
    let d;
    try {
      d = await this.opts.temporal.workflow.getHandle(status.workflowId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return;
      throw err;
    }
    const mine = d.typedSearchAttributes.get(SA.canaryVersion) === status.canary;
    if (d.status.name !== 'RUNNING' || !mine) return;
    try {
      await sendCommand(this.opts.temporal, agent, 'abort', { reason, by: `agentrollout/${keyOf(ar)}` });
      this.log(`${keyOf(ar)}: aborted ${status.workflowId}: ${reason}`);
    } catch (err) {
      // Already ending or ended: what the abort wanted. Anything else (no worker) is retried.
      if (err instanceof CommandRefusedError || err instanceof CommandPendingError) return;
      throw err;
    }
  }

  /** Writes the status when it changed; conditions keep their transition times. */
  private async writeStatus(
    ar: AgentRollout,
    prev: AgentRolloutStatus,
    next: Omit<AgentRolloutStatus, 'conditions'> & {
      /** A new rollout: nothing of the status before it is kept. */
      replace?: boolean;
      conditions?: {
        type: 'Progressing' | 'Promoted' | 'RolledBack' | 'Ready';
        status: 'True' | 'False' | 'Unknown';
        reason: string;
        message: string;
      }[];
    },
  ): Promise<void> {
    const now = new Date().toISOString();
    const { conditions, replace, ...fields } = next;
    const merged: AgentRolloutStatus = {
      ...(replace ? {} : prev),
      ...fields,
      observedGeneration: ar.metadata.generation,
      ...(conditions
        ? { conditions: withConditions(prev.conditions, conditions, ar.metadata.generation, now) }
        : {}),
    };
    const clean = AgentRolloutStatusSchema.parse(JSON.parse(JSON.stringify(merged)));
    if (JSON.stringify(clean) === JSON.stringify(AgentRolloutStatusSchema.safeParse(ar.status ?? {}).data))
      return;
    // A merge patch of the whole status: fields it no longer has are removed (null).
    const body: Record<string, unknown> = { ...clean };
    for (const k of Object.keys(prev)) if (!(k in clean)) body[k] = null;
    await this.patch(ar, '/status', { status: body });
  }

  private async patch(ar: AgentRollout, sub: '' | '/status', data: unknown): Promise<void> {
    const res = await this.opts.kube.request('PATCH', this.pathOf(ar) + sub, {
      contentType: 'application/merge-patch+json',
      data,
    });
    if (res.status === 404) return; // gone meanwhile
    if (res.status < 200 || res.status > 299) {
      throw new Error(
        `PATCH ${PLURAL}/${ar.metadata.name}${sub} answered ${res.status}: ${statusMessage(res)}`,
      );
    }
    const parsed = AgentRolloutSchema.safeParse(res.body);
    if (parsed.success) this.objects.set(keyOf(parsed.data), parsed.data);
  }
}

function keyOf(ar: AgentRollout): string {
  return `${ar.metadata.namespace}/${ar.metadata.name}`;
}

/**
 * Who wrote an annotation, as the API server recorded it (the field manager: kubectl-annotate,
 * argocd-controller...): the actor of the command. Users are not recorded per field.
 */
export function managerOf(ar: AgentRollout, annotation: string): string | undefined {
  const key = `f:${annotation}`;
  for (const m of ar.metadata.managedFields ?? []) {
    const f = m.fieldsV1 as { 'f:metadata'?: { 'f:annotations'?: Record<string, unknown> } } | undefined;
    if (f?.['f:metadata']?.['f:annotations']?.[key] !== undefined) return m.manager;
  }
  return undefined;
}
