// HTTPRoute reads and patches with every answer sorted into "fix the configuration" (RBAC, missing
// route or CRD, refused credentials: RouterConfigError, never retried), "someone else changed it
// first" (RouteConflictError: re-read and try again) and "the API server is unwell" (plain Error,
// retried by the activity).
import { isRetryable, statusKind } from '../http-failure';
import { RouterConfigError } from '../router/types';
import { KubeClient, KubeConfigError, statusMessage, type KubeResponse } from './client';
import { GATEWAY_GROUP, HTTPRouteSchema, type HTTPRoute, type JsonPatchOp } from './httproute';

/** The route changed between our read and our patch (a failed resourceVersion test). */
export class RouteConflictError extends Error {
  override name = 'RouteConflictError';
}

const RBAC_HINT = 'deploy/kubernetes/base/rbac.yaml';

export class RouteApi {
  constructor(
    readonly client: KubeClient,
    private readonly fieldManager = 'agent-canary',
  ) {}

  async get(namespace: string, name: string): Promise<HTTPRoute> {
    const res = await this.call('GET', path(namespace, name), `get HTTPRoute ${namespace}/${name}`, {
      verb: 'get',
      namespace,
      name,
    });
    return parseRoute(res, `HTTPRoute ${namespace}/${name}`);
  }

  async list(namespace: string): Promise<HTTPRoute[]> {
    const res = await this.call('GET', path(namespace), `list HTTPRoutes in ${namespace}`, {
      verb: 'list',
      namespace,
    });
    const items = (res.body as { items?: unknown[] } | undefined)?.items ?? [];
    return items.flatMap((item) => {
      const parsed = HTTPRouteSchema.safeParse(item);
      return parsed.success ? [parsed.data] : [];
    });
  }

  /** JSON patch, recorded under our field manager; a failed `test` op is a RouteConflictError. */
  async patch(namespace: string, name: string, ops: JsonPatchOp[]): Promise<HTTPRoute> {
    const query = `?fieldManager=${encodeURIComponent(this.fieldManager)}`;
    const what = `patch HTTPRoute ${namespace}/${name}`;
    const res = await this.send('PATCH', path(namespace, name) + query, what, {
      contentType: 'application/json-patch+json',
      data: ops,
    });
    if (res.status >= 200 && res.status < 300) return parseRoute(res, `HTTPRoute ${namespace}/${name}`);
    // A JSON patch that cannot apply (a failed `test`) is a bare 422 without causes. Whether the
    // route moved on since our read decides: then it is a conflict, else our patch is wrong.
    const causes = (res.body as { details?: { causes?: unknown[] } } | undefined)?.details?.causes;
    const tested = ops.find((o) => o.op === 'test' && o.path === '/metadata/resourceVersion');
    if (res.status === 422 && !causes?.length && tested && 'value' in tested) {
      const now = await this.get(namespace, name);
      if (now.metadata.resourceVersion !== tested.value) {
        throw new RouteConflictError(
          `kubernetes router: ${what}: the route changed since it was read (resourceVersion ${String(tested.value)} -> ${now.metadata.resourceVersion})`,
        );
      }
    }
    throw failure(res, what, { verb: 'patch', namespace, name });
  }

  /** Whether our credentials allow a verb on httproutes (SelfSubjectAccessReview: always allowed). */
  async canI(verb: string, namespace: string, name?: string): Promise<boolean> {
    const res = await this.send(
      'POST',
      '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
      'access review',
      {
        contentType: 'application/json',
        data: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: { group: GATEWAY_GROUP, resource: 'httproutes', verb, namespace, name },
          },
        },
      },
    );
    if (res.status >= 300) throw failure(res, 'access review', { verb: 'create', namespace });
    return (res.body as { status?: { allowed?: boolean } } | undefined)?.status?.allowed === true;
  }

  private async call(
    method: 'GET' | 'PATCH',
    p: string,
    what: string,
    target: Target,
    body?: { contentType: string; data: unknown },
  ): Promise<KubeResponse> {
    const res = await this.send(method, p, what, body);
    if (res.status >= 200 && res.status < 300) return res;
    throw failure(res, what, target);
  }

  private async send(
    method: 'GET' | 'PATCH' | 'POST',
    p: string,
    what: string,
    body?: { contentType: string; data: unknown },
  ): Promise<KubeResponse> {
    try {
      return await this.client.request(method, p, body);
    } catch (err) {
      if (err instanceof KubeConfigError) throw new RouterConfigError(`kubernetes router: ${err.message}`);
      throw new Error(`kubernetes router: ${what}: ${(err as Error).message}`);
    }
  }
}

interface Target {
  verb: string;
  namespace: string;
  name?: string;
}

function path(namespace: string, name?: string): string {
  const base = `/apis/${GATEWAY_GROUP}/v1/namespaces/${encodeURIComponent(namespace)}/httproutes`;
  return name === undefined ? base : `${base}/${encodeURIComponent(name)}`;
}

function parseRoute(res: KubeResponse, what: string): HTTPRoute {
  const parsed = HTTPRouteSchema.safeParse(res.body);
  if (!parsed.success)
    throw new Error(`kubernetes router: ${what}: unexpected answer: ${res.text.slice(0, 200)}`);
  return parsed.data;
}

function failure(res: KubeResponse, what: string, t: Target): Error {
  const message = statusMessage(res);
  const object = t.name ? `httproutes.${GATEWAY_GROUP} "${t.name}"` : `httproutes.${GATEWAY_GROUP}`;
  const details = (res.body as { details?: { name?: string } } | undefined)?.details;
  switch (res.status) {
    case 401:
      return new RouterConfigError(
        `kubernetes router: ${what}: credentials refused (HTTP 401: ${message}). Fix: check the kubeconfig or the service account token`,
      );
    case 403:
      return new RouterConfigError(
        `kubernetes router: ${what}: forbidden (HTTP 403: ${message}). Fix: grant the verb "${t.verb}" on ${object} in namespace "${t.namespace}" to the worker's account (see ${RBAC_HINT})`,
      );
    case 404:
      // A 404 naming the object is a missing route; any other 404 is a missing Gateway API CRD.
      return new RouterConfigError(
        t.name && details?.name === t.name
          ? `kubernetes router: HTTPRoute "${t.name}" not found in namespace "${t.namespace}". Fix: create it (see deploy/kubernetes/example-httproute.yaml) or set --kube-route/--kube-namespace`
          : `kubernetes router: ${what}: the API server has no ${object} (HTTP 404: ${message}). Fix: install the Gateway API CRDs (standard channel, v1)`,
      );
    case 409:
      return new RouteConflictError(`kubernetes router: ${what}: conflict (${message})`);
    case 422:
      return new RouterConfigError(
        `kubernetes router: ${what}: the API server refused the change (HTTP 422: ${message})`,
      );
    default:
      return isRetryable(statusKind(res.status))
        ? new Error(`kubernetes router: ${what}: HTTP ${res.status}: ${message}`)
        : new RouterConfigError(`kubernetes router: ${what}: HTTP ${res.status}: ${message}`);
  }
}
