"""The command line every peer takes: scripts/bench.py starts each one the same way."""

from __future__ import annotations

import argparse


def parser(doc: str) -> argparse.ArgumentParser:
    """The arguments scripts/bench.py passes every peer (a peer may add its own)."""
    made = argparse.ArgumentParser(description=doc.splitlines()[0])
    made.add_argument("--base-url", required=True, help="API root ending in /2.0")
    made.add_argument("--token", required=True)
    made.add_argument("--workspace", action="append", required=True)
    made.add_argument("--db", required=True)
    return made
