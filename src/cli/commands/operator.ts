import type { Command } from 'commander';
import { KubeClient } from '../../kubernetes/client';
import { AgentRolloutOperator } from '../../kubernetes/operator';
import { GROUP, PLURAL } from '../../kubernetes/agent-rollout';
import { parseDuration } from '../../plan/duration';
import { UsageError } from '../errors';
import { withClient } from '../context';

interface OperatorFlags {
  kubeconfig?: string;
  kubeContext?: string;
  watchNamespace?: string;
  resync: string;
}

const HELP = `
Each AgentRollout (kubectl apply -f deploy/kubernetes/crd/agentrollouts.yaml) is a plan in its spec;
the operator starts its rollout (workflow canary-<agent>) and reports state, stage, weight, last
verdict and the conditions Progressing, Promoted, RolledBack and Ready in its status:
  kubectl wait agentrollout/support-bot --for=condition=Promoted --timeout=6h
A new spec.canary starts a new rollout; deleting the resource aborts its rollout. Commands as
annotations, carried out once per value:
  kubectl annotate agentrollout/support-bot agent-canary.dev/promote="looks good" --overwrite
  (pause, resume, promote, promote-full, abort, approve)
RBAC: get, list, watch, patch on ${PLURAL}.${GROUP} and patch on its status (deploy/helm/agent-canary).
See docs/gitops.md.
`;

export function register(program: Command): void {
  program
    .command('operator')
    .description('run the AgentRollout operator: rollouts declared as Kubernetes resources (GitOps)')
    .option('--kubeconfig <file>', 'kubeconfig; in-cluster credentials when omitted (env KUBECONFIG)')
    .option('--kube-context <name>', 'kubeconfig context (env AGENT_CANARY_KUBE_CONTEXT)')
    .option(
      '--watch-namespace <ns>',
      'watch one namespace only (env AGENT_CANARY_WATCH_NAMESPACE; default: all namespaces)',
    )
    .option('--resync <duration>', 'how often running rollouts are read again', '5s')
    .addHelpText('after', HELP)
    .action(async (flags: OperatorFlags, cmd: Command) => {
      let resyncMs: number;
      try {
        resyncMs = parseDuration(flags.resync);
      } catch (err) {
        throw new UsageError(`--resync: ${(err as Error).message}`);
      }
      if (resyncMs < 500 || resyncMs > 600_000)
        throw new UsageError('--resync must be between 500ms and 10m');
      const kube = new KubeClient({
        kubeconfig: flags.kubeconfig,
        context: flags.kubeContext ?? process.env.AGENT_CANARY_KUBE_CONTEXT,
      });
      const namespace = flags.watchNamespace ?? (process.env.AGENT_CANARY_WATCH_NAMESPACE || undefined);
      await withClient(cmd, async ({ client }) => {
        const operator = new AgentRolloutOperator({ kube, temporal: client, namespace, resyncMs });
        await operator.start();
        await new Promise<void>((resolve) => {
          process.once('SIGINT', resolve);
          process.once('SIGTERM', resolve);
        });
        process.stderr.write('operator: stopping\n');
        await operator.stop();
      });
    });
}
