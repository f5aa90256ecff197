"""`python -m bench.federation [--quick] [--rounds N] [--duration S] [--systems ...]`: see bench/federation/run.py."""

from __future__ import annotations

import argparse

from bench.federation.run import DEFAULT_SYSTEMS, SYSTEMS, Options, main


def options(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench.federation",
        description="Federation gateway benchmark over remote JS subgraphs.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: one round of 3 s")
    parser.add_argument("--duration", type=int, help="seconds per system and round (default 10)")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3)")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers of `atlas4d-workers`")
    parser.add_argument("--systems", nargs="+", choices=SYSTEMS, default=list(DEFAULT_SYSTEMS))
    parser.add_argument("--no-write", action="store_true", help="print the table, leave RESULTS.md alone")
    args = parser.parse_args(argv)
    base = Options(duration=3, warmup=1, rounds=1, prime=3) if args.quick else Options()
    return Options(
        duration=args.duration or base.duration,
        warmup=base.warmup,
        prime=base.prime,
        rounds=args.rounds or base.rounds,
        workers=args.workers,
        systems=tuple(args.systems),
        write=not (args.no_write or args.quick),
    )


if __name__ == "__main__":
    main(options())
