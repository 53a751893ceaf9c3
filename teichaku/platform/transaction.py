"""One transaction boundary, and what runs after it (Zulip's ``transaction.on_commit``, Indico's
request handler).

Who commits
    The boundary, never the code inside it.  Every request (page or API), every CLI command of
    the project and every job has one, wired once in the app factory (``init_app``,
    ``wrap_commands``) and in ``platform.jobs.job``.  Services and views only
    ``flush``; the boundary commits when the work ends normally and rolls back when it raises.
    A request that ends with an error status (>= 400: a form re-rendered with errors, a refused
    API call) rolls back too, so a refusal changes nothing.

Refusals that keep what they wrote
    A few refusals must keep a record of the attempt (a failed sign-in's audit entry, the PII
    findings saved when a publish is refused).  They say so explicitly: a ``DomainError`` raised
    with ``keep_writes=True``, or ``keep_writes()`` called by a view that answers with an error
    status.  ``refuse()`` is the opposite: a view that answers normally (a flash and a redirect)
    after a refused service call discards what the call may have written.

After the commit
    ``on_commit(action)`` runs ``action()`` once the outermost transaction has committed (enqueue
    a job, remove an erased file); ``on_rollback(action)`` runs it if the transaction (or the
    savepoint it was registered in) rolls back (delete a file stored for a row that was never
    committed).  Savepoints behave as Django's and Zulip's do: an action registered inside a
    savepoint that rolls back is dropped (or, for ``on_rollback``, run); one registered before
    it survives.  An action that fails is logged and does not undo the commit.
"""
from __future__ import annotations

import functools
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

import click
from flask import Flask
from flask.cli import with_appcontext
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from .errors import DomainError
from .extensions import db
from .logs import get_logger

log = get_logger("teichaku.transaction")

_ACTIONS = "teichaku_after_transaction"   # session.info key: the registered actions, in order
_OUTCOME = "teichaku_outcome"             # session.info key: "keep" or "refuse", set inside a boundary
_DEPTH = "teichaku_boundary_depth"        # session.info key: boundaries open on this session


@dataclass
class _Action:
    when: str                              # "commit" or "rollback"
    transaction: SessionTransaction | None  # the innermost transaction when it was registered
    run: Callable[[], object]


# --- after-commit and after-rollback actions --------------------------------------------------------

def on_commit(action: Callable[[], object], session: Session | None = None) -> None:
    """Run ``action()`` after the outermost transaction of ``session`` commits.  Outside any
    transaction there is nothing to wait for: it runs at once."""
    session = session or db.session()
    transaction = _innermost(session)
    if transaction is None:
        _run(action)
        return
    session.info.setdefault(_ACTIONS, []).append(_Action("commit", transaction, action))


def on_rollback(action: Callable[[], object], session: Session | None = None) -> None:
    """Run ``action()`` if the transaction (or savepoint) open now rolls back; forget it on commit."""
    session = session or db.session()
    transaction = _innermost(session)
    if transaction is not None:
        session.info.setdefault(_ACTIONS, []).append(_Action("rollback", transaction, action))


def _innermost(session: Session) -> SessionTransaction | None:
    return session.get_nested_transaction() or session.get_transaction()


def _within(transaction: SessionTransaction | None, ended: SessionTransaction) -> bool:
    """Whether ``transaction`` is ``ended`` or lies inside it (a savepoint of it, at any depth)."""
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def _run(action: Callable[[], object]) -> None:
    try:
        action()
    except Exception as exc:  # noqa: BLE001 - the commit stands; the action's own sweep recovers
        log.error("after_transaction_action_failed", action=getattr(action, "__qualname__", repr(action)),
                  exc_type=type(exc).__name__)


def _after_commit(session: Session) -> None:
    if session.in_nested_transaction():
        return  # a savepoint released: its actions now belong to the enclosing transaction
    actions = session.info.pop(_ACTIONS, None) or ()
    for action in actions:
        if action.when == "commit":
            _run(action.run)


def _after_soft_rollback(session: Session, rolled_back: SessionTransaction) -> None:
    actions = session.info.get(_ACTIONS)
    if not actions:
        return
    undone = [a for a in actions if _within(a.transaction, rolled_back)]
    if not undone:
        return
    session.info[_ACTIONS] = [a for a in actions if not _within(a.transaction, rolled_back)]
    for action in undone:
        if action.when == "rollback":
            _run(action.run)


def _after_transaction_end(session: Session, transaction: SessionTransaction) -> None:
    """The outermost transaction ended without a commit (the session was closed or removed while
    one was open): what was registered is rolled back."""
    if transaction.parent is None and not transaction.nested and session.info.get(_ACTIONS):
        _after_soft_rollback(session, transaction)


def install() -> None:
    """Listen on every session (called once by the app factory; idempotent)."""
    for name, listener in (("after_commit", _after_commit), ("after_soft_rollback", _after_soft_rollback),
                           ("after_transaction_end", _after_transaction_end)):
        if not event.contains(Session, name, listener):
            event.listen(Session, name, listener)


# --- the boundary ---------------------------------------------------------------------------------

def keep_writes() -> None:
    """Inside a boundary: commit what was written even though the answer is a refusal."""
    db.session().info[_OUTCOME] = "keep"


def refuse() -> None:
    """Inside a boundary: roll back at the end even though the answer is a normal one (a refused
    service call reported by a flash and a redirect)."""
    db.session().info[_OUTCOME] = "refuse"


@contextmanager
def boundary() -> Iterator[None]:
    """Commit once when the block ends normally; roll back when it raises (unless the error is a
    refusal raised with ``keep_writes=True``) or when ``refuse()`` was called.  A boundary inside
    another on the same session leaves the decision to the outer one."""
    session = db.session()
    depth = session.info.get(_DEPTH, 0)
    session.info[_DEPTH] = depth + 1
    try:
        if depth:
            yield
            return
        session.info.pop(_OUTCOME, None)
        try:
            yield
        except DomainError as exc:
            _end(session, commit=exc.keep_writes)
            raise
        except SystemExit as exc:  # a CLI command's ``sys.exit(code)``
            _end(session, commit=exc.code in (None, 0) and session.info.get(_OUTCOME) != "refuse")
            raise
        except BaseException:
            _end(session, commit=False)
            raise
        _end(session, commit=session.info.get(_OUTCOME) != "refuse")
    finally:
        session.info[_DEPTH] = depth
        if not depth:
            session.info.pop(_OUTCOME, None)


def _end(session: Session, *, commit: bool) -> None:
    if not commit:
        session.rollback()
        return
    try:
        session.commit()
    except BaseException:
        session.rollback()
        raise


def transactional(func: Callable) -> Callable:
    """``func`` runs inside its own ``boundary()`` (jobs, CLI commands)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with boundary():
            return func(*args, **kwargs)

    return wrapper


def _bounded_view(view: Callable) -> Callable:
    """A view inside the request's boundary.  The view's end flushes (so a conflict found there
    still reaches the error handlers); the decision waits for the answer, in ``_end_request``,
    so the error page is rendered before anything is rolled back and expired."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        session = db.session()
        session.info[_DEPTH] = session.info.get(_DEPTH, 0) + 1  # inner boundaries leave it to the request
        try:
            answer = view(*args, **kwargs)
            session.flush()
            return answer
        except DomainError as exc:
            session.info[_OUTCOME] = "keep" if exc.keep_writes else "refuse"
            raise
        except BaseException:
            session.info[_OUTCOME] = "refuse"
            raise

    wrapper._teichaku_boundary = True
    return wrapper


def _end_request(response):
    """Commit a request whose view ran and answered below 400 (or said ``keep_writes()``); roll
    back any other.  A commit that fails becomes the error answer (Flask's 500 handler)."""
    session = db.session()
    if not session.info.pop(_DEPTH, 0):
        return response  # no view ran (no route, refused before the view): nothing to decide
    outcome = session.info.pop(_OUTCOME, None)
    _end(session, commit=outcome == "keep" or (outcome is None and response.status_code < 400))
    return response


def init_app(app: Flask) -> None:
    """Put every view of ``app`` inside the request's boundary (after the blueprints are
    registered) and decide at the end of each request."""
    for endpoint, view in list(app.view_functions.items()):
        if endpoint != "static" and not getattr(view, "_teichaku_boundary", False):
            app.view_functions[endpoint] = _bounded_view(view)
    app.after_request(_end_request)


def wrap_commands(group: click.Group) -> None:
    """Put every command of ``group`` (and of its subgroups) inside the boundary."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            wrap_commands(command)
        elif command.callback is not None and not getattr(command.callback, "_teichaku_boundary", False):
            # with_appcontext outside: the boundary needs the app's session (the command's own
            # with_appcontext, inside, then finds the context already pushed).
            command.callback = with_appcontext(transactional(command.callback))
            command.callback._teichaku_boundary = True
