"""The ``skillgap`` command: one module per subcommand, each with a ``register(sub)`` function.

Subcommand modules are found by listing this package, so a new command is one new file.
"""

from __future__ import annotations

import argparse
import pkgutil
import sys
from collections.abc import Sequence
from importlib import import_module


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="skillgap",
        description="Compose the skills of multimodal LLMs and measure the composition gap.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            import_module(f"{__name__}.{module.name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # to print a resume command
    try:
        return int(args.func(args))
    except KeyboardInterrupt:  # before anything was saved (a run saves what it has and says so)
        print("\nskillgap: interrupted", file=sys.stderr)
        return 130
    except (ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"skillgap: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
