// A minimal Kubernetes API client: credentials and TLS from a kubeconfig or the in-cluster service
// account (through @kubernetes/client-node's KubeConfig, which knows every auth flavour: tokens,
// client certificates, exec plugins, token files that the kubelet rotates), requests over node:https
// so that every status, body and timeout is ours to classify.
//
// @kubernetes/client-node is ESM and takes about half a second to load: it is loaded on first use,
// so commands that never talk to Kubernetes do not pay for it.
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeClientOptions {
  /** Path of a kubeconfig file; default: $KUBECONFIG, ~/.kube/config, then the in-cluster account. */
  kubeconfig?: string;
  /** kubeconfig context; default: its current context. */
  context?: string;
  /**
   * Use the in-cluster service account (token, CA, namespace under
   * <root>/var/run/secrets/kubernetes.io/serviceaccount, API server from KUBERNETES_SERVICE_HOST/PORT)
   * even where a kubeconfig exists. "" is the real root; another root is for tests.
   */
  inClusterRoot?: string;
  /** Per-request deadline. */
  timeoutMs?: number;
}

export interface KubeResponse {
  status: number;
  /** Parsed JSON body, or undefined when the body was empty or not JSON. */
  body: unknown;
  text: string;
}

/** The API server could not be reached or did not answer in time: worth retrying. */
export class KubeUnavailableError extends Error {
  override name = 'KubeUnavailableError';
}

/** The kubeconfig (or in-cluster account) cannot be used: retrying will not help. */
export class KubeConfigError extends Error {
  override name = 'KubeConfigError';
}

const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

export class KubeClient {
  private config?: Promise<KubeConfig>;
  private readonly timeoutMs: number;

  constructor(private readonly options: KubeClientOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 10_000;
  }

  /** The API server's URL, for messages. */
  async server(): Promise<string> {
    return (await this.kubeConfig()).getCurrentCluster()?.server ?? '(no cluster)';
  }

  /** The namespace of the kubeconfig's context, or of the in-cluster account, or "default". */
  async defaultNamespace(): Promise<string> {
    const kc = await this.kubeConfig();
    const ns = kc.getContextObject(kc.getCurrentContext())?.namespace;
    if (ns) return ns;
    try {
      return readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim() || 'default';
    } catch {
      return 'default';
    }
  }

  async request(
    method: 'GET' | 'PATCH' | 'POST',
    path: string,
    body?: { contentType: string; data: unknown },
  ): Promise<KubeResponse> {
    const kc = await this.kubeConfig();
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new KubeConfigError('kubeconfig has no current cluster');
    // Called per request: tokens from files and exec plugins are refreshed by KubeConfig itself.
    const opts: https.RequestOptions = { headers: {} };
    try {
      await kc.applyToHTTPSOptions(opts);
    } catch (err) {
      throw new KubeConfigError(`kubeconfig credentials unusable: ${(err as Error).message}`);
    }
    const url = new URL(cluster.server.replace(/\/+$/, '') + path);
    const payload = body === undefined ? undefined : JSON.stringify(body.data);
    const headers: http.OutgoingHttpHeaders = {
      ...(opts.headers as http.OutgoingHttpHeaders),
      accept: 'application/json',
      ...(body ? { 'content-type': body.contentType, 'content-length': Buffer.byteLength(payload!) } : {}),
    };
    const what = `${method} ${url.origin}${url.pathname}`;
    const lib = url.protocol === 'http:' ? http : https;
    return new Promise<KubeResponse>((resolve, reject) => {
      const req = lib.request(
        url,
        {
          method,
          headers,
          agent: url.protocol === 'http:' ? undefined : opts.agent,
          auth: opts.auth,
          timeout: this.timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', (err) => reject(new KubeUnavailableError(`${what}: ${err.message}`)));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            resolve({ status: res.statusCode ?? 0, body: parsed, text });
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on('error', (err: Error & { code?: string }) =>
        reject(new KubeUnavailableError(`${what}: ${err.code ?? ''} ${err.message}`.replace(/\s+/g, ' '))),
      );
      req.end(payload);
    });
  }

  /** The loaded kubeconfig (cluster, credentials), for @kubernetes/client-node's watches. */
  loadedConfig(): Promise<KubeConfig> {
    return this.kubeConfig();
  }

  private kubeConfig(): Promise<KubeConfig> {
    this.config ??= (async () => {
      const { KubeConfig } = await import('@kubernetes/client-node');
      const kc = new KubeConfig();
      try {
        if (this.options.inClusterRoot !== undefined) kc.loadFromCluster(this.options.inClusterRoot);
        else if (this.options.kubeconfig) kc.loadFromFile(this.options.kubeconfig);
        else kc.loadFromDefault();
        if (this.options.context) kc.setCurrentContext(this.options.context);
      } catch (err) {
        throw new KubeConfigError(`cannot load the kubeconfig: ${(err as Error).message}`);
      }
      const server = kc.getCurrentCluster()?.server ?? '';
      if (server.includes('undefined')) {
        throw new KubeConfigError('not running in a cluster: KUBERNETES_SERVICE_HOST/PORT are not set');
      }
      // loadFromDefault's last resort when it found nothing: say so rather than dial it.
      if (
        !this.options.kubeconfig &&
        this.options.inClusterRoot === undefined &&
        server === 'http://localhost:8080'
      ) {
        throw new KubeConfigError(
          'no kubeconfig found (set KUBECONFIG or --kubeconfig) and not running in a cluster',
        );
      }
      if (!kc.getCurrentCluster()) {
        throw new KubeConfigError(
          this.options.context
            ? `kubeconfig context "${this.options.context}" names no cluster`
            : 'no kubeconfig found (set KUBECONFIG or --kubeconfig) and not running in a cluster',
        );
      }
      return kc;
    })();
    return this.config;
  }
}

/** The `message` of a Kubernetes Status body, for error texts. */
export function statusMessage(res: KubeResponse): string {
  const b = res.body as { message?: unknown } | undefined;
  const m = typeof b?.message === 'string' ? b.message : res.text;
  return m.slice(0, 500).trim();
}
