"""``skillgap skills``: list registered skills."""

from __future__ import annotations

import argparse


def _skills(args: argparse.Namespace) -> int:
    from ..skills import list_skills

    for skill in list_skills():
        print(f"{skill.modality:>6}  {skill.signature()}")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sk = sub.add_parser("skills", help="list registered skills")
    sk.set_defaults(func=_skills)
