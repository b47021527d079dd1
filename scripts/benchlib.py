"""What the benchmark scripts share: a generated Cloud world served in-process with the source
that mirrors it, reading figures from a database, and results written as JSON."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from bbmirror.config import Credentials, Secret, Source
from bbmirror.simulator.cloud.api import create_app
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.cloud.world import World

BASE = "http://bitbucket.test/2.0"


def served_cloud(
    seed: int, size: str, token: str, base: str = BASE, **source: Any
) -> tuple[World, Any, Source]:
    """A fresh world, its simulator app (for an in-process transport) and a source for it."""
    world = generate(seed, size)
    app = create_app(world, SimulatorConfig(base_url=base, tokens={token: viewer_uuid(world)}))
    values = {
        "name": "cloud",
        "base_url": base,
        "workspaces": sorted(world.workspaces),
        "credentials": Credentials(token=Secret(token)),
        "budget": 1_000_000,
        **source,
    }
    return world, app, Source(**values)


def write_results(out: str | Path, data: Any) -> None:
    """Write a benchmark's figures as JSON (making the folder) and say where."""
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"written {path}")


def query(db: str | Path, sql: str) -> list[tuple]:
    """Every row a query gives, read through a connection of its own."""
    conn = sqlite3.connect(db)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def value(db: str | Path, sql: str) -> Any:
    """The one value a query gives (a count, a sum)."""
    return query(db, sql)[0][0]
