"""Fault injection for the scorer process of the end-to-end tests, loaded only by them
(`celery -A podium worker --include podium_e2e_faults`); never part of the platform.

When the file named by PODIUM_E2E_SCORER_CRASH_FILE exists, the next scoring
task dies in the middle of its database transaction, after the scores were
computed and written but before the commit: the way a scorer process dies on an
out-of-memory kill. The file is removed first, so the crash happens once.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery.signals import worker_process_init


@worker_process_init.connect
def _arm(**_):
    crash_file = os.environ.get("PODIUM_E2E_SCORER_CRASH_FILE")
    if not crash_file:
        return
    from podium.leaderboards import services as boards
    from podium.submissions import services as submissions

    original = boards.board_record_score

    def board_record_score(*args, **kwargs):
        flag = Path(crash_file)
        if flag.exists():
            flag.unlink()
            os._exit(137)  # no cleanup, no rollback message: the process is simply gone
        return original(*args, **kwargs)

    # The scorer service may hold the function under its own name: replace it in both places.
    boards.board_record_score = board_record_score
    if hasattr(submissions, "board_record_score"):
        submissions.board_record_score = board_record_score
