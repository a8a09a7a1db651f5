// Which behaviour switches (src/contract/patches.ts) a run takes. A run started on code version 12 or
// later records one marker, baseline-v12, and takes every patch of versions 2-11 without a marker of
// its own; an older run replays its own markers one by one, as it recorded them. Patches after the
// baseline have their own markers, as before it.
import { deprecatePatch, patched } from '@temporalio/workflow';
import { PATCHES, type Patch } from '../src/contract';

/** Whether this run takes a patch: fixed at the run's start, the same on replay. */
export type Takes = (patch: Patch) => boolean;

/**
 * Called once, first thing in the run. The SDK answers `patched` false for a marker missing in a
 * replayed task but true if asked again once live, so the baseline's answer is kept here, not asked
 * again.
 */
export function behaviourOfRun(): Takes {
  const baseline = PATCHES.baselineV12;
  if (patched(baseline.id)) return (p) => p.version <= baseline.version || patched(p.id);
  // Code version 1 (before the control loop) is no longer supported: docs/versions.md.
  deprecatePatch(PATCHES.controlLoop.id);
  return (p) => p.id !== baseline.id && patched(p.id);
}
