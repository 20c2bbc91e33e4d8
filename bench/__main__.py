"""`python -m bench [name ...]`: run every benchmark, or the named ones, and print the table."""

from __future__ import annotations

import argparse
import sys
import time
import traceback

from bench.harness import Benchmark, Result, format_table, say


def _benchmarks() -> dict[str, Benchmark]:
    from bench.bench_automation import bench_automation
    from bench.bench_cf_filter import bench_cf_filter
    from bench.bench_customers import bench_customers
    from bench.bench_events import bench_events
    from bench.bench_export import bench_export
    from bench.bench_http import bench_http
    from bench.bench_imports import bench_imports
    from bench.bench_latency import bench_latency
    from bench.bench_notifications import bench_notifications
    from bench.bench_registration import bench_registration
    from bench.bench_timeline import bench_timeline

    return {
        "events": bench_events,
        "latency": bench_latency,
        "http": bench_http,
        "customers": bench_customers,
        "imports": bench_imports,
        "export": bench_export,
        "cf_filter": bench_cf_filter,
        "registration": bench_registration,
        "notifications": bench_notifications,
        "timeline": bench_timeline,
        "automation": bench_automation,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmarks; 1 if one of them could not run (never because of a figure)."""
    benchmarks = _benchmarks()
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "names", nargs="*", metavar="name", help=f"any of {', '.join(benchmarks)} (default: all)"
    )
    args = parser.parse_args(argv)
    names: list[str] = args.names or list(benchmarks)
    unknown = [name for name in names if name not in benchmarks]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(benchmarks)}")
    results: list[tuple[str, Result]] = []
    failed: list[str] = []
    for name in names:
        say(f"{name}: starting")
        started = time.perf_counter()
        try:
            results.extend((name, result) for result in benchmarks[name]())
        except Exception:  # noqa: BLE001  (the other benchmarks still run)
            traceback.print_exc()
            failed.append(name)
        say(f"{name}: done in {time.perf_counter() - started:.1f} s")
    print()
    print(format_table(results))
    if failed:
        print(f"\nfailed to run: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
