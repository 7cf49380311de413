"""python -m bench [--quick]: run every benchmark and print figures with their ratios."""

from __future__ import annotations

import argparse
import logging

from bench import (
    ask_relay,
    catalogue,
    checkins,
    dispatch_offline,
    evaluation,
    help_roundtrip,
    scale,
    trust,
)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="fewer rounds (a smoke run)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    dispatch_offline.main(batches=20 if args.quick else 200)
    help_roundtrip.main(trips=40 if args.quick else 200)
    ask_relay.main(questions=40 if args.quick else 200)
    ask_relay.main(questions=40 if args.quick else 200, encrypted=True)
    catalogue.main(items=10_000 if args.quick else 100_000, searches=200 if args.quick else 1_000)
    checkins.main(quick=args.quick)
    evaluation.main(quick=args.quick)
    trust.main(members=400 if args.quick else 4000, rounds=3 if args.quick else 5)
    scale.main(quick=args.quick)


if __name__ == "__main__":
    main()
