"""What every benchmark script shares: the timing rule and the machine line of its report.

The scripts run as files (`python benchmarks/<name>.py`), so this is imported as a sibling.
"""

import os
import platform
import time
from datetime import UTC, datetime


def best_of(fn, repeats: int = 3) -> float:
    """The fastest of `repeats` runs, in seconds: the least disturbed by a noisy machine."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    return (
        f"{platform.machine()}, {platform.python_implementation()} "
        f"{platform.python_version()}, {os.cpu_count()} cores"
    )


def today() -> str:
    return datetime.now(UTC).date().isoformat()
