export { canaryRollout } from './canary';
export { canaryPreflight } from './preflight';
