"""Chaos run: the real pipeline under a killed worker and a restarted broker.

``run_chaos`` starts its own redis-server (append-only file, so a restart keeps what was
queued), its own scratch PostgreSQL database, the API, two workers and beat, submits N
events, SIGKILLs one worker mid-run and restarts it, stops and restarts the broker, waits
until the system is quiet and checks, per event and per incident, that nothing was lost
and nothing was done twice. ``scripts/chaos.py`` is its command line;
``tests/integration/test_chaos.py`` runs it with a smaller N.
"""

from cityloop.chaos.checks import Invariants, check_invariants
from cityloop.chaos.run import ChaosConfig, ChaosError, ChaosReport, run_chaos

__all__ = ["ChaosConfig", "ChaosError", "ChaosReport", "Invariants", "check_invariants", "run_chaos"]
