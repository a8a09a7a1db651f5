// Calling a plan's hooks (docs/gates.md): JSON POSTed to each hook of one type at once, signed as
// notifications are (src/signing.ts), through the outbound policy (src/outbound.ts), each attempt cut
// off at the hook's timeout and retried on a network error, a timeout, 5xx, 408 or 429. A gate hook
// passes on 2xx only; anything else fails it with the hook's answer as the reason (its status and a
// short printable excerpt of its body: the hook is the plan author's own service).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ALLOW_HOSTS_ENV, hostList, readEnv } from './notify';
import { RedirectRefusedError, describeFetchError, outboundFetch, type OutboundPolicy } from './outbound';
import { HOOK_BACKOFF_MS } from './plan/hook-budget';
import type { Hook, HookType } from './plan/schema';
import { signatureHeaders } from './signing';
import { printable } from './text/sanitize';

export const HEADER_HOOK = 'x-agent-canary-hook';
export const HEADER_DELIVERY = 'x-agent-canary-delivery';

/** What each hook is told: the rollout and where it stands, plus the hook's own metadata. */
export interface HookCall {
  type: HookType;
  agent: string;
  stable: string;
  canary: string;
  workflowId: string;
  stageIndex: number;
  /** The canary percent the call is about (the next stage's for a confirm hook). */
  weight: number;
  reason: string;
  at: string;
}

export interface HookResult {
  ok: boolean;
  /** "ok", or the first failing hook's name and answer. */
  reason: string;
  /** One line per failing hook, for the record. */
  failures: { hook: string; error: string }[];
}

export interface HookOptions {
  env?: Record<string, string | undefined>;
  allowHosts?: string[];
}

/** Calls every hook of `call.type` in `hooks`; ok when each answered 2xx (or there are none). */
export async function callHooks(hooks: Hook[], call: HookCall, opts: HookOptions = {}): Promise<HookResult> {
  const env = opts.env ?? process.env;
  const policy: OutboundPolicy = { allowHosts: opts.allowHosts ?? hostList(env[ALLOW_HOSTS_ENV]) };
  const mine = hooks.filter((h) => h.type === call.type);
  const answers = await Promise.all(
    mine.map(async (h) => ({ hook: h.name, error: await callOne(h, call, env, policy) })),
  );
  const failures = answers.filter((a): a is { hook: string; error: string } => a.error !== null);
  if (failures.length === 0) return { ok: true, reason: 'ok', failures: [] };
  return { ok: false, reason: `hook ${failures[0].hook}: ${failures[0].error}`, failures };
}

/** null on 2xx; otherwise why not, safe to store. */
async function callOne(
  h: Hook,
  call: HookCall,
  env: Record<string, string | undefined>,
  policy: OutboundPolicy,
): Promise<string | null> {
  const secret = h.secret ? { value: h.secret } : readEnv(env, h.secretEnv!);
  if ('problem' in secret) return `not called: ${secret.problem}`;
  const body = JSON.stringify({ ...call, hook: h.name, metadata: h.metadata ?? {} });
  const delivery = randomUUID();
  let last = 'no attempt made';
  for (let attempt = 0; attempt <= h.retries; attempt++) {
    if (attempt > 0) await sleep(HOOK_BACKOFF_MS * 2 ** (attempt - 1));
    try {
      const res = await outboundFetch(h.url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          [HEADER_HOOK]: call.type,
          [HEADER_DELIVERY]: delivery,
          ...signatureHeaders(secret.value, body),
        },
        body,
        timeoutMs: h.timeout,
        policy,
      });
      const text = await res.text().catch(() => '');
      if (res.ok) return null;
      last = `HTTP ${res.status}${answerOf(text)}`;
      if (!(res.status >= 500 || res.status === 408 || res.status === 429)) return last;
    } catch (err) {
      if (err instanceof RedirectRefusedError) return err.message;
      last = describeFetchError(err, h.timeout);
      if ((err as Error).name === 'OutboundUrlError') return `not called: the URL ${last}`;
    }
  }
  return `${last} (after ${h.retries + 1} attempt${h.retries === 0 ? '' : 's'})`;
}

/** A short excerpt of an answer: a JSON answer's message/error/reason field, or its first line. */
function answerOf(text: string): string {
  let line = '';
  try {
    const j = JSON.parse(text) as Record<string, unknown>;
    const field = [j.message, j.error, j.reason].find((v) => typeof v === 'string');
    line = typeof field === 'string' ? field : '';
  } catch {
    line = text.split('\n')[0] ?? '';
  }
  const safe = printable(line, 200);
  return safe ? `: ${safe}` : '';
}
