"""Tables added in schema version 5 and later, kept apart so ``tables.py`` stays small.

``tables.TABLES`` includes them; each carries ``since`` like every other declaration.
"""

from __future__ import annotations

from bbmirror.store.declare import Index, Table, _cols

LATER_TABLES: tuple[Table, ...] = (
    # Cloud: the users added as reviewers to every new pull request of a repository.
    Table(
        "default_reviewers",
        _cols("repository_id -> repositories, user_id -> users", since=5),
        (Index(("repository_id", "user_id"), since=5),),
        since=5,
    ),
    # Data Center: the labels applied to a repository (labels apply to repositories only).
    Table(
        "repository_labels",
        _cols("repository_id -> repositories, name", since=6),
        (Index(("repository_id", "name"), since=6),),
        since=6,
    ),
    # Delivery analytics (schema 9): one schema for both flavours; a column only one Bitbucket
    # fills is NULL for the other. States keep the API's upper-case names; Data Center values
    # are mapped onto Cloud's where they mean the same thing (see each table's row builder).
    # Cloud Pipelines runs: append-only by build_number; those not COMPLETED are read again.
    Table(
        "pipelines",
        _cols(
            "repository_id -> repositories, uuid, build_number INTEGER, state, result,"
            " target_type, ref_type, ref_name, commit_hash, commit_id -> commits,"
            " pullrequest_id -> pullrequests, trigger, creator_id -> users,"
            " build_seconds_used INTEGER, created_on, completed_on, duration_seconds INTEGER",
            since=9,
        ),
        (
            Index(("repository_id", "build_number"), since=9),
            Index(("repository_id", "created_on"), since=9),
            Index(("commit_hash",), since=9),
        ),
        since=9,
    ),
    # A pipeline's steps (not their logs).
    Table(
        "pipeline_steps",
        _cols(
            "pipeline_id -> pipelines, repository_id -> repositories, uuid, name, state,"
            " result, started_on, completed_on, duration_seconds INTEGER",
            since=9,
        ),
        since=9,
    ),
    # Where a repository deploys to. type: development, test, staging, production (lower case
    # on both flavours); Data Center environments exist only as named by deployments.
    Table(
        "environments",
        _cols(
            "repository_id -> repositories, uuid, key, name, type, rank INTEGER",
            since=9,
        ),
        (Index(("repository_id", "type"), since=9),),
        since=9,
    ),
    # A release of a commit to an environment. state: PENDING, IN_PROGRESS, COMPLETED,
    # UNDEPLOYED; result (once COMPLETED): SUCCESSFUL, FAILED, STOPPED, ROLLED_BACK, CANCELLED.
    Table(
        "deployments",
        _cols(
            "repository_id -> repositories, environment_id -> environments, uuid, key,"
            " sequence INTEGER, state, result, commit_hash, commit_id -> commits,"
            " from_commit_hash, pipeline_id -> pipelines, release_name, release_created_on,"
            " deployer_id -> users, started_on, completed_on, updated_on",
            since=9,
        ),
        (
            Index(("repository_id", "completed_on"), since=9),
            Index(("environment_id", "completed_on"), since=9),
            Index(("commit_hash",), since=9),
        ),
        since=9,
    ),
    # Pull-request size: one row per changed file, read once per source commit (Cloud diffstat,
    # Data Center changes). status: added, removed, modified, renamed, copied.
    Table(
        "pullrequest_files",
        _cols(
            "pullrequest_id -> pullrequests, repository_id -> repositories, source_commit,"
            " path, old_path, status, lines_added INTEGER, lines_removed INTEGER",
            since=9,
        ),
        since=9,
    ),
    # Pull-request tasks (Cloud tasks, Data Center BLOCKER comments). state: UNRESOLVED,
    # RESOLVED (Data Center OPEN maps to UNRESOLVED).
    Table(
        "pullrequest_tasks",
        _cols(
            "pullrequest_id -> pullrequests, repository_id -> repositories, task_id INTEGER,"
            " comment_id -> comments, content, state, creator_id -> users,"
            " resolved_by_id -> users, created_on, updated_on, resolved_on",
            since=9,
        ),
        (Index(("state",), since=9),),
        since=9,
    ),
    # Code insights reports on commits (Cloud) and their annotations.
    Table(
        "insight_reports",
        _cols(
            "commit_id -> commits, repository_id -> repositories, commit_hash, uuid,"
            " external_id, title, report_type, reporter, result, link, details,"
            " created_on, updated_on",
            since=9,
        ),
        (Index(("commit_hash",), since=9),),
        since=9,
    ),
    Table(
        "insight_annotations",
        _cols(
            "report_id -> insight_reports, repository_id -> repositories, commit_hash, uuid,"
            " external_id, annotation_type, path, line INTEGER, summary, details, severity,"
            " result, created_on, updated_on",
            since=9,
        ),
        since=9,
    ),
)
