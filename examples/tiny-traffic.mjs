#!/usr/bin/env node
// Traffic for docs/getting-started.md: questions through the gateway, each answer followed by
// feedback (task success and a quality score), as your app or evaluator would send it. No
// dependencies.
//
//   node examples/tiny-traffic.mjs [gateway URL, default http://127.0.0.1:8080] [requests per second, default 20]
//
// Runs until Ctrl-C (or DURATION_S seconds) and prints a line every 5 s.
/* global fetch */ // Node 18+ has it built in.
const gateway = (process.argv[2] ?? 'http://127.0.0.1:8080').replace(/\/+$/, '');
const rps = Number(process.argv[3] ?? 20);
const durationS = Number(process.env.DURATION_S ?? 0);
const agent = process.env.AGENT ?? 'tiny-bot';
if (!/^https?:\/\//.test(gateway)) throw new Error(`gateway must be an http(s) URL, got ${gateway}`);
if (!(rps > 0 && rps <= 1000)) throw new Error(`requests per second must be 1-1000, got ${process.argv[3]}`);

const counts = {};
let sent = 0;

async function one(i) {
  const res = await fetch(`${gateway}/v1/agents/${agent}/invoke`, {
    method: 'POST',
    // One conversation stays on one version: the gateway keys the split on x-session-id.
    headers: { 'content-type': 'application/json', 'x-session-id': `user-${i % 50}` },
    body: JSON.stringify({ question: `question ${i}` }),
  });
  await res.text();
  const version = res.headers.get('x-agent-version') ?? '?';
  const requestId = res.headers.get('x-request-id');
  const c = (counts[version] ??= { ok: 0, failed: 0 });
  if (res.ok) c.ok++;
  else c.failed++;
  if (!requestId || !res.ok) return;
  // Here your app would report what it learnt: did the answer solve the task, how good was it.
  await fetch(`${gateway}/v1/feedback`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      requestId,
      // 95%: above the default plan's floor of 90% task success (analysis.thresholds), which holds
      // for the canary whatever the stable does.
      taskSuccess: Math.random() < 0.95,
      qualityScore: 0.7 + Math.random() * 0.3,
    }),
  });
}

const started = Date.now();
const timer = setInterval(() => {
  one(sent++).catch((err) => console.error(`request failed: ${err.message}`));
  if (durationS > 0 && Date.now() - started >= durationS * 1000) stop();
}, 1000 / rps);
const report = setInterval(() => console.log(`sent ${sent}: ${JSON.stringify(counts)}`), 5000);
function stop() {
  clearInterval(timer);
  clearInterval(report);
  setTimeout(() => {
    console.log(`done: sent ${sent}: ${JSON.stringify(counts)}`);
    process.exit(0);
  }, 500);
}
process.on('SIGINT', stop);
