"""Bitbucket Cloud: streams, plan, row transforms and discovery (workspaces → repositories)."""

from bbmirror.flavours.cloud.plan import CLOUD_PLAN  # checked at import

__all__ = ["CLOUD_PLAN"]
