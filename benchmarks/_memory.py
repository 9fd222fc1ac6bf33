"""Peak memory of one call, measured the same way in both virtual environments.

Imported as a sibling by drift_vs_evidently.py (project venv) and evidently_worker.py (Evidently
venv), so every contender is measured by this one function. Standard library only.

Method: Linux's ``/proc/self/clear_refs`` (writing "5") resets the process's resident-set
high-water mark (VmHWM) to its current RSS; after the call, VmHWM minus the RSS just before the
call is the call's peak RSS growth. Unlike tracemalloc it counts every allocator (numpy, pandas,
Arrow's memory pool, plain malloc), which matters because pandas 3 keeps strings in Arrow
buffers that tracemalloc does not see. Measure a fresh process's first call on data already
loaded: memory freed earlier and kept by the allocator would be reused without raising the RSS.
"""

from __future__ import annotations

import re
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")
METHOD = (
    "peak RSS growth of one call in a fresh process with the data already loaded "
    "(VmHWM reset through /proc/self/clear_refs, minus the RSS before the call)"
)


def _status_kib(key: str) -> int:
    return int(re.search(rf"^{key}:\s+(\d+) kB", _STATUS.read_text(), re.M).group(1))


def rss_growth(fn) -> tuple[int | None, object]:
    """(peak RSS growth in bytes during ``fn()``, its return value); None where unsupported."""
    try:
        _CLEAR_REFS.write_text("5")
        before = _status_kib("VmRSS")
    except OSError:
        return None, fn()
    value = fn()
    return (_status_kib("VmHWM") - before) * 1024, value
