"""``python -m bench [NAME ...]``: run the named benchmarks (all when none is named).

``python -m bench --list`` lists them.  Exit status 1 when a benchmark fails or reports errors.
"""
from __future__ import annotations

import sys
import time
import traceback

from .registry import all_benchmarks


def main(argv: list[str]) -> int:
    benchmarks = all_benchmarks()
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__.strip())
        print("\nbenchmarks: " + ", ".join(benchmarks))
        return 0
    if argv and argv[0] == "--list":
        for b in benchmarks.values():
            print(f"{b.name:<16} {b.description}")
        return 0
    unknown = [n for n in argv if n not in benchmarks]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(benchmarks)}", file=sys.stderr)
        return 2
    failed = []
    for name in argv or list(benchmarks):
        started = time.perf_counter()
        print(f"== bench {name}: {benchmarks[name].description}", flush=True)
        try:
            figures = benchmarks[name].run()
        except Exception:  # noqa: BLE001 - report and go on with the next benchmark
            traceback.print_exc()
            failed.append(name)
            continue
        if not figures.get("ok", True):
            failed.append(name)
        print(f"== bench {name}: done in {time.perf_counter() - started:.1f}s\n", flush=True)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
