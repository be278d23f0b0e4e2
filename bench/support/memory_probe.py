# 실행 방법: uv run python bench/support/memory_probe.py <report-file> serve   (bench/soak.py starts it)
"""`perfshop` with a memory probe: on SIGUSR1 the process appends where its memory is, as a JSON line, to a file.

RSS alone cannot say why a process grew. The probe splits it into the Python object heap (pymalloc's arenas),
the C heap (glibc malloc: bytes in use, and bytes freed but kept by the allocator) and SQLite's own share of it.
"""

import ctypes
import ctypes.util
import gc
import json
import os
import re
import signal
import sys
import tempfile
from pathlib import Path
from typing import Any

from presentation.cli import main

MB = 1024 * 1024


_MALLINFO2_FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _MallInfo2(ctypes.Structure):
    """glibc's `struct mallinfo2`: every field a size_t."""

    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2_FIELDS.split()]


def _pymalloc_arenas_mb() -> float:
    """Memory in pymalloc's arenas; CPython only prints it, to the C-level stderr."""
    with tempfile.TemporaryFile("w+") as capture:
        saved = os.dup(2)
        try:
            os.dup2(capture.fileno(), 2)
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        found = re.search(r"arenas allocated current\s*=\s*([\d,]+)", capture.read())
    # Arenas are 1 MiB on 64-bit CPython 3.10 and later.
    return int(found.group(1).replace(",", "")) if found else float("nan")


def snapshot() -> dict[str, Any]:
    """Where this process's memory is right now, in MB."""
    gc.collect()
    rss = next(line for line in Path("/proc/self/status").read_text().splitlines() if line.startswith("VmRSS:"))
    figures: dict[str, Any] = {"rss": int(rss.split()[1]) / 1024, "python_arenas": _pymalloc_arenas_mb()}
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
        info = libc.mallinfo2()
        figures["c_heap_in_use"] = (info.uordblks + info.hblkhd) / MB
        figures["c_heap_free_kept"] = info.fordblks / MB
    except (OSError, AttributeError):  # not glibc: the C heap is not split
        pass
    sqlite = ctypes.util.find_library("sqlite3")
    if sqlite:
        library = ctypes.CDLL(sqlite)
        library.sqlite3_memory_used.restype = ctypes.c_int64
        figures["sqlite_in_use"] = library.sqlite3_memory_used() / MB
    figures["threads"] = len(os.listdir("/proc/self/task"))
    return figures


def serve_with_probe(report: Path, argv: list[str]) -> int:
    """Run `perfshop <argv>`, appending a snapshot to `report` on each SIGUSR1."""

    def write(*_: object) -> None:
        with report.open("a") as out:
            out.write(json.dumps(snapshot()) + "\n")

    signal.signal(signal.SIGUSR1, write)
    return main(argv)


if __name__ == "__main__":
    sys.exit(serve_with_probe(Path(sys.argv[1]), sys.argv[2:]))
