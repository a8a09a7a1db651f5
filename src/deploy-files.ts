// Writes the deploy files generated from the code: the AgentRollout CRD (from the zod plan schema)
// where kubectl and Helm read it, and the Grafana dashboard. `npm run gen:deploy`;
// test/agent-rollout-crd.test.ts and test/grafana-dashboard.test.ts fail when a copy is out of date.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { agentRolloutCrdYaml } from './kubernetes/agent-rollout';
import { DASHBOARD_JSON } from './metrics/grafana-dashboard';

const ROOT = join(__dirname, '..');

export const CRD_FILES = [
  join(ROOT, 'deploy', 'kubernetes', 'crd', 'agentrollouts.yaml'),
  join(ROOT, 'deploy', 'helm', 'agent-canary', 'crds', 'agentrollouts.yaml'),
];

export const DASHBOARD_FILES = [
  join(ROOT, 'deploy', 'grafana', 'agent-canary.json'),
  join(ROOT, 'deploy', 'helm', 'agent-canary', 'files', 'grafana-dashboard.json'),
];

if (require.main === module) {
  const write = (file: string, text: string) => {
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, text);
    process.stdout.write(`wrote ${file}\n`);
  };
  for (const file of CRD_FILES) write(file, agentRolloutCrdYaml());
  for (const file of DASHBOARD_FILES) write(file, DASHBOARD_JSON());
}
