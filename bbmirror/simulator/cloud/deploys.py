"""Cloud deployments and environments: the world's part, its generation, rendering and handlers.

Reference: bitbucket-cloud.md §3.19 (``/environments/`` and ``/deployments/``, trailing slashes,
no ``updated_on``, no documented list parameters). Shapes follow Bitbucket's OpenAPI schemas
(``deployment``, ``deployment_environment``, ``deployment_release``, ``deployment_state_*``,
as the generated clients found with the search tool name them: e.g.
``deployment_state_completed_status_successful``): an environment has ``name``, ``rank`` and an
``environment_type`` {name: Test|Staging|Production, rank}; a deployment has its
``environment`` (uuid), ``release`` (uuid, name, commit, created_on) and ``state``
(UNDEPLOYED | IN_PROGRESS | COMPLETED with ``status`` SUCCESSFUL | FAILED | STOPPED).

Choices where the reference is silent (docs/simulator.md):

- About 60 % of repositories use deployments (the first always, the last never); they have
  Bitbucket's three default environments. Releases are commits of the default branch's
  first-parent line, promoted test → staging → production; production fails now and then and
  is followed by a rollback (the last good release deployed again) or a fix release (a commit
  whose title starts with Fix or Revert) within hours. At most ``MAX_RELEASES`` per repository.
- Lists come newest first; ``q`` and ``sort`` are refused (400) as the field refuses them.
- Everything is drawn from an rng of its own per repository (``deployments/{uuid}``), after the
  rest of the world is built, so every other byte of a seed's world stays the same; mutations
  (``activity``) draw from an rng seeded by the world's clock and never tick it.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from bbmirror.rows import to_utc
from bbmirror.simulator.cloud import render
from bbmirror.simulator.cloud.call import ApiError, Call
from bbmirror.simulator.cloud.deploy_model import Deployment, Deploys, Environment
from bbmirror.simulator.common.clock import DAY, HOUR, LAST_US, MINUTE, iso, to_us

if TYPE_CHECKING:
    from starlette.responses import Response

    from bbmirror.simulator.cloud.world import Repository, World

MAX_RELEASES = 30
ENVIRONMENTS = (("Test", 0), ("Staging", 1), ("Production", 2))
FIX_WORDS = ("fix", "hotfix", "revert")


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return "{" + f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}" + "}"


def is_fix(message: str) -> bool:
    """A fix release: its commit's message starts with fix, hotfix or revert (report 162)."""
    return message.lower().startswith(FIX_WORDS)


def first_parents(repo: Repository) -> list[str]:
    """The default branch's first-parent line, oldest first."""
    line, sha = [], repo.branches.get(repo.mainbranch)
    while sha and sha in repo.commits:
        line.append(sha)
        parents = repo.commits[sha].parents
        sha = parents[0] if parents else None
    return line[::-1]


# -- generation -----------------------------------------------------------------------------


def populate(world: World) -> None:
    """Give ~60 % of repositories environments and a history of releases (own rng each)."""
    repos = list(world.repositories.values())
    for i, repo in enumerate(repos):
        rng = random.Random(f"deployments/{repo.uuid}")
        uses = i == 0 or (i < len(repos) - 1 and rng.random() < 0.6)
        repo.deploys = Deploys()
        if uses:
            repo.deploys.environments = [Environment(_uuid(rng), n, n, r) for n, r in ENVIRONMENTS]
            _history(world, repo, rng)


def _history(world: World, repo: Repository, rng: random.Random) -> None:
    line = first_parents(repo)
    if len(line) < 3:
        return
    step = max(1, len(line) // (MAX_RELEASES + 1))
    points = list(range(max(1, len(line) - step * MAX_RELEASES), len(line), step))
    deployers = [u for u in world.users][:20] or [None]
    d = repo.deploys
    last_good: Deployment | None = None  # the last successful production deployment
    t = 0
    i = 0
    while i < len(points):
        at = points[i]
        i += 1
        commit = repo.commits[line[at]]
        t = max(t, to_us(commit.date)) + rng.randint(5 * MINUTE, 2 * HOUR)
        who = rng.choice(deployers)
        rel = _release(d, rng, commit.hash, t)
        ok, t = _run(d, rng, rel, "Test", t + 2 * MINUTE, 0.92, who)
        if ok:
            ok, t = _run(d, rng, rel, "Staging", t + rng.randint(5 * MINUTE, 6 * HOUR), 0.95, who)
        if not ok:
            continue
        start = t + rng.randint(30 * MINUTE, 2 * DAY)
        if start + HOUR > LAST_US:  # waits for a manual promotion
            _add(d, rng, rel, "Production", "UNDEPLOYED", None, None, None, None)
            return
        roll = rng.random()
        ok, t = _run(d, rng, rel, "Production", start, 0.0 if roll < 0.15 else 1.0, who)
        prod = d.deployments[-1]
        if prod.state != "COMPLETED":
            return
        before = last_good
        if prod.status == "SUCCESSFUL":
            last_good = prod
            if rng.random() >= 0.08:
                continue
        # A failed (or bad) production release: a fix release soon, else a rollback.
        fix = next((k for k, p in enumerate(points[i:], i) if _fix_at(repo, line, p)), None)
        t += rng.randint(20 * MINUTE, 4 * HOUR)
        fixed = repo.commits[line[points[fix]]] if fix is not None and fix < i + 4 else None
        if fixed and to_us(fixed.date) < t + 2 * DAY and rng.random() < 0.8:
            i = fix + 1  # the next release is the fix, deployed straight to production
            t = max(t, to_us(fixed.date)) + rng.randint(5 * MINUTE, HOUR)
            rel = _release(d, rng, fixed.hash, t)
            if _run(d, rng, rel, "Production", t + 5 * MINUTE, 1.0, who)[0]:
                last_good = d.deployments[-1]
            t = max(t, to_us(d.deployments[-1].completion_date or iso(t)))
        elif before is not None and before.commit != prod.commit:
            back = (before.release_uuid, before.release_name, before.commit)
            ok, t = _run(d, rng, (*back, before.release_created_on), "Production", t, 1.0, who)
            if ok:
                last_good = d.deployments[-1]
        elif prod.status != "SUCCESSFUL" and _run(d, rng, rel, "Production", t, 1.0, who)[0]:
            last_good = d.deployments[-1]  # nothing to roll back to: the release again


def _fix_at(repo: Repository, line: list[str], at: int) -> bool:
    return is_fix(repo.commits[line[at]].message)


def _release(d: Deploys, rng: random.Random, commit: str, t: int) -> tuple[str, str, str, str]:
    d.releases += 1
    return (_uuid(rng), f"#{d.releases}", commit, iso(t))


def _add(d, rng, rel, kind, state, status, who, start, end) -> Deployment:  # noqa: ANN001
    dep = Deployment(
        _uuid(rng), d.env(kind).uuid, rel[0], rel[1], rel[2], rel[3], state, status, who,
        iso(start) if start is not None else None, iso(end) if end is not None else None,
    )  # fmt: skip
    d.deployments.append(dep)
    return dep


def _run(d, rng, rel, kind, start: int, p_ok: float, who) -> tuple[bool, int]:  # noqa: ANN001
    """One deployment to an environment; past the generated history it stays IN_PROGRESS."""
    end = start + rng.randint(3 * MINUTE, 25 * MINUTE)
    if start >= LAST_US:
        return False, start
    if end > LAST_US:
        _add(d, rng, rel, kind, "IN_PROGRESS", None, who, start, None)
        return False, end
    roll = rng.random()
    status = "SUCCESSFUL" if roll < p_ok else ("STOPPED" if roll > 0.98 else "FAILED")
    _add(d, rng, rel, kind, "COMPLETED", status, who, start, end)
    return status == "SUCCESSFUL", end


# -- mutations ------------------------------------------------------------------------------


def activity(world: World) -> list[str]:
    """Deployments progress at the world's current time: running ones complete, a completed
    one promotes its release, a failed production release is rolled back, a new default-branch
    head is released. Never ticks the clock, draws from an rng of its own."""
    rng = random.Random(f"deployments/{world.clock}")
    now = world.clock
    done: list[str] = []
    for repo in world.repositories.values():
        d = repo.deploys
        if not d.environments:
            continue
        for dep in list(d.deployments):
            if dep.state == "IN_PROGRESS" and dep.start_date and dep.start_date < now:
                if rng.random() < 0.7:
                    _finish(d, dep, rng, now, done)
            elif dep.state == "UNDEPLOYED" and rng.random() < 0.4:
                dep.state, dep.start_date = "IN_PROGRESS", now
                dep.deployer_uuid = next(iter(world.users), None)
                done.append(f"promote {dep.release_name} in {repo.full_name}")
        head = repo.branches.get(repo.mainbranch)
        released = {x.commit for x in d.deployments}
        if head and head not in released and rng.random() < 0.3:
            rel = (_uuid(rng), f"#{d.releases + 1}", head, now)
            d.releases += 1
            dep = _add(d, rng, rel, "Test", "IN_PROGRESS", None, None, None, None)
            dep.start_date, dep.deployer_uuid = now, next(iter(world.users), None)
            done.append(f"release {dep.release_name} of {repo.full_name}")
    return done


def _finish(d: Deploys, dep: Deployment, rng: random.Random, now: str, done: list[str]) -> None:
    dep.state, dep.completion_date = "COMPLETED", now
    dep.status = "SUCCESSFUL" if rng.random() < 0.85 else "FAILED"
    done.append(f"deployment {dep.release_name} {dep.status}")
    kind = next(e.kind for e in d.environments if e.uuid == dep.environment_uuid)
    nxt = {"Test": "Staging", "Staging": "Production"}.get(kind)
    rel = (dep.release_uuid, dep.release_name, dep.commit, dep.release_created_on)
    if dep.status == "SUCCESSFUL" and nxt:
        state = "UNDEPLOYED" if nxt == "Production" else "IN_PROGRESS"
        new = _add(d, rng, rel, nxt, state, None, None, None, None)
        if state == "IN_PROGRESS":
            new.start_date, new.deployer_uuid = now, dep.deployer_uuid
    elif dep.status == "FAILED" and kind == "Production":
        prod = d.env("Production").uuid
        good = [
            x
            for x in d.deployments
            if x.environment_uuid == prod and x.status == "SUCCESSFUL" and x.commit != dep.commit
        ]
        if good:
            g = good[-1]
            back = (g.release_uuid, g.release_name, g.commit, g.release_created_on)
            new = _add(d, rng, back, "Production", "IN_PROGRESS", None, None, None, None)
            new.start_date, new.deployer_uuid = now, dep.deployer_uuid


# -- rendering and handlers -----------------------------------------------------------------


def render_environment(env: Environment) -> dict[str, Any]:
    kind = {"type": "deployment_environment_type", "name": env.kind, "rank": env.rank}
    return {
        "type": "deployment_environment",
        "uuid": env.uuid,
        "name": env.name,
        "slug": env.name.lower(),
        "rank": env.rank,
        "environment_type": kind,
        "category": {"name": env.kind},
        "hidden": False,
        "environment_lock_enabled": True,
        "deployment_gate_enabled": False,
        "lock": {"type": "deployment_environment_lock_open", "name": "OPEN"},
        "restrictions": {"type": "deployment_restrictions_configuration", "admin_only": False},
    }


def render_deployment(c: Call, repo: Repository, dep: Deployment) -> dict[str, Any]:
    api = f"{c.base}/repositories/{repo.full_name}"
    web = f"{c.html}/{repo.full_name}"
    commit = {
        "type": "commit",
        "hash": dep.commit,
        "links": {
            "self": {"href": f"{api}/commit/{dep.commit}"},
            "html": {"href": f"{web}/commits/{dep.commit}"},
        },
    }
    release = {
        "type": "deployment_release",
        "uuid": dep.release_uuid,
        "name": dep.release_name,
        "url": f"{web}/addon/pipelines/home#!/results/{dep.release_name.lstrip('#')}",
        "commit": commit,
        "created_on": dep.release_created_on,
    }
    url = f"{web}/addon/pipelines/deployments"
    state: dict[str, Any] = {"name": dep.state}
    if dep.state == "UNDEPLOYED":
        state.update(type="deployment_state_undeployed", trigger_url=url)
    else:
        deployer = render.user_by_uuid(c.world, dep.deployer_uuid, c.base, c.html)
        state.update(url=url, deployer=deployer, start_date=dep.start_date)
        state["type"] = "deployment_state_in_progress"
    if dep.state == "COMPLETED":
        status = (dep.status or "").lower()
        state.update(type="deployment_state_completed", completion_date=dep.completion_date)
        state["status"] = {
            "type": f"deployment_state_completed_status_{status}",
            "name": dep.status,
        }
    return {
        "type": "deployment",
        "uuid": dep.uuid,
        "environment": {"type": "deployment_environment", "uuid": dep.environment_uuid},
        "release": release,
        "state": state,
    }


def _deploys(c: Call) -> tuple[Repository, Deploys]:
    if c.arg("q") or c.arg("sort"):
        raise ApiError(400, "Query parameters q and sort are not supported here.")
    repo = c.repo()
    return repo, repo.deploys


def environments(c: Call) -> Response:
    _, d = _deploys(c)
    return c.page(d.environments, render_environment)


def get_environment(c: Call) -> Response:
    _, d = _deploys(c)
    found = next((e for e in d.environments if e.uuid == c.params["uuid"]), None)
    if found is None:
        raise ApiError(404, "Environment not found")
    return c.json(render_environment(found))


def deployments(c: Call) -> Response:
    repo, d = _deploys(c)
    return c.page(d.deployments[::-1], lambda x: render_deployment(c, repo, x))


def get_deployment(c: Call) -> Response:
    repo, d = _deploys(c)
    found = next((x for x in d.deployments if x.uuid == c.params["uuid"]), None)
    if found is None:
        raise ApiError(404, "Deployment not found")
    return c.json(render_deployment(c, repo, found))


ROUTES = [
    ("/environments", environments, ("GET",)),
    ("/environments/{uuid}", get_environment, ("GET",)),
    ("/deployments", deployments, ("GET",)),
    ("/deployments/{uuid}", get_deployment, ("GET",)),
]


# -- oracle ---------------------------------------------------------------------------------


def deploys_expected(exp: dict[str, dict[str, tuple]], repo: Repository) -> None:
    """The environments and deployments rows a mirror of ``repo`` holds (cloud/oracle.py)."""
    rid = repo.uuid
    for e in repo.deploys.environments:
        exp["environments"][f"{rid}/environment/{e.uuid}"] = (e.name, e.kind.lower(), e.rank)
    for x in repo.deploys.deployments:
        exp["deployments"][f"{rid}/deployment/{x.uuid}"] = (
            f"{rid}/environment/{x.environment_uuid}",
            x.state,
            x.status,
            x.commit,
            to_utc(x.start_date) if x.start_date else None,
            to_utc(x.completion_date) if x.completion_date else None,
        )
