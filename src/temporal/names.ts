// The names of the rollout contract that the CLI's fast path needs, without loading messages.ts, which
// loads the SDK's common and workflow packages (~30 ms a command). They are the contract's own
// (src/contract/names.ts, zero dependencies); test/cli-fast.test.ts checks they equal messages.ts's.
export {
  WORKFLOW_TYPE,
  TASK_QUEUE,
  workflowIdFor,
  SA_NAMES,
  FINAL_STATES,
  isFinal,
  ROLLED_BACK_FAILURE,
  ROLLOUT_STATES as ROLLOUT_STATE_NAMES,
} from '../contract/names';
