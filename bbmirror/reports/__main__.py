"""``python -m bbmirror.reports [FILE] [--check]``: write or check datasette-metadata.json."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bbmirror.reports import ReportError, load_metadata, render


def main(argv: list[str] | None = None) -> int:
    """Regenerate the top-level metadata file from the reports folder, or check it is current."""
    parser = argparse.ArgumentParser(prog="python -m bbmirror.reports", description=__doc__)
    parser.add_argument("file", nargs="?", default="datasette-metadata.json", type=Path)
    parser.add_argument("--check", action="store_true", help="exit 1 if FILE is not current")
    args = parser.parse_args(argv)
    try:
        text = render(load_metadata())
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.check:
        current = args.file.exists() and args.file.read_text(encoding="utf-8") == text
        if not current:
            print(f"{args.file} is out of date: run python -m bbmirror.reports", file=sys.stderr)
        return 0 if current else 1
    args.file.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
