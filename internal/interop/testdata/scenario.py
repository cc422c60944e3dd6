"""What the scenario scripts share whatever their XMPP library: a time limit
on every network wait, a failure that names the step, and the verdict the
Go tests read (a line "FAIL <why>" or "PASS", and the exit code).
"""
import asyncio
import logging
import sys

# Per-step limit: every await on the network goes through step(), so a hung
# step fails with its name instead of hanging the script.
STEP_TIMEOUT = 10


class Fail(Exception):
    pass


async def step(what, aw, timeout=STEP_TIMEOUT):
    try:
        return await asyncio.wait_for(aw, timeout)
    except asyncio.TimeoutError:
        raise Fail("timeout waiting for " + what) from None


def run(scenario, total=None):
    """Runs the coroutine function scenario, all of it within total
    seconds if given, prints the verdict and exits 1 on a Fail. "-v"
    among the arguments turns the library's debug log on."""
    if "-v" in sys.argv:
        logging.basicConfig(level=logging.DEBUG)

    async def main():
        if total is None:
            await scenario()
        else:
            await step("whole scenario", scenario(), timeout=total)

    try:
        asyncio.run(main())
    except Fail as e:
        print("FAIL", e, flush=True)
        sys.exit(1)
    print("PASS", flush=True)
