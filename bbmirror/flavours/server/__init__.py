"""Bitbucket Data Center: streams, plan, row transforms and discovery (projects → repositories)."""

from bbmirror.flavours.server.plan import SERVER_PLAN  # checked at import

__all__ = ["SERVER_PLAN"]
