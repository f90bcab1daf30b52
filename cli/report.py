"""``skillgap report``: render reports of finished runs, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from ..reports import write_comparison

    folders = [Path(folder) for folder in args.dirs]
    out = Path(args.out) if args.out else (folders[0] if len(folders) == 1 else Path("runs/compare"))
    written = write_comparison(folders, out)
    print(f"report in {out}/ ({written['markdown'].name}, {written['html'].name}, plots/)")
    from ..tiny._share import training_card, write_share_report

    if len(folders) > 1 and all(training_card(folder) is not None for folder in folders):
        # Models made by `skillgap train-tiny`: also the gap against their direct-data share.
        share = write_share_report(folders, out)
        print(f"gap against the direct-format training share: {share['markdown']}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rp = sub.add_parser("report", help="render markdown + HTML reports of runs, side by side")
    rp.add_argument("dirs", nargs="+", metavar="DIR", help="run folders (each with samples.jsonl)")
    rp.add_argument("--out", default=None,
                    help="output folder (default: the run folder for one run, runs/compare for several)")
    rp.set_defaults(func=_report)
