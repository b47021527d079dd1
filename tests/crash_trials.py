"""Crash trials (issue 11, "What it must show"), independent of tests/test_crash.py.

A trial serves a generated world on loopback, starts a real ``bbmirror sync`` process and
kills it with SIGKILL 1-3 times at random moments spread over a clean run's duration; in half
of the trials the world changes (the simulator's ``random_activity``) after every kill. A last
plain ``bbmirror sync`` (what a schedule runs next) runs to completion, then the same command
syncs the final world into a fresh database, and ``compare`` checks the two row by row.

Mutated trials also keep a control database that sees the same worlds through runs nobody
kills: a difference the control shares is a gap of incremental sync, not the kills' doing. Some
changes reach no incremental run by the API's design (README "Limits": build statuses and issue
votes move no ``updated_on``; deletions of closed Data Center PRs and of Cloud issues show only
in a complete list), and ``--reconcile`` is what closes them. So a mutated trial compares twice:
after the plain rerun (the *incremental* comparison, where the kills must add nothing to what
the control misses), then after one ``sync --reconcile`` of trial and control (the judged one,
which must be equal). Unmutated trials never reconcile: nothing changed, so the plain rerun
must be equal, and a kill's undone work cannot hide behind a reconciliation. ``--reconcile``
makes every final rerun reconcile.

Statuses the trial holds for commits a clean sync never reads are checked against the world
(compare.py: beyond, frozen) and reported, not counted as differences.

Run ``scripts/crash-trials --cloud 25 --server 15`` for the table; tests/test_crash_trials.py
runs a few trials.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from compare import KINDS, Comparison, Difference, Row, compare
from dbstate import integrity

from bbmirror.simulator.cloud import mutate
from bbmirror.simulator.cloud.call import SimulatorConfig
from bbmirror.simulator.cloud.generate import generate
from bbmirror.simulator.cloud.launch import viewer_uuid
from bbmirror.simulator.cloud.serving import RunningSimulator
from bbmirror.simulator.common.serving import RunningApp
from bbmirror.simulator.server import mutate as dc_mutate
from bbmirror.simulator.server.api import create_dc_app, viewer_slug
from bbmirror.simulator.server.call import DcConfig
from bbmirror.simulator.server.generate import generate_dc

TOKEN = "crash-trial-token-0123456789"
SYNC_TIMEOUT = 600.0
CHANGES = (5, 40)  # world changes after each kill, in mutated trials


@dataclass
class Served:
    """A world on a loopback port and the ``bbmirror sync`` arguments that mirror all of it."""

    simulator: RunningApp
    flags: list[str]
    env: dict[str, str]
    mutate: Callable[[random.Random], list[str]]
    has: Callable[[str, Row], bool]  # whether the world holds a status row as stored


@contextmanager
def serve(flavour: str, seed: int, size: str) -> Iterator[Served]:
    """Generate a world and serve it on loopback, the Cloud or the Data Center simulator."""
    if flavour == "cloud":
        world = generate(seed, size)
        config = SimulatorConfig(tokens={TOKEN: viewer_uuid(world)})
        running: RunningApp = RunningSimulator(world, config)
        flag, scope = "--base-url", [("--workspace", ws) for ws in sorted(world.workspaces)]
        env, activity, has = {"BITBUCKET_TOKEN": TOKEN}, mutate.random_activity, _cloud_has
    else:
        world = generate_dc(seed, size)
        tokens = {TOKEN: viewer_slug(world)}
        running = RunningApp(
            lambda root: create_dc_app(world, DcConfig(base_url=root, tokens=tokens))
        )
        projects = sorted(p.key for p in world.projects.values())
        flag, scope = "--server-url", [("--project", key) for key in projects]
        env, activity, has = {"BITBUCKET_SERVER_TOKEN": TOKEN}, dc_mutate.random_activity, _dc_has
    with running as sim:
        yield Served(
            sim,
            [flag, sim.base_url, *(f for pair in scope for f in pair)],
            env,
            lambda rng: activity(world, rng.randint(*CHANGES), rng),
            partial(has, world),
        )


def _cloud_has(world, table: str, row: Row) -> bool:
    repo = world.repositories.get(str(row["repository_id"]))
    found = repo.statuses.get(str(row["commit_hash"]), []) if repo else []
    return any((s.key, s.state, s.name) == _status(row) for s in found)


def _dc_has(world, table: str, row: Row) -> bool:
    number = str(row["repository_id"]).rsplit("/", 1)[-1]
    repo = world.repositories.get(int(number)) if number.isdigit() else None
    found = repo.builds.get(str(row["commit_hash"]), []) if repo else []
    return any((b.key, b.state, b.name) == _status(row) for b in found)


def _status(row: Row) -> tuple[object, object, object]:
    return row["key"], row["state"], row["name"]


def _command(db: str, served: Served, *extra: str) -> tuple[list[str], dict[str, str]]:
    args = [sys.executable, "-m", "bbmirror", "sync", db, *served.flags, "--budget", "1000000"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("BITBUCKET_")}
    return [*args, *extra], {**env, **served.env}


def start_sync(db: str, served: Served) -> subprocess.Popen:
    args, env = _command(db, served)
    return subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def sync_to_completion(db: str, served: Served, reconcile: bool = False) -> tuple[int, str]:
    """Run ``sync`` to the end; its exit code and outcome (or last stderr line)."""
    args, env = _command(db, served, *(["--reconcile"] if reconcile else []), "--json")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=SYNC_TIMEOUT)
    try:
        body = json.loads(done.stdout)  # {"outcome", "runs", "error"}: one object, always
        message = body.get("error") or next(
            (r["message"] for r in body["runs"] if r["message"]), None
        )
        text = body["outcome"] + (f" ({message})" if message else "")
    except (ValueError, IndexError, KeyError, TypeError):
        text = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return done.returncode, text


def clean_duration(flavour: str, seed: int, size: str) -> float:
    """Seconds a clean first sync takes, process start included: the span kills are drawn from."""
    with serve(flavour, seed, size) as served, tempfile.TemporaryDirectory() as tmp:
        started = time.monotonic()
        rc, text = sync_to_completion(str(Path(tmp) / "clean.db"), served)
        if rc != 0:
            raise RuntimeError(f"a clean {flavour} sync failed: {text}")
        return time.monotonic() - started


@dataclass
class Outcome:
    """What one trial did and found."""

    number: int
    flavour: str
    seed: int
    mutated: bool
    kills: list[float] = field(default_factory=list)  # seconds after start, kills that landed
    missed: int = 0  # syncs that finished before their kill moment (then another is started)
    changes: int = 0  # world mutations applied between kills
    final: str = ""
    reference: str = ""
    integrity: str = "ok"
    comparison: Comparison = field(default_factory=Comparison)
    control: Comparison | None = None  # mutated trials: the same runs, never killed
    # Mutated trials: the comparisons after the plain rerun, before --reconcile.
    incremental: Comparison | None = None
    control_incremental: Comparison | None = None

    @property
    def by_kills(self) -> list[Difference]:
        """Differences the unkilled control does not share: the kills' doing (after the plain
        rerun and after reconciling alike)."""
        pairs = [(self.comparison, self.control)]
        if self.incremental is not None:
            pairs.append((self.incremental, self.control_incremental))
        found: list[Difference] = []
        for trial, control in pairs:
            seen = {(d.table, d.key, d.kind) for d in (control.differences if control else [])}
            found += [d for d in trial.differences if (d.table, d.key, d.kind) not in seen]
        return found

    @property
    def passed(self) -> bool:
        return (
            self.comparison.equal
            and not self.by_kills
            and self.integrity == "ok"
            and self.final.startswith("ok")
            and self.reference.startswith("ok")
        )


def run_trial(
    number: int,
    flavour: str,
    seed: int,
    mutated: bool,
    size: str,
    span: float,
    workdir: Path,
    reconcile: bool = False,
) -> Outcome:
    """One trial: 1-3 SIGKILLs, optional world changes, a final rerun, a row-by-row comparison."""
    rng = random.Random(f"{flavour}-{seed}")
    out = Outcome(number, flavour, seed, mutated)
    workdir.mkdir(parents=True, exist_ok=True)
    db, reference = str(workdir / f"trial-{number}.db"), str(workdir / f"clean-{number}.db")
    control = str(workdir / f"control-{number}.db")
    with serve(flavour, seed, size) as served:
        target, window = rng.randint(1, 3), span
        while len(out.kills) < target and out.missed < 2 * target + 4:
            moment = rng.uniform(0.0, window)
            process = start_sync(db, served)
            started = time.monotonic()
            try:
                process.wait(timeout=moment)
                out.missed += 1  # finished first: aim within the run just seen next time
                window = time.monotonic() - started
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                process.wait()
                out.kills.append(round(moment, 2))
            verdict = integrity(db)
            if verdict != "ok":
                out.integrity = verdict
            if mutated:
                # The control sees the same worlds through runs nobody kills: what it misses
                # too is not the kills' doing (incremental sync alone misses it).
                sync_to_completion(control, served, reconcile=False)
                with served.simulator.lock:
                    out.changes += len(served.mutate(rng))
        _, out.final = sync_to_completion(db, served, reconcile)
        _, out.reference = sync_to_completion(reference, served, reconcile)
        if mutated:
            sync_to_completion(control, served, reconcile)
            if not reconcile:
                # What only a complete read finds (module doc) is --reconcile's to close.
                out.incremental = compare(reference, db, served.has)
                out.control_incremental = compare(reference, control, served.has)
                _, out.final = sync_to_completion(db, served, reconcile=True)
                sync_to_completion(control, served, reconcile=True)
            out.control = compare(reference, control, served.has)
        out.comparison = compare(reference, db, served.has)
    return out


def run_trials(
    cloud: int,
    server: int,
    size: str,
    first_seed: int = 1,
    on_outcome: Callable[[Outcome], None] | None = None,
    keep: Path | None = None,
    reconcile: bool = False,
) -> tuple[dict[str, float], list[Outcome]]:
    """``cloud`` + ``server`` trials, seeds from ``first_seed``, every other one mutated."""
    spans: dict[str, float] = {}
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory() as tmp:
        plan = [("cloud", i) for i in range(cloud)] + [("server", i) for i in range(server)]
        for number, (flavour, i) in enumerate(plan, 1):
            if flavour not in spans:
                spans[flavour] = clean_duration(flavour, first_seed, size)
            seed = first_seed + i
            where = keep or Path(tmp)
            mutated = i % 2 == 1
            outcome = run_trial(
                number, flavour, seed, mutated, size, spans[flavour], where, reconcile
            )
            outcomes.append(outcome)
            if on_outcome is not None:
                on_outcome(outcome)
    return spans, outcomes


HEADER = (
    f"{'#':>3} {'flavour':<7} {'seed':>4} {'mutated':>7} {'kills':>5} {'at (s)':<24}"
    f" {'rows':>6} {'lost':>5} {'doubled':>7} {'stale':>5} {'extra':>5} {'control':>7}"
    f" {'crash':>5} {'incr':>5} {'beyond':>7}  final"
)


def format_row(o: Outcome) -> str:
    c = o.comparison
    at = ",".join(f"{t:.2f}" for t in o.kills) + (f" +{o.missed} late" if o.missed else "")
    final = o.final if o.integrity == "ok" else f"integrity: {o.integrity}"
    control = "-" if o.control is None else str(len(o.control.differences))
    incr = "-" if o.incremental is None else str(len(o.incremental.differences))
    beyond = f"{c.count('beyond')}/{c.count('frozen')}"
    return (
        f"{o.number:>3} {o.flavour:<7} {o.seed:>4} {('yes' if o.mutated else 'no'):>7}"
        f" {len(o.kills):>5} {at:<24} {c.rows:>6} {c.count('lost'):>5} {c.count('doubled'):>7}"
        f" {c.count('stale'):>5} {c.count('extra'):>5} {control:>7} {len(o.by_kills):>5}"
        f" {incr:>5} {beyond:>7}  {final}"
    )


def report(spans: dict[str, float], outcomes: list[Outcome]) -> str:
    """Totals per flavour, and what differed in each failing trial."""
    lines = [
        f"clean sync ({k}): {v:.2f} s, kill moments drawn from [0, that]" for k, v in spans.items()
    ]
    for flavour in spans:
        mine = [o for o in outcomes if o.flavour == flavour]
        totals = {k: sum(o.comparison.count(k) for o in mine) for k in KINDS}
        kills = sum(len(o.kills) for o in mine)
        failed = sum(not o.passed for o in mine)
        crash = sum(len(o.by_kills) for o in mine)
        gaps = sum(len(o.incremental.differences) for o in mine if o.incremental)
        outside = {k: sum(o.comparison.count(k) for o in mine) for k in ("beyond", "frozen")}
        lines.append(
            f"{flavour}: {len(mine)} trials, {kills} kills landed, {failed} trials differ; rows "
            + ", ".join(f"{k} {v}" for k, v in totals.items())
            + f"; {crash} differences not in an unkilled control; {gaps} incremental gaps"
            " closed by --reconcile; statuses a clean sync never reads: "
            + ", ".join(f"{k} {v}" for k, v in outside.items())
        )
    for o in outcomes:
        if not o.comparison.equal:
            lines.append(f"trial {o.number} ({o.flavour}, seed {o.seed}):")
            lines += ["  " + line for line in o.comparison.summary().splitlines()]
        if o.control is not None and not o.control.equal:
            lines.append("  the unkilled control differs too:")
            lines += ["    " + line for line in o.control.summary().splitlines()]
        if o.by_kills:
            lines.append(f"trial {o.number}: caused by the kills (not in the control):")
            crash = Comparison(differences=o.by_kills).summary()
            lines += ["    " + line for line in crash.splitlines()]
        if o.incremental is not None and not o.incremental.equal:
            lines.append(f"trial {o.number}: before --reconcile (control alike, module doc):")
            lines += ["    " + line for line in o.incremental.summary().splitlines()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cloud", type=int, default=25, help="Cloud trials (default 25)")
    parser.add_argument("--server", type=int, default=15, help="Data Center trials (default 15)")
    parser.add_argument("--size", default="small", choices=["tiny", "small"])
    parser.add_argument("--seed", type=int, default=1, help="first world seed (default 1)")
    parser.add_argument("--keep", type=Path, help="keep every trial's databases in this folder")
    parser.add_argument(
        "--reconcile",
        action="store_true",
        help="every final rerun, clean sync and control with --reconcile (re-reads every tip's"
        " statuses and collects garbage, which hides what a kill left undone)",
    )
    args = parser.parse_args(argv)
    print(HEADER, flush=True)
    spans, outcomes = run_trials(
        args.cloud,
        args.server,
        args.size,
        args.seed,
        lambda o: print(format_row(o), flush=True),
        args.keep,
        args.reconcile,
    )
    print(report(spans, outcomes))
    return 0 if all(o.passed for o in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
