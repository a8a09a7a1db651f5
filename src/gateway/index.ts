// The HTTP gateway in front of a team's agents: weighted, sticky routing per agent (the default
// router of agent-canary) and per-version metrics (its default metrics source). DESIGN.md §5.
export {
  loadGatewayConfig,
  resolveGatewayConfig,
  GatewayConfigError,
  GatewayConfigInputSchema,
  type GatewayConfig,
  type GatewayConfigInput,
  type AgentConfig,
} from './config';
export { startGateway, type GatewayOptions, type RunningGateway } from './server';
export { bucketOf, chooseVersion } from './routing';
