// The pure helpers the CLI uses for hostile text (issue 11): terminal escapes in reasons and names,
// and Temporal addresses checked before connecting.
import assert from 'node:assert/strict';
import { hostPortProblem } from '../src/text/host-port';
import { printable } from '../src/text/sanitize';

describe('security: text from outside', () => {
  it('printable() leaves no terminal escape, line break or bidi override, and bounds the length', () => {
    const hostile = 'ok\u001b[2J\u001b]0;owned\u0007\r\nfake: line\u202eevil\u2028x\u0085';
    const out = printable(hostile);
    const controls = [...out].filter((c) => {
      const code = c.charCodeAt(0);
      return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x202e;
    });
    assert.deepEqual(controls, [], JSON.stringify(out));
    assert.ok(out.startsWith('ok '));
    assert.equal(printable('x'.repeat(500), 200).length, 201);
    assert.equal(printable('plain text: 25% -> v2'), 'plain text: 25% -> v2');
  });

  it('hostPortProblem() refuses ports out of range and malformed addresses, naming the value', () => {
    for (const ok of ['localhost:7233', '127.0.0.1:7233', '[::1]:7233', 'temporal.example.com:443']) {
      assert.equal(hostPortProblem(ok), undefined, ok);
    }
    for (const bad of [
      'localhost:99999',
      'localhost:0',
      'localhost',
      ':7233',
      'x:y:z',
      '[::1',
      '',
      'a b:1',
    ]) {
      assert.match(hostPortProblem(bad) ?? 'accepted', /host:port|port must be/, bad);
    }
    assert.match(hostPortProblem('localhost:99999')!, /"localhost:99999": port must be 1-65535/);
  });
});
