"""Bitbucket Data Center: streams, plan, row transforms and discovery (projects → repositories)."""
