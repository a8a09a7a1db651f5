// `agent-canary export flagger`: the plan as a Flagger Canary for teams already on Flagger. The
// manifest goes to stdout (or --output) so it can be piped into kubectl; what Flagger cannot express
// goes to stderr, one line each, so it is seen and never applied by accident.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { flaggerCanary, type FlaggerTarget } from '../../kubernetes/flagger';
import { readPlan } from '../plan-file';
import { UsageError } from '../errors';

/** RFC 1123 label (namespaces) and subdomain (Deployments, Gateways), as the API server checks them. */
const LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The example manifests' Gateway (deploy/kubernetes/example): used when --gateway is not given. */
const DEFAULT_GATEWAY = 'gateway-system/agents';

function namespaceName(flag: string, value: string): string {
  if (value.length > 63 || !LABEL.test(value)) {
    throw new UsageError(`${flag} "${value}": must be a Kubernetes namespace name (lowercase, digits, -)`);
  }
  return value;
}

function objectName(flag: string, value: string): string {
  if (value.length > 253 || !SUBDOMAIN.test(value)) {
    throw new UsageError(`${flag} "${value}": must be a Kubernetes object name (lowercase, digits, - and .)`);
  }
  return value;
}

function gatewayRef(value: string): FlaggerTarget['gateways'][number] {
  const parts = value.split('/');
  if (parts.length > 2) throw new UsageError(`--gateway "${value}": use name or namespace/name`);
  const [ns, name] = parts.length === 2 ? parts : [undefined, parts[0]];
  return {
    name: objectName('--gateway', name),
    ...(ns !== undefined ? { namespace: namespaceName('--gateway', ns) } : {}),
  };
}

function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < 1 || n > 65535) {
    throw new UsageError(`--port "${value}": must be a port number from 1 to 65535`);
  }
  return n;
}

interface FlaggerFlags {
  file: string;
  namespace?: string;
  target?: string;
  port: string;
  gateway?: string[];
  output?: string;
}

export function register(program: Command): void {
  const exp = program
    .command('export')
    .description('write a plan in another tool’s format (exit 2 when the plan is invalid)');
  exp
    .command('flagger')
    .description(
      'the plan as a Flagger Canary (Gateway API provider): stages as stepWeights, the interval, the failure threshold; what Flagger cannot express is listed on stderr',
    )
    .requiredOption('-f, --file <plan>', 'plan file, YAML or JSON ("-" for stdin)')
    // The root program owns --namespace (Temporal's, for the other verbs); here no Temporal is
    // involved, so it names the Kubernetes namespace, read with the globals.
    .option('--namespace <ns>', 'namespace of the Deployment and the Canary (default "default")')
    .option('--target <deployment>', 'the Deployment Flagger manages (default: the agent name)')
    .option('--port <n>', 'port of the Service Flagger creates', '80')
    .option(
      '--gateway <namespace/name>',
      `Gateway the generated HTTPRoute attaches to, repeatable (default ${DEFAULT_GATEWAY})`,
      (v: string, all: string[] = []) => [...all, v],
    )
    .option('-o, --output <file>', 'write the manifest to a file instead of stdout')
    .addHelpText(
      'after',
      '\nExample:\n  agent-canary export flagger -f plan.yaml --namespace ai-serving --gateway gateway-system/agents \\\n    | kubectl apply --dry-run=server -f -\n',
    )
    .action((opts: FlaggerFlags, cmd: Command) => {
      const ns = cmd.optsWithGlobals<{ namespace?: string }>().namespace ?? opts.namespace ?? 'default';
      const target: FlaggerTarget = {
        namespace: namespaceName('--namespace', ns),
        ...(opts.target !== undefined ? { deployment: objectName('--target', opts.target) } : {}),
        port: port(opts.port),
        gateways: (opts.gateway ?? [DEFAULT_GATEWAY]).map(gatewayRef),
      };
      const plan = readPlan(opts.file);
      const { canary, notExpressed } = flaggerCanary(plan, target);
      if (!opts.gateway) {
        notExpressed.push(`service.gatewayRefs: ${DEFAULT_GATEWAY} (the example's Gateway); give --gateway`);
      }
      const yaml = `# Flagger Canary for agent ${plan.agent} (${plan.stable} -> ${plan.canary}), from agent-canary\n${stringify(canary)}`;
      if (opts.output) {
        try {
          writeFileSync(opts.output, yaml);
        } catch (err) {
          throw new UsageError(
            `cannot write ${opts.output}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
          );
        }
      } else {
        process.stdout.write(yaml);
      }
      if (notExpressed.length > 0) {
        process.stderr.write(
          `not expressed in Flagger (${notExpressed.length}):\n${notExpressed.map((l) => `  - ${l}\n`).join('')}`,
        );
      }
    });
}
