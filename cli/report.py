"""``skillgap report``: render reports of finished runs, side by side."""

from __future__ import annotations

import argparse
from pathlib import Path


def _report(args: argparse.Namespace) -> int:
    from ..reports import write_comparison

    folders = [Path(folder) for folder in args.dirs]
    out = Path(args.out) if args.out else (folders[0] if len(folders) == 1 else Path("runs/compare"))
    if args.share_study:
        from ..tiny._share import training_card

        untrained = [str(folder) for folder in folders if training_card(folder) is None]
        if untrained:  # checked before anything is written
            raise ValueError("--share-study needs runs of models trained by `skillgap train-tiny`; "
                             f"no training record for: {', '.join(untrained)}")
    written = write_comparison(folders, out, overwrite=args.overwrite)
    print(f"report in {out}/ ({written['markdown'].name}, {written['html'].name}, plots/)")
    if args.share_study:
        from ..tiny._share import write_share_report

        share = write_share_report(folders, out)
        print(f"gap against the direct-format training share: {share['markdown']}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rp = sub.add_parser("report", help="render markdown + HTML reports of runs, side by side")
    rp.add_argument("dirs", nargs="+", metavar="DIR", help="run folders (each with samples.jsonl)")
    rp.add_argument("--out", default=None,
                    help="output folder (default: the run folder for one run, runs/compare for "
                         "several); a folder holding something else is refused without --overwrite")
    rp.add_argument("--overwrite", action="store_true",
                    help="replace the report already in --out")
    rp.add_argument("--share-study", action="store_true",
                    help="also plot the gap against the direct-format share of the training data "
                         "(runs of models made by `skillgap train-tiny`): direct_share.md")
    rp.set_defaults(func=_report)
