// The route table the gateway and the dashboard share: paths are matched as sent, so a handler
// gets parameters and the wildcard tail undecoded (the proxy checks the raw tail for encoded dot
// segments), and a malformed escape still reaches the handler that refuses it.
import assert from 'node:assert/strict';
import { RouteTable, decodeSegment, type RouteHandler } from '../src/gateway/route-table';

const named =
  (name: string): RouteHandler =>
  () => {
    throw new Error(name);
  };

const table = new RouteTable(
  [
    { path: '/v1/agents/:agent/invoke', handler: named('invoke') },
    { path: '/v1/agents/:agent/invoke/*', handler: named('invoke/*') },
    { path: '/v1/agents/:agent/route', handler: named('route') },
    { path: '/v1/agents/*', handler: named('agents/*') },
    { path: '/metrics', methods: ['GET'], handler: named('metrics') },
  ],
  named('none'),
);

function lookup(method: string, path: string) {
  const { handler, params } = table.find(method, path);
  try {
    void handler({} as never);
  } catch (err) {
    return { route: (err as Error).message, params: { ...params } };
  }
  throw new Error('unreachable');
}

describe('route table', () => {
  it('hands parameters and the tail over as sent, encoded dot segments and bad escapes included', () => {
    assert.deepEqual(lookup('POST', '/v1/agents/bot/invoke/chat/completions'), {
      route: 'invoke/*',
      params: { agent: 'bot', '*': 'chat/completions' },
    });
    assert.deepEqual(lookup('GET', '/v1/agents/b%6ft/invoke/%2e%2e/a%2fb'), {
      route: 'invoke/*',
      params: { agent: 'b%6ft', '*': '%2e%2e/a%2fb' },
    });
    assert.deepEqual(lookup('GET', '/v1/agents/bot/invoke/%zz/..').params, { agent: 'bot', '*': '%zz/..' });
    assert.deepEqual(lookup('GET', '/v1/agents/%ff/route'), { route: 'route', params: { agent: '%ff' } });
    assert.equal(lookup('GET', '/v1/agents/bot/invoke').route, 'invoke');
    assert.equal(decodeSegment('b%6ft'), 'bot');
    assert.equal(decodeSegment('%zz'), '%zz', 'a malformed escape stays as sent');
  });

  it('falls back to the wildcard, then to no route; absolute URLs and other methods route nowhere', () => {
    assert.deepEqual(lookup('GET', '/v1/agents/bot/other'), {
      route: 'agents/*',
      params: { '*': 'bot/other' },
    });
    assert.equal(lookup('GET', '/v1/agents/bot/route/').route, 'agents/*', 'no trailing slash folding');
    assert.equal(lookup('GET', '/metrics').route, 'metrics');
    assert.equal(lookup('POST', '/metrics').route, 'none');
    assert.equal(lookup('GET', '/METRICS').route, 'none', 'case-sensitive');
    assert.equal(lookup('GET', 'http://evil.example/v1/agents/bot/route').route, 'none');
    assert.equal(lookup('GET', `/v1/agents/${'x'.repeat(5000)}/route`).route, 'agents/*');
  });
});
