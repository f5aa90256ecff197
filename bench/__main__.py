"""`python -m bench [--quick] [--scale N] [--systems ...]`: see bench/run.py and docs/performance.md."""

from __future__ import annotations

import argparse

from bench.queries import QUERY_NAMES, SYSTEMS
from bench.run import Options, main


def options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Atlas4D core benchmark (issue 7).")
    parser.add_argument("--scale", type=int, default=1_000_000, help="observations in the read database")
    parser.add_argument("--quick", action="store_true", help="smoke run: 100k rows, 3 s per query, one round")
    parser.add_argument("--duration", type=int, help="seconds per query (default 20)")
    parser.add_argument("--rounds", type=int, help="rounds (default 2)")
    parser.add_argument("--ingest-rows", type=int, help="observations per ingest path (default 1M)")
    parser.add_argument("--ingest-rounds", type=int, help="rounds of the ingest paths (default 2)")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reads", action="store_true")
    parser.add_argument(
        "--queries",
        nargs="+",
        choices=QUERY_NAMES,
        default=list(QUERY_NAMES),
        help="reads to run (default all)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        base = Options(
            observations=100_000, duration=3, warmup=1, rounds=1, ingest_rows=100_000, ingest_rounds=1
        )
    else:
        base = Options(observations=args.scale)
    return Options(
        observations=base.observations if args.quick else args.scale,
        entities=base.entities,
        days=base.days,
        duration=args.duration or base.duration,
        warmup=base.warmup,
        rounds=args.rounds or base.rounds,
        ingest_rows=args.ingest_rows or base.ingest_rows,
        ingest_rounds=args.ingest_rounds or base.ingest_rounds,
        systems=tuple(args.systems),
        skip_ingest=args.skip_ingest,
        skip_reads=args.skip_reads,
        queries=tuple(args.queries),
    )


if __name__ == "__main__":
    main(options())
