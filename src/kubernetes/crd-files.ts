// Writes the AgentRollout CRD, generated from the zod plan schema, where kubectl and Helm read it.
// `npm run gen:crd`; test/agent-rollout-crd.test.ts fails when a committed copy is out of date.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentRolloutCrdYaml } from './agent-rollout';

export const CRD_FILES = [
  join(__dirname, '..', '..', 'deploy', 'kubernetes', 'crd', 'agentrollouts.yaml'),
  join(__dirname, '..', '..', 'deploy', 'helm', 'agent-canary', 'crds', 'agentrollouts.yaml'),
];

if (require.main === module) {
  for (const file of CRD_FILES) {
    writeFileSync(file, agentRolloutCrdYaml());
    process.stdout.write(`wrote ${file}\n`);
  }
}
