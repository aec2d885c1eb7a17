"""The garbage-collector settings of a long-running process (``billfold.main.settle_for_long_run``).

Run in a child interpreter: they are process-wide, and the test process must keep its own.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import gc, weakref
    from billfold.main import settle_for_long_run

    class Node:
        pass

    def cycle():
        a, b = Node(), Node()
        a.other, b.other = b, a
        return weakref.ref(a)

    gc.disable()  # nothing collects the start-up garbage before the settling does
    before = cycle()
    gc.enable()
    assert before() is not None
    settle_for_long_run()
    assert before() is None, "garbage made before settling was frozen instead of collected"
    assert gc.get_freeze_count() > 0, "the objects alive after start-up were not frozen"
    assert 700 < gc.get_threshold()[0] <= 100_000, "the young generation's threshold is not raised, or too far"

    # Cyclic garbage made afterwards is still collected, without an explicit gc.collect(): once the allocations
    # since the last collection pass the threshold.
    after = cycle()
    kept = [[] for _ in range(100_010)]
    assert after() is None, "a cycle made after settling was never collected"
    print("ok", len(kept))
    """
)


def test_settling_collects_start_up_garbage_freezes_the_rest_and_still_collects_later_cycles() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ")
