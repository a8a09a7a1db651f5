"""A deploy pipeline written in Python drives a rollout with the Temporal Python SDK only.

Starts canaryRollout with the plan as a team writes it (JSON), then pauses, resumes, extends by
Signal, queries status, and aborts by Update. Prints one JSON object of what it saw, for
test/python-client.test.ts to check. Usage: rollout.py ADDRESS NAMESPACE PLAN_JSON
"""

import asyncio
import json
import os
import sys
import time
import traceback

from temporalio.client import Client


async def until(handle, pred, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = await handle.query("status")
        if pred(last):
            return last
        await asyncio.sleep(0.05)
    raise TimeoutError(f"timed out waiting for {what}; last status: {json.dumps(last)[:2000]}")


async def main(address: str, namespace: str, plan_json: str) -> None:
    plan = json.loads(plan_json)
    client = await Client.connect(address, namespace=namespace)
    handle = await client.start_workflow(
        "canaryRollout", plan, id=f"canary-{plan['agent']}", task_queue="agent-canary"
    )
    first = plan["stages"][0]["weight"]
    started = await until(handle, lambda s: s["canaryPercent"] == first, "stage 1")

    by = {"by": "python-pipeline"}
    await handle.signal("pause", {**by, "reason": "from python"})
    paused = await until(handle, lambda s: s["state"] == "paused", "paused")
    await handle.signal("resume", by)
    await until(handle, lambda s: s["state"] == "progressing", "resumed")
    await handle.signal("extend", {**by, "duration": "5m"})
    extended = await until(handle, lambda s: s.get("extendedMs") == 300_000, "extended")

    aborted = await handle.execute_update("abort", {**by, "reason": "python says stop"})
    result = await handle.result()
    print(
        json.dumps(
            {
                "stageCount": started["stageCount"],
                "startedPercent": started["canaryPercent"],
                "pausedBy": paused["decisions"][-1]["by"],
                "pausedReason": paused["decisions"][-1]["reason"],
                "extendedMs": extended["extendedMs"],
                "abortState": aborted["state"],
                "result": result,
                "actions": [d["action"] for d in aborted["decisions"]],
            }
        )
    )


def run() -> int:
    try:
        asyncio.run(main(*sys.argv[1:4]))
        return 0
    except BaseException:  # noqa: BLE001 - reported, then the same exit path as success
        traceback.print_exc()
        return 1


if __name__ == "__main__":
    # The SDK's Rust core keeps Tokio threads that may call into Python while the interpreter
    # finalizes, which aborts or segfaults the process after the work is done (temporalio/sdk-python
    # issue 300, open; its Client has no close). So the program flushes what it printed and leaves
    # without finalizing: the exit code is the outcome, never a crash of the runtime's teardown.
    code = run()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
