"""The baseline for the audit chain's cost: the real app, with the chain taken out.

Everything is the same (auth, validation, scope, the visit, its children, the audit rows built
exactly as before) except :func:`service.audit.chain.append`: here the rows are inserted with
no advisory lock, no head read and no hashing, on a private (chain, seq) per process. Used only
by tests/perf/test_audit_bench.py; never by the service.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from service import create_app
from service.audit import chain
from service.audit.models import AuditEvent

_CHAIN = 1000 + os.getpid() % 30000
_SEQ = itertools.count(int(time.time() * 1e6) * 1000)


def _append_unchained(session: Session, rows: Any, chains: int) -> int:
    rows = list(rows)
    for row in rows:
        row.update(chain=_CHAIN, seq=next(_SEQ), prev_hash="", hash="")
    session.execute(insert(AuditEvent), rows)
    return len(rows)


chain.append = _append_unchained
app = create_app()
