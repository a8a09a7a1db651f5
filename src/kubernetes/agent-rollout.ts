// The AgentRollout custom resource: a rollout declared in git. `spec` is a plan exactly as
// `agent-canary start -f` reads it; `status` is what the operator (src/kubernetes/operator.ts) saw of
// the rollout it started. Both CRD schemas are generated from the zod schemas here, never written by
// hand: `npm run gen:deploy` writes deploy/kubernetes/crd/agentrollouts.yaml and the Helm chart's copy,
// and test/agent-rollout-crd.test.ts checks both against this module.
import { z } from 'zod';
import { stringify } from 'yaml';
import { PlanInputSchema } from '../plan/schema';
import { toStructural, type JsonSchema } from './structural';

export const GROUP = 'agent-canary.dev';
export const VERSION = 'v1alpha1';
export const KIND = 'AgentRollout';
export const PLURAL = 'agentrollouts';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Held while a rollout of the resource may still hold canary traffic: deleting aborts it first. */
export const FINALIZER = `${GROUP}/abort-on-delete`;

/**
 * Commands as annotations, for teams that never run the CLI: `agent-canary.dev/<command>: <reason>`.
 * Each distinct value is carried out once (the operator records it in status.commands); to repeat a
 * command, write a new value. Values present when a rollout starts belong to the one before.
 */
export const ANNOTATION_COMMANDS = [
  'pause',
  'resume',
  'promote',
  'promote-full',
  'abort',
  'approve',
] as const;
export type AnnotationCommand = (typeof ANNOTATION_COMMANDS)[number];
export const annotationFor = (c: AnnotationCommand) => `${GROUP}/${c}`;

export const CONDITION_TYPES = ['Progressing', 'Promoted', 'RolledBack', 'Ready'] as const;

export const ConditionSchema = z.object({
  type: z.enum(CONDITION_TYPES),
  status: z.enum(['True', 'False', 'Unknown']),
  reason: z
    .string()
    .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/)
    .max(1024),
  message: z.string().max(32768),
  lastTransitionTime: z.string(),
  observedGeneration: z.number().int().min(0).optional(),
});
export type Condition = z.infer<typeof ConditionSchema>;

/**
 * Where the operator is with this resource: the rollout's own states, plus `waiting` (not started:
 * another rollout holds the agent, or Temporal is out of reach), `invalid` (the spec is not a plan),
 * `steady` (canary equals stable: nothing to roll out) and `failed` (the execution ended without the
 * rollout's own decision: terminated, timed out, a configuration error).
 */
export const RESOURCE_STATES = [
  'waiting',
  'invalid',
  'steady',
  'progressing',
  'paused',
  'promoted',
  'rolled_back',
  'aborted',
  'failed',
] as const;

export const CommandRecordSchema = z.object({
  value: z.string().max(2000),
  at: z.string(),
  result: z.enum(['done', 'refused', 'stale']),
  message: z.string().max(4000),
});

export const AgentRolloutStatusSchema = z.object({
  observedGeneration: z.number().int().min(0).optional(),
  state: z.enum(RESOURCE_STATES).optional(),
  /** The run this resource started (or adopted): workflow id canary-<agent>, its first run id. */
  workflowId: z.string().max(300).optional(),
  runId: z.string().max(100).optional(),
  stable: z.string().max(128).optional(),
  canary: z.string().max(128).optional(),
  /** 1-based stage, of stageCount; the canary's share of traffic in percent. */
  stage: z.number().int().min(0).optional(),
  stageCount: z.number().int().min(0).optional(),
  weight: z.number().min(0).max(100).optional(),
  stageStartedAt: z.string().optional(),
  lastVerdict: z
    .object({
      verdict: z.enum(['pass', 'fail', 'inconclusive']),
      at: z.string(),
      reason: z.string().max(4000),
    })
    .optional(),
  /** Why the rollout ended, or why it did not start. */
  reason: z.string().max(4000).optional(),
  /** The annotation commands carried out (or refused), by command. */
  commands: z.partialRecord(z.enum(ANNOTATION_COMMANDS), CommandRecordSchema).optional(),
  conditions: z.array(ConditionSchema).max(8).optional(),
});
export type AgentRolloutStatus = z.infer<typeof AgentRolloutStatusSchema>;

/** The resource as the operator reads it (metadata loosely: only what it uses). */
export const AgentRolloutSchema = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: z.object({
    name: z.string(),
    namespace: z.string(),
    uid: z.string().optional(),
    generation: z.number().int().optional(),
    resourceVersion: z.string().optional(),
    deletionTimestamp: z.string().optional(),
    finalizers: z.array(z.string()).optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    managedFields: z.array(z.object({ manager: z.string().optional(), fieldsV1: z.unknown() })).optional(),
  }),
  spec: z.unknown(),
  status: z.unknown().optional(),
});
export type AgentRollout = z.infer<typeof AgentRolloutSchema>;

/** The spec's OpenAPI schema: the plan's JSON schema (what a plan file accepts), made structural. */
export function specSchema(): JsonSchema {
  const plan = z.toJSONSchema(PlanInputSchema, { io: 'input', unrepresentable: 'throw' }) as JsonSchema;
  return {
    ...toStructural(plan),
    description: 'A rollout plan, as `agent-canary start -f` reads it (docs/gitops.md).',
  };
}

export function statusSchema(): JsonSchema {
  const status = z.toJSONSchema(AgentRolloutStatusSchema, { io: 'input', unrepresentable: 'throw' });
  return toStructural(status as JsonSchema);
}

/** The CustomResourceDefinition, as applied by kubectl, Helm (crds/) or Argo CD. */
export function agentRolloutCrd(): Record<string, unknown> {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${PLURAL}.${GROUP}` },
    spec: {
      group: GROUP,
      names: {
        kind: KIND,
        listKind: `${KIND}List`,
        plural: PLURAL,
        singular: 'agentrollout',
        shortNames: ['arl'],
        categories: ['agent-canary'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Agent', type: 'string', jsonPath: '.spec.agent' },
            { name: 'Canary', type: 'string', jsonPath: '.spec.canary' },
            { name: 'State', type: 'string', jsonPath: '.status.state' },
            { name: 'Weight', type: 'number', jsonPath: '.status.weight' },
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'A canary rollout of an AI agent version, carried out by agent-canary.',
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec: specSchema(),
                status: statusSchema(),
              },
              required: ['spec'],
            },
          },
        },
      ],
    },
  };
}

export const CRD_HEADER =
  '# Generated from the zod plan schema by `npm run gen:deploy` (src/kubernetes/agent-rollout.ts): do not edit.\n';

/** The CRD as the YAML file committed under deploy/. */
export function agentRolloutCrdYaml(): string {
  return CRD_HEADER + stringify(agentRolloutCrd(), { lineWidth: 0 });
}
