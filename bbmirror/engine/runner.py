"""The one runner of a plan: levels breadth-first, each step dispatched on its stream's mode.

A flavour's engine class is ``Runner`` composed with the walkers its modes need and a ``plan``
(``CloudSync(Runner, KeysetWalker, HeadsWalker)``). ``run`` walks the plan's levels in order;
every unit of a level (a workspace, a repository) finishes before the next level starts, with
at most ``source.concurrency`` units at once. For each unit the level's ``enter`` hooks run,
then each step whose stream is wanted (``--only``, ``wanted_with``, ``always``) and whose
condition (``holds``) is true, then the ``leave`` hooks. A step runs its ``hook`` when it names
one, else the walker of its stream's mode (``WALKERS``) with the unit's context, under
``guarded`` (the stream's status policy); the result is kept in ``unit.found`` for later
steps and for the next level's ``discover``, and ``then`` runs after it.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bbmirror.engine.due import DueWalker
from bbmirror.engine.plan import WALKERS, Level, Plan, PlanError, Step
from bbmirror.engine.streams import Context

RefTarget = Any  # (API ref object) -> (name, target commit or None, is the default branch)


@dataclass
class Unit:
    """One unit of work of a level: its context, its API object and what its steps found."""

    ctx: Context
    obj: dict = field(default_factory=dict)
    where: dict[str, str] = field(default_factory=dict)  # the scope rows are tombstoned in
    found: dict[str, Any] = field(default_factory=dict)  # step results by stream name
    facts: dict[str, Any] = field(default_factory=dict)  # what hooks and conditions learnt

    @property
    def scope(self) -> str:
        """The sync-state scope of the unit's streams (a repository id)."""
        return self.ctx.get("repository_id", "")


class Runner(DueWalker):
    """Runs a flavour's ``plan``; the flavour supplies hooks, discovery and ``ref_target``."""

    plan: Plan
    ref_target: RefTarget = None  # a ref object → (name, target, is_default); flavour's own

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A flavour's engine that lacks a walker or a hook its plan names fails at import."""
        super().__init_subclass__(**kwargs)
        plan = cls.__dict__.get("plan")
        if plan is None:
            return
        missing = [*plan.missing_walkers(cls), *plan.missing_hooks(cls)]
        if missing:
            raise PlanError(f"{plan.flavour} plan: {cls.__name__} has no {missing[0]!r}")

    async def run(self) -> None:
        """Every level of the plan, breadth-first."""
        self.flush_notes()
        units: list[Unit] = []
        for level in self.plan.levels:
            if level.discover:
                units = list(await getattr(self, level.discover)(units))
            await self.run_level(level, units)

    async def run_repository(self, ctx: Context, repo: dict) -> None:
        """Every level after discovery for one repository (a webhook's targeted refresh)."""
        unit = Unit(ctx, repo, {"repository_id": ctx["repository_id"]})
        for level in self.plan.levels[1:]:
            await self.run_unit(level, unit)

    async def same_units(self, units: list[Unit]) -> list[Unit]:
        """Discovery of a level that goes on with the units of the level before."""
        return units

    async def run_level(self, level: Level, units: Iterable[Unit]) -> None:
        """Every unit of one level, at most ``source.concurrency`` at once."""
        limit = asyncio.Semaphore(max(1, self.source.concurrency))

        async def one(unit: Unit) -> None:
            async with limit:
                await self.run_unit(level, unit)

        await asyncio.gather(*(one(unit) for unit in units))

    async def run_unit(self, level: Level, unit: Unit) -> None:
        """One unit's steps in order; one failing stream does not stop the others."""
        for name in level.enter:
            await _maybe(getattr(self, name)(unit))
        for step in level.steps:
            if not self.step_wanted(step):
                continue
            if step.holds is not None and not step.holds(self, unit):
                continue
            result = await self.run_step(step, unit)
            unit.found[step.stream] = result
            if step.then:
                await _maybe(getattr(self, step.then)(unit, result, step))
        for name in level.leave:
            await _maybe(getattr(self, name)(unit))

    def step_wanted(self, step: Step) -> bool:
        """Whether ``--only`` and ``--skip`` let the step run."""
        if step.stream in self.skipped:
            return False
        return step.always or any(self.wanted(n) for n in (step.stream, *step.wanted_with))

    def wanted(self, name: str) -> bool:
        """``--only`` asks for the stream (or names none) and no skip leaves it out."""
        return name not in self.skipped and super().wanted(name)

    @property
    def skipped(self) -> frozenset[str]:
        """What ``--skip`` and the source's ``skip`` leave out, dependents included (plan.py)."""
        key = (self.options.skip, tuple(self.source.skip))
        cached = self.__dict__.get("_skipped")
        if cached is None or cached[0] != key:
            cached = (key, self.plan.skipped({*key[0], *key[1]}))
            self.__dict__["_skipped"] = cached
        return cached[1]

    async def run_step(self, step: Step, unit: Unit) -> Any:
        """The step's hook or its stream's walker, under the stream's policy."""
        if step.hook:
            work = getattr(self, step.hook)(unit)
        elif step.part == "children":
            work = self.run_due(self.streams[step.stream], unit.ctx, unit.scope)
        else:
            work = self.walk(step.stream, unit)
        key = (step.stream, unit.scope)
        if step.part == "parents":
            self.deferring.add(key)  # read_parents queues the children (deferred.py)
        try:
            if not step.guard:
                return await work
            return await self.guarded(step.stream, work, unit.ctx)
        finally:
            self.deferring.discard(key)

    def walk(self, name: str, unit: Unit) -> Awaitable[Any]:
        """The shared walker of a stream's mode, with the arguments that mode takes."""
        stream = self.streams[name]
        walker = getattr(self, WALKERS[stream.mode])
        if stream.mode == "full":
            return walker(stream, unit.ctx, unit.where)
        if stream.mode in ("heads", "ranges"):
            refs, default = self.refs(unit) or ({}, None)
            extra = (refs,) if stream.mode == "heads" else (refs, default)
            return walker(stream, unit.ctx, unit.scope, *extra)
        return walker(stream, unit.ctx, unit.scope)  # incremental, newest

    # -- refs: what the branch and tag steps found, as commit heads ------------------------

    def refs(self, unit: Unit) -> tuple[dict[str, str], str | None] | None:
        """Branches and tags as ``{"branch:NAME": hash}`` plus the default branch's key.

        None when a ref list that ran failed: commits and their garbage collection then wait
        for a run that sees every ref, or a missing branch would look like a deleted one.
        """
        if "refs" in unit.facts:
            return unit.facts["refs"]
        refs: dict[str, str] = {}
        default = None
        failed = []
        for name, kind in (("branches", "branch"), ("tags", "tag")):
            if name not in unit.found:
                continue  # not run (--only)
            found = unit.found[name]
            if found is None:
                failed.append(name)
                continue
            for obj in found:
                ref, target, is_default = type(self).ref_target(obj)
                if target:
                    refs[f"{kind}:{ref}"] = target
                if is_default:
                    default = f"{kind}:{ref}"
        answer = None if failed else (refs, default)
        if failed:
            note_refs_unread(self, unit.ctx, ", ".join(failed))
        unit.facts["refs"] = answer
        return answer

    def collect_unreachable(self, unit: Unit) -> None:
        """Level hook: garbage-collect commits when the walk ran and every ref was listed."""
        if not self.wanted("commits"):
            return
        refs = (self.refs(unit) or ({}, None))[0]
        if refs:
            self.collect_garbage(unit.scope, refs)  # when due (see Engine.collect_garbage)


def note_refs_unread(engine: Any, ctx: Context, lists: str) -> None:
    """Say once that commits (and their garbage collection) wait for a run that lists every
    ref: a missing branch must not look like a deleted one."""
    commits = engine.streams["commits"]
    if engine.wanted("commits") and not engine.is_denied(commits, ctx):
        reason = (
            f"skipped: commits of {ctx.get('full_name')} wait for a run that lists every ref "
            f"({lists} could not be read)"
        )
        engine.note("commits", reason, {"repository_id": ctx.get("repository_id")})


def has_refs(engine: Runner, unit: Unit) -> bool:
    """Condition: every ref list was read and the repository has at least one ref."""
    return bool((engine.refs(unit) or ({}, None))[0])


def commits_step(when: str = "the repository has refs", **costs: Any) -> Step:
    """The commit walk of either flavour: after both ref lists, where they found refs; a run
    with no ref moved asks nothing."""
    return Step("commits", after=("branches", "tags"), when=when, holds=has_refs, noop=0, **costs)


async def _maybe(value: Any) -> Any:
    """A hook may be plain or async."""
    return await value if inspect.isawaitable(value) else value
