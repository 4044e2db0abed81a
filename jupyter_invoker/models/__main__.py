"""``python -m jupyter_invoker.models fetch|path`` — prepare the default model once."""

from __future__ import annotations

import argparse
import sys

from ..exceptions import ModelLoadError
from ._default import default_model_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m jupyter_invoker.models")
    sub = parser.add_subparsers(dest="command", required=True)
    fetch = sub.add_parser("fetch", help="download and convert the default model (idempotent)")
    fetch.add_argument("--force", action="store_true", help="convert again even if cached")
    sub.add_parser("path", help="print the cached default model folder (fails if absent)")
    args = parser.parse_args(argv)
    try:
        if args.command == "fetch":
            print(default_model_path(force=args.force))
        else:
            print(default_model_path(fetch=False))
    except ModelLoadError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
