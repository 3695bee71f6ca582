"""Writing a new visit's rows, the visit and its children, with no flush: on PostgreSQL in one
statement.

Only :func:`service.visits.lifecycle.start` calls this. The unit of work would write the same
rows, but it spends about a quarter of a create's CPU on a visit it has never seen before:
ordering the mappers, collecting history, running the flush hooks. Those hooks watch cases
and children (sync stamps, retention, plan changes) and have nothing to do for a new visit;
its own consequences (the audit event) follow from the lifecycle's event, as before.

The column values are the ones the objects hold (set by ``service.visits.operations``) and,
for a column left unset, the model's own default, taken from the model as the unit of work
takes it. The objects then join the session as persistent and unchanged, as if just loaded: the
rest of the request (the response, anything else in the same transaction) sees the visit as
it would after a flush. A rollback of the transaction takes them out of the session again
(as the unit of work does for what it inserted).
"""

from __future__ import annotations

import uuid
from typing import Any, cast
from weakref import WeakSet

from sqlalchemy import JSON, Insert, Table, bindparam, event, func, insert, literal_column, select
from sqlalchemy.orm import Session, SessionTransaction, make_transient_to_detached
from sqlalchemy.orm.attributes import instance_dict, set_committed_value

from service.visits.models import Visit, VisitChild

_VISITS = cast(Table, Visit.__table__)
_CHILDREN = cast(Table, VisitChild.__table__)
# What this transaction inserted here, to drop from the session if it rolls back.
INSERTED = "visit_rows_inserted_in_transaction"
# (attribute, column) of every mapped column; built once.
_VISIT_COLUMNS = tuple((prop.key, prop.columns[0].key) for prop in Visit.__mapper__.column_attrs)
_CHILD_COLUMNS = tuple(
    (prop.key, prop.columns[0].key)
    for prop in VisitChild.__mapper__.column_attrs
    if prop.key != "id"
)
_INSERT_VISIT = insert(_VISITS)
_INSERT_CHILDREN = insert(_CHILDREN).returning(_CHILDREN.c.id, sort_by_parameter_order=True)


def _complete(obj: Any, columns: tuple[tuple[str, str], ...], table: Table) -> dict[str, Any]:
    """Every column's value: the one ``obj`` holds, or the model's default (as Core or the unit
    of work would apply it), which ``obj`` then holds too, so no attribute is left to load.
    """
    held = instance_dict(obj)
    for key, column in columns:
        if key not in held:
            default = table.c[column].default
            value = None
            if default is not None:
                value = default.arg if default.is_scalar else default.arg(None)  # type: ignore[attr-defined]
            set_committed_value(obj, key, value)
    return {column: held[key] for key, column in columns}


def _visit_and_children() -> Insert:
    """The one statement that writes a visit and its children on PostgreSQL: the visit in a
    data-modifying ``WITH`` (its values as ``v_<column>`` parameters), the children from one
    JSON parameter (``children``) through ``json_populate_recordset``, so the statement is the
    same whatever their number, and SQLAlchemy compiles it once.
    """
    visit = insert(_VISITS).values(
        {column.name: bindparam(f"v_{column.name}", type_=column.type) for column in _VISITS.c}
    )
    names = [column for _, column in _CHILD_COLUMNS]
    given = (
        func.json_populate_recordset(
            literal_column(f"NULL::{_CHILDREN.name}"), bindparam("children", type_=JSON)
        )
        .table_valued(*(_CHILDREN.c[name] for name in names))
        .alias("given")
    )
    return (
        insert(_CHILDREN)
        .from_select(names, select(*(given.c[name] for name in names)))
        .returning(_CHILDREN.c.child_id, _CHILDREN.c.id)
        .add_cte(visit.cte("new_visit"))
    )


_VISIT_AND_CHILDREN = _visit_and_children()


def _write(session: Session, visit_row: dict[str, Any], child_rows: list[dict[str, Any]]) -> Any:
    """Insert the rows; the children's ids by child. On PostgreSQL one statement (one round
    trip), elsewhere two.
    """
    connection = session.connection()
    if not child_rows:
        connection.execute(_INSERT_VISIT, visit_row)
        return {}
    if connection.dialect.name == "postgresql":
        parameters = {f"v_{column}": value for column, value in visit_row.items()}
        parameters["children"] = [  # JSON: ids as strings (written inline, not by a call each)
            {
                column: str(value) if isinstance(value, uuid.UUID) else value
                for column, value in row.items()
            }
            for row in child_rows
        ]
        return {
            child_id: row_id
            for child_id, row_id in connection.execute(_VISIT_AND_CHILDREN, parameters)
        }
    connection.execute(_INSERT_VISIT, visit_row)
    ids = connection.execute(_INSERT_CHILDREN, child_rows).scalars()
    return dict(zip((row["child_id"] for row in child_rows), ids, strict=True))


def insert_new(session: Session, visit: Visit) -> None:
    """Insert ``visit`` (transient, with its children) and make it persistent in ``session``.

    ``visit.case`` and ``visit.worker`` must be set; an id already taken raises
    ``IntegrityError`` with nothing added to the session.
    """
    visit.case_id = visit.case.id
    visit.worker_id = visit.worker.id
    children = list(visit.children)
    for child in children:
        child.visit_id = visit.id
    ids = _write(
        session,
        _complete(visit, _VISIT_COLUMNS, _VISITS),
        [_complete(child, _CHILD_COLUMNS, _CHILDREN) for child in children],
    )
    for child in children:
        child.id = ids[child.child_id]
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
