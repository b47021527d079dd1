"""Bitbucket webhooks: verified deliveries become targeted refreshes (issue 16).

``receive.py`` (the HTTP endpoint) → ``verify.py`` (signature) → ``events.py`` (what to
refresh) → ``queue.py`` (coalescing, bounded) → ``refresh.py`` (the engine, the store, the
writer lock). ``turn.py`` lets scheduled runs go first; ``log.py`` keeps what arrived.
"""
