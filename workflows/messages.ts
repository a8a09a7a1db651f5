// The public contract of the canaryRollout workflow (DESIGN.md §3) as the SDK needs it: the typed
// definitions of its signals, updates, query and search attributes. The names, states and plain types
// are in src/contract (zero dependencies) and re-exported here; the zod schemas that check command
// inputs on the client side are in src/temporal/command-schemas.ts, outside the workflow sandbox.
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import {
  SEARCH_ATTRIBUTES,
  type AbortInput,
  type ApproveInput,
  type DismissInput,
  type ExtendInputAsSent,
  type PauseInput,
  type PromoteInput,
  type ResumeInput,
  type RolloutStatus,
} from '../src/contract';

export * from '../src/contract/names';
export type * from '../src/contract/types';

export const pauseSignal = defineSignal<[PauseInput]>('pause');
export const resumeSignal = defineSignal<[ResumeInput]>('resume');
export const promoteSignal = defineSignal<[PromoteInput]>('promote');
export const abortSignal = defineSignal<[AbortInput]>('abort');
export const extendSignal = defineSignal<[ExtendInputAsSent]>('extend');
export const dismissSignal = defineSignal<[DismissInput]>('dismiss');
export const approveSignal = defineSignal<[ApproveInput]>('approve');

export const pauseUpdate = defineUpdate<RolloutStatus, [PauseInput]>('pause');
export const resumeUpdate = defineUpdate<RolloutStatus, [ResumeInput]>('resume');
export const promoteUpdate = defineUpdate<RolloutStatus, [PromoteInput]>('promote');
export const abortUpdate = defineUpdate<RolloutStatus, [AbortInput]>('abort');
export const extendUpdate = defineUpdate<RolloutStatus, [ExtendInputAsSent]>('extend');
export const dismissUpdate = defineUpdate<RolloutStatus, [DismissInput]>('dismiss');
export const approveUpdate = defineUpdate<RolloutStatus, [ApproveInput]>('approve');

export const statusQuery = defineQuery<RolloutStatus>('status');

/** Search attributes (DESIGN.md §3): the dev server launcher registers these, `list` queries them. */
export const SA = {
  agent: defineSearchAttributeKey(SEARCH_ATTRIBUTES.agent.name, SearchAttributeType.KEYWORD),
  state: defineSearchAttributeKey(SEARCH_ATTRIBUTES.state.name, SearchAttributeType.KEYWORD),
  percent: defineSearchAttributeKey(SEARCH_ATTRIBUTES.percent.name, SearchAttributeType.INT),
  canaryVersion: defineSearchAttributeKey(SEARCH_ATTRIBUTES.canaryVersion.name, SearchAttributeType.KEYWORD),
  stableVersion: defineSearchAttributeKey(SEARCH_ATTRIBUTES.stableVersion.name, SearchAttributeType.KEYWORD),
  codeVersion: defineSearchAttributeKey(SEARCH_ATTRIBUTES.codeVersion.name, SearchAttributeType.INT),
} as const;
