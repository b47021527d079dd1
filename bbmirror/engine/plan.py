"""A flavour's order of work as data: steps, their dependencies and conditions, and its cost.

A plan is checked when its flavour is imported: every declared stream is run by a step (or is
a child of a stream a step runs), every mode is one the engine knows, every dependency names
an earlier step. The same steps answer the economics (the requests a sync with nothing changed
makes, and the fewest requests that read a whole world), so tests and benchmarks count from
the plan instead of copying a formula.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bbmirror.engine.streams import Stream

# Each mode and the engine method that walks it (engine/base.py, keyset.py, heads.py,
# ranges.py, newest.py); a flavour's engine class must have the walker of every mode it uses.
WALKERS = {
    "full": "run_full",
    "children": "fetch_children",
    "incremental": "run_incremental",
    "heads": "run_commits",
    "ranges": "run_ranges",
    "newest": "run_newest",
    "feed": "run_feed",  # engine/feed.py
}
MODES = frozenset(WALKERS)

# A cost: requests for one unit of work (a workspace, a project, a repository), or a constant.
Cost = int | Callable[[Any], int]
# A step's condition as data: (engine, unit) → whether the step runs for that unit
# (engine/runner.py has the shared ones, e.g. ``has_refs``).
Condition = Callable[[Any, Any], bool]


class PlanError(ValueError):
    """A declaration that no engine could run, or an ``--only``/``--skip`` naming nothing run."""


@dataclass(frozen=True)
class Share:
    """The part of a step's costs spent on one child stream, taken off when it is skipped."""

    stream: str
    noop: Cost = 0
    least: Cost = 0


@dataclass(frozen=True)
class Step:
    """One stream read at one level, after the steps it needs, when its condition holds."""

    stream: str
    after: tuple[str, ...] = ()
    when: str = ""  # the condition, in words (e.g. "the repository has refs")
    noop: Cost = 1  # requests when nothing changed
    least: Cost | None = None  # the fewest requests reading everything, children included
    # How the runner (engine/runner.py) runs it:
    holds: Condition | None = None  # the condition ``when`` words; None: always
    hook: str = ""  # an engine method ``(unit) -> awaitable`` run instead of the mode's walker
    then: str = ""  # an engine method ``(unit, result, step)`` run after the step
    wanted_with: tuple[str, ...] = ()  # ``--only`` one of these runs this step too
    always: bool = False  # runs whatever ``--only`` names (discovery)
    guard: bool = True  # under the stream's status policy; False: a failure fails the run
    # "parents": the list only, its due children queued (engine/deferred.py); "children": the
    # queued children, in a later level; "": both at once.
    part: str = ""
    shares: tuple[Share, ...] = ()  # child streams' parts of ``noop`` and ``least``

    def hooks(self) -> list[str]:
        """The engine methods this step names."""
        return [name for name in (self.hook, self.then) if name]


def discovery(stream: str, **fields: Any) -> Step:
    """A discovery step: it runs whatever ``--only`` names, and a failure fails the run (no
    list of what to mirror, nothing to mirror)."""
    return Step(stream, always=True, guard=False, **fields)


@dataclass(frozen=True)
class Level:
    """Steps run once per unit of one kind (per workspace, per repository).

    Levels run breadth-first: every unit of a level before any unit of the next.
    """

    name: str
    steps: tuple[Step, ...]
    units: Callable[[Any], Iterable[Any]]  # a world → its units of this kind (economics)
    discover: str = ""  # an engine method ``(units of the level before) -> this level's units``
    enter: tuple[str, ...] = ()  # engine methods ``(unit)`` run before the unit's steps
    leave: tuple[str, ...] = ()  # engine methods ``(unit)`` run after them (GC, reconcile)

    def hooks(self) -> list[str]:
        """The engine methods this level and its steps name."""
        own = [self.discover] if self.discover else []
        return [*own, *self.enter, *self.leave, *(h for step in self.steps for h in step.hooks())]


@dataclass(frozen=True)
class Plan:
    """A flavour's streams and the levels of steps that run them; checked at construction."""

    flavour: str
    streams: dict[str, Stream]
    levels: tuple[Level, ...]
    fixed_noop: int = 0  # requests made once per run whatever the world (a credential probe)
    fixed_least: int = 0

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise PlanError(f"{self.flavour} plan: {problem}")

    def steps(self) -> list[Step]:
        """Every step, level by level."""
        return [step for level in self.levels for step in level.steps]

    def runs(self) -> frozenset[str]:
        """The streams some step runs, with the children of those streams."""
        names = {step.stream for step in self.steps()}
        for name in list(names):
            names.update(self.streams[name].children)
        return frozenset(names)

    def problem(self) -> str | None:
        """What makes this plan unrunnable, or None."""
        for name, stream in self.streams.items():
            if stream.mode not in MODES:
                return f"stream {name!r} has unknown mode {stream.mode!r}"
            for child in stream.children:
                if child not in self.streams:
                    return f"stream {name!r} names undeclared child {child!r}"
        split: set[str] = set()
        seen: set[str] = set()  # the steps of this level so far and of every earlier one
        for level in self.levels:
            for step in level.steps:
                if step.part not in ("", "parents", "children"):
                    return f"step {step.stream!r} has unknown part {step.part!r}"
                if step.part == "children" and step.stream not in split:
                    return f"step {step.stream!r} reads children no earlier level queued"
                if step.part == "parents":
                    split.add(step.stream)
                if step.stream not in self.streams:
                    return f"step {step.stream!r} runs no declared stream"
                for before in step.after:
                    if before not in seen:
                        return f"step {step.stream!r} runs after {before!r}, no earlier step"
                seen.add(step.stream)
        idle = sorted(set(self.streams) - self.runs())
        if idle:
            return f"stream {idle[0]!r} is declared but no step runs it"
        return None

    def missing_walkers(self, engine_class: type) -> list[str]:
        """Modes this plan's streams use that ``engine_class`` has no walker for."""
        modes = {stream.mode for stream in self.streams.values()}
        return sorted(m for m in modes if not hasattr(engine_class, WALKERS[m]))

    def missing_hooks(self, engine_class: type) -> list[str]:
        """Hooks this plan names that ``engine_class`` lacks."""
        names = {name for level in self.levels for name in level.hooks()}
        return sorted(name for name in names if not callable(getattr(engine_class, name, None)))

    def check_only(self, only: Iterable[str]) -> None:
        """Refuse an ``--only`` naming a stream this plan does not run (0 requests, 'ok')."""
        runs = self.runs()
        idle = sorted(set(only) - runs)
        if idle:
            names = ", ".join(sorted(runs))
            raise PlanError(
                f"--only {idle[0]!r}: no step of the {self.flavour} plan runs it; it runs {names}"
            )

    def dependents(self, name: str) -> set[str]:
        """The streams read only for ``name``: its children, and the child-mode steps run
        with it or after it (Cloud's ``pipeline_steps``, Data Center's ``pr_jira``)."""
        found = set(self.streams[name].children) if name in self.streams else set()
        for step in self.steps():
            stream = self.streams[step.stream]
            if stream.mode == "children" and name in (*step.after, *step.wanted_with):
                found.add(step.stream)
        return found

    def skipped(self, names: Iterable[str]) -> frozenset[str]:
        """What ``--skip``/config ``skip`` leaves out: the names and their dependents, and the
        streams of the same family that write one of their tables (Cloud's feed writes pull
        request activity and comments)."""
        todo, done = [n for n in names if n in self.streams], set()
        while todo:
            name = todo.pop()
            if name not in done:
                done.add(name)
                todo.extend(self.dependents(name))
        sharing = {
            other
            for name in done
            for other, stream in self.streams.items()
            if stream.family == self.streams[name].family
            and _tables(stream) & _tables(self.streams[name])
        }
        return frozenset(done | sharing)

    def check_skip(self, names: Iterable[str], what: str = "--skip") -> frozenset[str]:
        """What a skip leaves out, or a PlanError: a name the plan never runs, discovery (every
        run needs it), or a list another stream still needs (refs for commits)."""
        names = set(names)
        runs = self.runs()
        idle = sorted(names - runs)
        if idle:
            known = ", ".join(sorted(runs))
            raise PlanError(
                f"{what} {idle[0]!r}: no step of the {self.flavour} plan runs it; it runs {known}"
            )
        skipped = self.skipped(names)
        for step in self.steps():
            if step.stream not in skipped:
                continue
            if step.always:
                raise PlanError(f"{what} {step.stream!r}: every run needs it (discovery)")
            if self.streams[step.stream].mode == "children":
                continue  # read with its parent (wanted_with), not for it
            needs = sorted(set(step.wanted_with) - skipped)
            if needs:
                raise PlanError(f"{what} {step.stream!r}: {needs[0]} needs it; skip {needs[0]} too")
        return skipped

    def no_op_requests(self, world: Any, skip: Iterable[str] = ()) -> int:
        """The requests a sync with nothing changed makes on ``world`` (less what ``skip``
        leaves out)."""
        return self.fixed_noop + self._sum(world, "noop", self.skipped(skip))

    def minimum_requests(self, world: Any, skip: Iterable[str] = ()) -> int:
        """The fewest requests that read everything the mirror holds of ``world`` (less what
        ``skip`` leaves out)."""
        if any(step.least is None for step in self.steps()):
            raise PlanError(f"the {self.flavour} plan declares no minimum for every step")
        return self.fixed_least + self._sum(world, "least", self.skipped(skip))

    def _sum(self, world: Any, which: str, skipped: frozenset[str] = frozenset()) -> int:
        total = 0
        for level in self.levels:
            for unit in level.units(world):
                for step in level.steps:
                    if step.stream in skipped:
                        continue
                    total += _cost(getattr(step, which), unit)
                    for share in step.shares:
                        if share.stream in skipped:
                            total -= _cost(getattr(share, which), unit)
        return total


def _cost(cost: Cost | None, unit: Any) -> int:
    return cost(unit) if callable(cost) else int(cost or 0)


def _tables(stream: Stream) -> set[str]:
    """The tables a stream writes rows of (its own and those it owns)."""
    return {stream.table, *(owned.table for owned in stream.owns)}
