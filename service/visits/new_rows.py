"""Writing a new visit's rows: the visit and its children, as two INSERTs, with no flush.

Only :func:`service.visits.lifecycle.start` calls this. The unit of work would write the same
rows, but it spends about a quarter of a create's CPU on a visit it has never seen before:
ordering the mappers, collecting history, running the flush hooks. Those hooks watch cases
and children (sync stamps, retention, plan changes) and have nothing to do for a new visit;
its own consequences (the audit event) follow from the lifecycle's event, as before.

The column values are the ones the objects hold (set by ``service.visits.operations``) and,
for a column left unset, the model's own default, which Core applies as the unit of work
would. The objects then join the session as persistent and unchanged, as if just loaded: the
rest of the request (the response, anything else in the same transaction) sees the visit as
it would after a flush. A rollback of the transaction takes them out of the session again
(as the unit of work does for what it inserted).
"""

from __future__ import annotations

from typing import Any, cast
from weakref import WeakSet

from sqlalchemy import Table, event, insert
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from service.visits.models import Visit, VisitChild

_VISITS = cast(Table, Visit.__table__)
_CHILDREN = cast(Table, VisitChild.__table__)
# (attribute, column) of every mapped column; built once.
_VISIT_COLUMNS = tuple((prop.key, prop.columns[0].key) for prop in Visit.__mapper__.column_attrs)
_CHILD_COLUMNS = tuple(
    (prop.key, prop.columns[0].key)
    for prop in VisitChild.__mapper__.column_attrs
    if prop.key != "id"
)
_INSERT_VISIT = insert(_VISITS)
INSERTED = "visit_rows_inserted_in_transaction"
_INSERT_CHILDREN = insert(_CHILDREN).returning(_CHILDREN.c.id, sort_by_parameter_order=True)


def _values(obj: Any, columns: tuple[tuple[str, str], ...]) -> dict[str, Any]:
    held = instance_dict(obj)
    return {column: held[key] for key, column in columns if key in held}


def _scalar_default(column: Any) -> Any:
    default = column.default
    return default.arg if default is not None and default.is_scalar else None


def insert_new(session: Session, visit: Visit) -> None:
    """Insert ``visit`` (transient, with its children) and make it persistent in ``session``.

    ``visit.case`` and ``visit.worker`` must be set; an id already taken raises
    ``IntegrityError`` with nothing added to the session.
    """
    visit.case_id = visit.case.id
    visit.worker_id = visit.worker.id
    connection = session.connection()
    written = connection.execute(_INSERT_VISIT, _values(visit, _VISIT_COLUMNS))
    stored = cast(dict[str, Any], written.last_inserted_params())  # one row: one mapping
    held = instance_dict(visit)
    for key, column in _VISIT_COLUMNS:
        if key not in held:
            set_committed_value(visit, key, stored.get(column))
    children = list(visit.children)
    if children:
        rows = []
        for child in children:
            child.visit_id = visit.id
            held = instance_dict(child)
            for key, column in _CHILD_COLUMNS:
                if key not in held:
                    set_committed_value(child, key, _scalar_default(_CHILDREN.c[column]))
            rows.append(_values(child, _CHILD_COLUMNS))
        for child, row_id in zip(
            children, connection.execute(_INSERT_CHILDREN, rows).scalars(), strict=True
        ):
            child.id = row_id
            make_transient_to_detached(child)
    make_transient_to_detached(visit)
    session.add(visit)
    session.info.setdefault(INSERTED, WeakSet()).update([visit, *children])


def _forget(session: Session, *args: Any) -> None:
    session.info.pop(INSERTED, None)


def _drop_on_rollback(session: Session, previous_transaction: SessionTransaction) -> None:
    """After the whole transaction rolled back, what it inserted here leaves the session."""
    if previous_transaction.parent is None:
        for obj in list(session.info.pop(INSERTED, ())):
            if obj in session:
                session.expunge(obj)


def init_session_events() -> None:
    """Listen on every session (once per process): forget at commit, drop at rollback."""
    if not event.contains(Session, "after_commit", _forget):
        event.listen(Session, "after_commit", _forget)
        event.listen(Session, "after_soft_rollback", _drop_on_rollback)
