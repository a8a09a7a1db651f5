// The rollout contract in one zero-dependency module: names, states, search attributes, failure types,
// patch ids and plain types. The workflow bundle imports only this, the policy and the SDK.
export * from './names';
export * from './types';
export * from './patches';
