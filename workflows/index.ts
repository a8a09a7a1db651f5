export { canaryRollout } from './canary';
