"""Bitbucket Cloud: streams, plan, row transforms and discovery (workspaces → repositories)."""
