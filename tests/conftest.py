"""The `flavour` fixture: what the protocol tests need to know about Cloud and Data Center.

A protocol property (equality with the world, no-op economy, faults, convergence, secrets...)
is written once in test_protocol.py and runs for each flavour; everything that differs between
the two (the harness, the world, the mutations, the request formula) is declared here.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import random
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import dc_mirror
import mirror
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from lanes import pytest_collection_modifyitems as pytest_collection_modifyitems

from bbmirror.config import Credentials, Secret, Source
from bbmirror.engine import Summary
from bbmirror.flavours.cloud.plan import CLOUD_PLAN
from bbmirror.flavours.server.plan import SERVER_PLAN
from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.common.faults import Faults
from bbmirror.simulator.common.serving import RunningApp
from bbmirror.simulator.server import mutate as dc_mutate
from bbmirror.simulator.server.api import create_dc_app
from bbmirror.simulator.server.call import DcConfig, DcFaults
from bbmirror.simulator.server.generate import generate_dc
from bbmirror.simulator.server.world import DcSettings


@dataclass(frozen=True)
class Flavour:
    """One Bitbucket flavour as the protocol tests see it."""

    name: str
    harness: type[mirror.Harness]
    generate: Callable[..., Any]  # (seed, size, **world_options) -> world
    differences: Callable[..., list[str]]  # (world, db) -> [] when equal
    expected: Callable[..., dict]  # world -> rows the mirror must hold alive
    token: str
    random_activity: Callable[..., Any]  # (world, n, rng)
    no_op_requests: Callable[[Any], int]  # world -> requests of a sync with nothing changed
    comment_on_a_pr: Callable[[Any], int]  # world -> number of the PR that got a comment
    pr_path: str  # how the PR's own URLs look: "/pullrequests/" or "/pull-requests/"
    tombstoned: tuple[str, ...]  # tables whose vanished rows must be tombstones
    world_options: st.SearchStrategy[dict]  # undocumented-behaviour switches worth drawing
    coverage: tuple[str, ...]  # SQL: each must count > 0 after a full sync of a `small` world
    serve: Callable[[Any, float], RunningApp]  # (world, latency) -> a loopback server (a thread)
    cli_sync: Callable[[RunningApp], tuple[list[str], dict[str, str]]]  # flags after the db, env
    cli_source: str  # the name `bbmirror sync` gives the source it mirrors
    bad_inputs: Callable[[RunningApp, str], list[tuple[list[str], dict, str]]]
    # (running, a URL nobody listens on) -> [(flags, env, what the one error line must say)]

    def mirror(self, seed: int, size: str, db: str, /, **faults: Any) -> mirror.Harness:
        """A world of this flavour served in-process, syncing into `db`."""
        return self.harness(self.generate(seed, size), db, faults=faults)

    def rerun_source(self, running: RunningApp) -> Source:
        """The source `bbmirror sync` mirrors from `running`, for an in-process rerun."""
        if self.name == "cloud":
            where = {"workspaces": sorted(running.world.workspaces)}
        else:
            where = {"kind": "server"}
        return Source(
            name=self.cli_source,
            base_url=running.base_url,
            credentials=Credentials(token=Secret(self.token)),
            budget=1_000_000,
            **where,
        )


def _cloud_serve(world, latency: float) -> RunningApp:
    tokens = {mirror.TOKEN: viewer_uuid(world)}
    return RunningSimulator(world, SimulatorConfig(tokens=tokens, faults=Faults(latency=latency)))


def _server_serve(world, latency: float) -> RunningApp:
    viewer = world.users[min(world.users)].slug
    tokens = {dc_mirror.TOKEN: viewer}

    def make(root: str):
        faults = DcFaults(latency=latency)
        return create_dc_app(world, DcConfig(base_url=root, tokens=tokens, faults=faults))

    running = RunningApp(make)
    running.world = world
    return running


def _cloud_cli(running: RunningApp) -> tuple[list[str], dict[str, str]]:
    flags = ["--base-url", running.base_url]
    for workspace in sorted(running.world.workspaces):
        flags += ["--workspace", workspace]
    return flags, {"BITBUCKET_TOKEN": mirror.TOKEN}


def _server_cli(running: RunningApp) -> tuple[list[str], dict[str, str]]:
    return ["--server-url", running.base_url], {"BITBUCKET_SERVER_TOKEN": dc_mirror.TOKEN}


def _cloud_bad(running: RunningApp, dead: str) -> list[tuple[list[str], dict, str]]:
    ws = sorted(running.world.workspaces)[0]
    env = {"BITBUCKET_TOKEN": mirror.TOKEN, "BITBUCKET_EMAIL": None, "BITBUCKET_API_TOKEN": None}
    url = ["--base-url", running.base_url]
    return [
        ([*url, "--workspace", ws], {**env, "BITBUCKET_TOKEN": "not-the-token"}, "credentials"),
        ([*url, "--workspace", "nope"], env, "workspace 'nope' does not exist"),
        ([*url, "--repo", f"{ws}/nope"], env, f"repository '{ws}/nope'"),
        (["--base-url", f"{dead}/2.0", "--workspace", ws], env, "cannot reach"),
    ]


def _server_bad(running: RunningApp, dead: str) -> list[tuple[list[str], dict, str]]:
    env = {"BITBUCKET_SERVER_TOKEN": dc_mirror.TOKEN}
    url = ["--server-url", running.base_url]
    return [
        (url, {"BITBUCKET_SERVER_TOKEN": "not-the-token"}, "credentials"),
        ([*url, "--project", "NOPE"], env, "project 'NOPE' does not exist"),
        ([*url, "--repo", "NOPE/none"], env, "repository 'NOPE/none'"),
        (["--server-url", dead], env, "cannot reach"),
    ]


def _cloud_comment(world) -> int:
    repo = next(r for r in world.repositories.values() if r.pullrequests)
    pr = next(iter(repo.pullrequests.values()))
    mutate.comment_pr(world, repo, pr, random.Random(1))
    return pr.id


def _server_comment(world) -> int:
    repo = next(r for r in world.repositories.values() if r.pull_requests)
    pr = next(iter(repo.pull_requests.values()))
    someone = next(u for u in world.users if u != pr.author_id)
    dc_mutate.comment_pr(world, pr, someone, "One more thing: the **changelog**.")
    return pr.id


_SHARED_COVERAGE = (
    "select count(*) from pullrequest_activity where kind = 'update'",
    "select count(*) from pullrequest_activity where kind = 'approval'",
    "select count(*) from pullrequest_activity where kind = 'comment'",
    "select count(*) from pullrequest_activity where kind = 'changes_requested'",
    "select count(*) from comments where parent_id is not null",
    "select count(*) from commits where parent_count = 2",
    "select count(*) from commit_statuses",
    # Timestamps are stored as UTC with microseconds, whatever the API sent.
    "select count(*) = 0 from commits where date not like '%+00:00' or length(date) != 32",
    # Every mirrored row keeps the JSON the API returned.
    "select count(*) = 0 from pullrequests where json is null",
    "select count(distinct state) = 2 from pullrequest_tasks",  # UNRESOLVED and RESOLVED
)


def _flavour(
    name: str, harness: type[mirror.Harness], helpers: Any, sim: Any, plan: Any, **rest
) -> Flavour:
    """A flavour's fields that follow from its test helpers module, its simulator's mutations
    and its plan (`helpers` is tests/mirror.py or tests/dc_mirror.py)."""
    return Flavour(
        name,
        harness,
        differences=helpers.differences,
        expected=helpers.expected,
        token=helpers.TOKEN,
        random_activity=sim.random_activity,
        no_op_requests=plan.no_op_requests,
        cli_source=name,
        **rest,
    )


CLOUD = _flavour(
    "cloud",
    mirror.Harness,
    mirror,
    mutate,
    CLOUD_PLAN,
    generate=generate,
    comment_on_a_pr=_cloud_comment,
    pr_path="/pullrequests/",
    tombstoned=("pullrequests", "issues", "comments", "branches", "commits"),
    world_options=st.just({}),
    coverage=(
        *_SHARED_COVERAGE,
        "select count(distinct state) = 4 and count(*) = count(case when state in"
        " ('OPEN', 'MERGED', 'DECLINED', 'SUPERSEDED') then 1 end) from pullrequests",
        "select count(*) from comments where inline_path is not null",
        "select count(*) from comments where deleted = 1",
        "select count(*) from issue_change_items",
        "select count(*) from pipelines where pullrequest_id is not null",
        "select count(*) from pipeline_steps where result = 'NOT_RUN'",
        "select count(*) from insight_annotations",
    ),
    serve=_cloud_serve,
    cli_sync=_cloud_cli,
    bad_inputs=_cloud_bad,
)

SERVER = _flavour(
    "server",
    dc_mirror.DcHarness,
    dc_mirror,
    dc_mutate,
    SERVER_PLAN,
    generate=generate_dc,
    comment_on_a_pr=_server_comment,
    pr_path="/pull-requests/",
    tombstoned=("pullrequests", "comments", "branches", "commits"),
    world_options=st.builds(
        lambda newest_by, bumps: {
            "settings": DcSettings(newest_by=newest_by, comment_bumps_pr=bumps)
        },
        st.sampled_from(["updated", "created"]),
        st.booleans(),
    ),
    coverage=(
        *_SHARED_COVERAGE,
        "select count(*) from jira_links where found_in = 'jira'",
        "select count(*) from jira_links where found_in = 'message'",
        "select count(*) from repositories where full_name like '~%'",  # personal projects
    ),
    serve=_server_serve,
    cli_sync=_server_cli,
    bad_inputs=_server_bad,
)

FLAVOURS = {f.name: f for f in (CLOUD, SERVER)}

# The fast lane (`-m "not slow"`, scripts/test --fast) runs a fifth of each property's examples;
# the full run (scripts/test) runs them all.
settings.register_profile("fast", max_examples=20)


def pytest_configure(config: pytest.Config) -> None:
    """Load the fast profile when the run leaves out the slow tests, unless one was named."""
    if config.getoption("markexpr") == "not slow" and not config.getoption(
        "hypothesis_profile", None
    ):
        settings.load_profile("fast")


def examples(full: int) -> int:
    """A property's example count: `full` under the default profile, scaled under another."""
    return max(1, round(full * settings.default.max_examples / 100))


@pytest.fixture(scope="session", params=sorted(FLAVOURS))
def flavour(request: pytest.FixtureRequest) -> Flavour:
    """Each protocol test runs once per flavour (parametrize indirectly to pick one)."""
    return FLAVOURS[request.param]


SMALL_SEED = {"cloud": 11, "server": 5}  # `tiny` and `small` worlds holding every kind of row


class Recording:
    """A simulator app that keeps every JSON body it serves: what the API sent, for tests."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.bodies: list[bytes] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.app, name)  # `state` (the request log, faults) and the rest

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        kept: list[bytes] = []
        is_json = False

        async def keep(message: dict) -> None:
            nonlocal is_json
            if message["type"] == "http.response.start":
                kind = dict(message.get("headers", [])).get(b"content-type", b"")
                is_json = kind.startswith(b"application/json")
            elif message["type"] == "http.response.body" and is_json:
                kept.append(message.get("body", b""))
                if not message.get("more_body"):
                    self.bodies.append(b"".join(kept))
            await send(message)

        await self.app(scope, receive, keep)


@dataclass
class Mirrored:
    """A world's first full sync, made once per session: read it, never change it."""

    flavour: Flavour
    seed: int
    size: str
    harness: mirror.Harness  # the harness that synced (its world, db and request log)
    summary: Summary

    @property
    def db(self) -> str:
        return self.harness.db

    @property
    def served(self) -> list[bytes]:
        """Every JSON body the simulator served to that sync, as sent."""
        return self.harness.app.bodies

    def copy(self, db: str) -> mirror.Harness:
        """A private mirror to change: the same world generated again, the database copied."""
        source, target = sqlite3.connect(self.db), sqlite3.connect(db)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return self.flavour.harness(self.flavour.generate(self.seed, self.size), db)


def _sync_once(flavour: Flavour, seed: int, size: str, stem: Path) -> Mirrored:
    """A world's full sync made once per test run, by whichever xdist worker asks first: the
    others wait on the lock, then read its database, summary, request log and bodies."""
    done = stem.with_name(stem.name + ".pickle")
    with open(stem.with_name(stem.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        harness = flavour.mirror(seed, size, str(stem.with_name(stem.name + ".db")))
        harness.app = Recording(harness.app)
        if done.exists():
            summary, log, bodies = pickle.loads(done.read_bytes())
            harness.log.extend(log)
            harness.app.bodies.extend(bodies)
        else:
            summary = harness.sync()
            done.write_bytes(pickle.dumps((summary, list(harness.log), harness.app.bodies)))
    return Mirrored(flavour, seed, size, harness, summary)


def copy_database(template: Path, folder: Path) -> Path:
    """A private copy of a database made once per module: its file and every sidecar file."""
    for path in template.parent.iterdir():
        if path.name.startswith(template.name):
            shutil.copy2(path, folder / path.name)
    return folder / template.name


@pytest.fixture(scope="session")
def mirrored(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Mirrored]:
    """`mirrored(name, size="tiny", seed=None)`: one full sync per world, shared by tests
    (and by the xdist workers of one run, through the run's common temporary folder)."""
    made: dict[tuple[str, str, int], Mirrored] = {}
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # every worker's basetemp is a folder of the run's
    folder = root / "mirrored"
    folder.mkdir(exist_ok=True)

    def get(name: str, size: str = "tiny", seed: int | None = None) -> Mirrored:
        seed = SMALL_SEED[name] if seed is None else seed
        if (name, size, seed) not in made:
            stem = folder / f"{name}-{size}-{seed}"
            made[name, size, seed] = _sync_once(FLAVOURS[name], seed, size, stem)
        return made[name, size, seed]

    return get


@pytest.fixture(scope="session")
def dora_mirror(tmp_path_factory: pytest.TempPathFactory, mirrored) -> SimpleNamespace:
    """The small Cloud mirror, copied, after deployments moved, fixes shipped and a second sync:
    the DORA reports' tests and the Delivery dashboard's read the same one (read-only)."""
    from test_deploys_reports import fix_forward

    db = str(tmp_path_factory.mktemp("dora") / "bitbucket.db")
    harness = mirrored("cloud", "small").copy(db)
    mutate.random_activity(harness.world, 30, random.Random(15))
    fix_forward(harness.world)
    harness.sync_equal()
    return SimpleNamespace(world=harness.world, db=db)
