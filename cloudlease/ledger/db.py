"""Connections to the ledger database: SQLite in the home, or PostgreSQL at a URL.

Plain DB-API (stdlib ``sqlite3``, ``psycopg`` 3 imported only when a URL asks for it);
no ORM. Both speak through ``Db``: statements are written with ``?`` placeholders and
``Db`` turns them into ``%s`` for psycopg. Every engine error that is not a bug becomes
a ``LedgerError`` (exit 5) with one line naming the ledger.

Writers are serialised: on SQLite by an ``flock`` on ``ledger.lock`` (it records the
holder's pid and command, so a waiter that gives up can name it) and ``BEGIN IMMEDIATE``;
on PostgreSQL by a transaction-scoped advisory lock, waited for at most
``--lock-timeout``, the holder named from ``pg_stat_activity``.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cloudlease.core.errors import LedgerError

PG_LOCK_KEY = 0x636C6C64  # "clld": the ledger writer lock (pg_advisory_xact_lock)


def host_name() -> str:
    """This machine's name, as ``host_name()`` says it (from ``uname``, without
    importing the socket module on every command's start-up)."""
    try:
        return os.uname().nodename
    except AttributeError:  # pragma: no cover - no uname (Windows)

        return host_name()


def command_line() -> str:
    """``cloudlease rent --hours 2`` → ``rent --hours 2`` (for audit rows and lock holders)."""
    args = sys.argv[1:4]
    return " ".join(args)[:120] or os.path.basename(sys.argv[0] or "python")


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return "(an unparsable URL)"
    if parts.password is None:
        return url
    netloc = parts.netloc.rpartition("@")
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[2]}"))


class Db:
    """One connection. ``dialect`` is ``sqlite`` or ``postgresql``.

    Attributes:
        where: what to call the ledger in messages (a path, or a redacted URL).
        read_only: the database could only be opened for reading.
    """

    def __init__(self, conn: Any, dialect: str, where: str, *, read_only: bool = False,
                 lock_path: Path | None = None, reopen: Any = None) -> None:
        self.conn = conn
        self.dialect = dialect
        self.where = where
        self.read_only = read_only
        self.read_only_reason = "it is read-only here" if read_only else ""
        self.lock_path = lock_path
        self.in_write = False
        self.reopen = reopen  # () -> a new Db on the same ledger (another connection)

    # -- statements ---------------------------------------------------------------------
    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        try:
            return self.conn.execute(self._sql(sql), params)
        except Exception as exc:
            raise self.translate(exc) from None

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        if not rows:
            return
        try:
            if self.dialect == "postgresql":
                with self.conn.cursor() as cur:
                    cur.executemany(self._sql(sql), rows)
            else:
                self.conn.executemany(sql, rows)
        except Exception as exc:
            raise self.translate(exc) from None

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        return list(self.execute(sql, params).fetchall())

    def one(self, sql: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(sql, params).fetchone()

    def close(self) -> None:
        try:
            if self.dialect == "sqlite" and not self.read_only and self.conn is not None:
                # keep the query planner's statistics current (indexes by date or status
                # are only chosen well with them); bounded, and a no-op when nothing is due
                self.conn.execute("PRAGMA analysis_limit = 400")
                self.conn.execute("PRAGMA optimize")
            self.conn.close()
        except Exception:  # noqa: S110 - closing a broken or busy connection
            pass

    # -- errors -------------------------------------------------------------------------
    def translate(self, exc: Exception) -> Exception:
        if isinstance(exc, LedgerError):
            return exc
        text = " ".join(str(exc).split()) or type(exc).__name__
        if self.dialect == "sqlite":
            if not isinstance(exc, sqlite3.Error):
                return exc
            low = text.lower()
            if "not a database" in low or "malformed" in low:
                return LedgerError(f"{self.where} is not a valid cloudlease ledger ({text}); "
                                   "restore it from a backup", code="ledger_invalid")
            if "readonly" in low or "read-only" in low:
                return LedgerError(f"{self.where} is read-only: cloudlease cannot write to it",
                                   code="ledger_read_only")
            if "disk is full" in low or "disk i/o" in low:
                return LedgerError(f"cannot write {self.where}: {text} (nothing was changed)",
                                   code="ledger_io")
            if "locked" in low or "busy" in low:
                return LedgerError(f"{self.where} is locked by another program (not a "
                                   "cloudlease command: an open sqlite3 shell?); gave up "
                                   "waiting", code="locked")
            if isinstance(exc, sqlite3.IntegrityError):
                return exc  # callers turn constraint violations into conflicts
            if "no such table" in low or "no such column" in low:
                return LedgerError(f"{self.where} is missing part of its schema ({text}); it "
                                   "was altered outside cloudlease", code="ledger_invalid")
            return LedgerError(f"{self.where}: {text}", code="ledger_invalid")
        import psycopg

        if isinstance(exc, psycopg.errors.IntegrityError):
            return exc
        if isinstance(exc, psycopg.errors.UndefinedTable | psycopg.errors.UndefinedColumn):
            return LedgerError(f"{self.where} is missing part of its schema ({text}); it was "
                               "altered outside cloudlease", code="ledger_invalid")
        if isinstance(exc, psycopg.Error):
            return LedgerError(f"ledger {self.where}: {text}", code="ledger_unavailable")
        return exc

    # -- transactions -------------------------------------------------------------------
    @contextmanager
    def write(self, timeout: float) -> Iterator[None]:
        """One write transaction, holding the ledger's writer lock for its duration. The
        caller commits; a block that ends without committing (nothing to write) or with
        an exception is rolled back."""
        from contextlib import nullcontext

        if self.read_only:
            raise LedgerError(f"cannot write {self.where}: {self.read_only_reason} (it can "
                              "still be read; nothing was changed)", code="ledger_read_only")
        if self.dialect == "sqlite":
            from cloudlease.files.fsio import FileLock

            assert self.lock_path is not None
            guard: Any = FileLock(self.lock_path, timeout)
        else:
            guard = nullcontext()
        with guard:
            if self.dialect == "sqlite":
                self.execute("BEGIN IMMEDIATE")
            else:
                self.execute("BEGIN")
                try:
                    self.execute(f"SET LOCAL lock_timeout = '{max(1, int(timeout * 1000))}ms'")
                    self._pg_lock(timeout)
                except BaseException:
                    self._rollback()
                    raise
            self.in_write = True
            try:
                yield
            except BaseException:
                self._rollback()
                raise
            else:
                if self.in_write:
                    self._rollback()
            finally:
                self.in_write = False

    def commit(self) -> None:
        self.execute("COMMIT")
        self.in_write = False

    def _rollback(self) -> None:
        try:
            self.conn.execute("ROLLBACK")
        except Exception:  # noqa: S110 - nothing to roll back, or the connection is gone
            pass

    def _pg_lock(self, timeout: float) -> None:
        import psycopg

        try:
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (PG_LOCK_KEY,))
        except psycopg.errors.LockNotAvailable:
            self._rollback()
            holder = self._pg_holder()
            raise LedgerError(f"ledger is locked by {holder}; gave up after {timeout:g}s "
                              "(raise --lock-timeout, or wait for it to finish)",
                              code="locked") from None
        except psycopg.Error as exc:
            raise self.translate(exc) from None

    def _pg_holder(self) -> str:
        try:
            row = self.conn.execute(
                "SELECT a.application_name, a.client_addr FROM pg_locks l JOIN "
                "pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND "
                "l.granted AND l.objid = %s AND l.database = (SELECT oid FROM pg_database "
                "WHERE datname = current_database())", (PG_LOCK_KEY,)).fetchone()
        except Exception:
            return "another session"
        if not row:
            return "another session"
        name, addr = row
        return f"{name or 'another session'}" + (f" from {addr}" if addr else "")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """A consistent read of several statements (no writer lock)."""
        if self.dialect == "postgresql":
            self.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        else:
            self.execute("BEGIN")
        try:
            yield
        finally:
            self._rollback()


# -- opening ------------------------------------------------------------------------------
def open_sqlite(path: Path, *, lock_timeout: float, create: bool = False) -> Db:
    where = str(path)
    if path.is_symlink():
        raise LedgerError(f"{where} is a symbolic link; cloudlease refuses to follow it for "
                          "its ledger", code="ledger_invalid")
    if path.is_dir():
        raise LedgerError(f"{where} is a directory, not a ledger database",
                          code="ledger_invalid")
    if not create and not path.exists():
        raise LedgerError(f"no ledger at {where}", code="ledger_missing")
    writable = os.access(path.parent, os.W_OK) and (not path.exists()
                                                    or os.access(path, os.W_OK))
    ms = max(0, int(lock_timeout * 1000))
    why = "" if writable else "it is read-only here"
    try:
        conn = None
        if writable:
            conn = sqlite3.connect(where, isolation_level=None, timeout=lock_timeout,
                                   check_same_thread=False)
            if path.exists() and not create:
                conn, why = _usable(conn, path)  # a full disk: read it all the same
        if conn is None:
            conn = _open_read_only(path)
        db = Db(conn, "sqlite", where, read_only=bool(why),
                lock_path=path.with_name("ledger.lock"),
                reopen=lambda: open_sqlite(path, lock_timeout=lock_timeout))
        db.read_only_reason = why
        if not why:
            conn.execute(f"PRAGMA busy_timeout = {ms}")
            conn.execute("PRAGMA synchronous = FULL")
        return db
    except sqlite3.Error as exc:
        raise Db(None, "sqlite", where).translate(exc) from None


def _usable(conn: sqlite3.Connection, path: Path) -> tuple[sqlite3.Connection | None, str]:
    """The writable connection if it can read; else (None, why). Opening a WAL database
    writes its -wal and -shm files: on a full disk (or a file system that went read-only
    under us) that fails, and reading must still work (``lease list``, ``verify``,
    ``export``), so the ledger is then opened read-only and a write says why."""
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn, ""
    except sqlite3.OperationalError as exc:
        low = str(exc).lower()
        if not any(w in low for w in ("disk i/o", "disk is full", "readonly", "read-only",
                                      "unable to open")):
            raise
        conn.close()
        return None, f"its file system is full or read-only ({' '.join(str(exc).split())})"


def open_sqlite_read_only(path: Path) -> Db:
    """The ledger for reading only: no writer lock, no upgrade, nothing written."""
    try:
        return Db(_open_read_only(path), "sqlite", str(path), read_only=True)
    except sqlite3.Error as exc:
        raise Db(None, "sqlite", str(path)).translate(exc) from None


def _open_read_only(path: Path) -> sqlite3.Connection:
    """A home we may not write (a read-only copy, another user's): read it in place. A
    WAL database needs its -shm file to be writable; when it cannot be, ``immutable``
    reads the file as it is (nothing else can be writing a read-only copy)."""
    uri = path.resolve().as_uri()
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None,
                               check_same_thread=False)
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return conn
    except sqlite3.Error:
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size:  # committed pages not in the file yet
            raise LedgerError(f"{path} cannot be read here: its write-ahead log holds "
                              "changes that only a writable open can apply (free some disk "
                              "space, or run a command where it is writable)",
                              code="ledger_read_only") from None
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False)


def open_postgres(url: str, *, lock_timeout: float, connect_timeout: float = 10) -> Db:
    where = redact_url(url)
    if not url.startswith(("postgresql://", "postgres://")):
        raise LedgerError(f"ledger URL {where!r} is not a postgresql:// URL",
                          code="config_invalid")
    try:
        import psycopg
    except ImportError:  # pragma: no cover - a dependency
        raise LedgerError("a PostgreSQL ledger needs psycopg 3 (pip install 'psycopg[binary]')",
                          code="ledger_unavailable") from None
    app = f"cloudlease pid {os.getpid()}@{host_name()}: {command_line()}"[:63]
    try:
        from psycopg.conninfo import conninfo_to_dict

        conninfo_to_dict(url)
        from urllib.parse import urlsplit

        urlsplit(url).port  # noqa: B018 - raises ValueError for a port that is no number
    except (psycopg.ProgrammingError, ValueError) as exc:
        raise LedgerError(f"ledger URL {where!r} is malformed ({_pg_text(exc, url)})",
                          code="config_invalid") from None
    try:
        conn = psycopg.connect(url, autocommit=True, application_name=app,
                               connect_timeout=max(1, int(connect_timeout)))
    except psycopg.ProgrammingError as exc:
        raise LedgerError(f"ledger URL {where!r} is malformed ({_pg_text(exc, url)})",
                          code="config_invalid") from None
    except psycopg.Error as exc:
        text = _pg_text(exc, url)
        if "invalid" in text and "value" in text:
            raise LedgerError(f"ledger URL {where!r} is malformed ({text})",
                              code="config_invalid") from None
        raise LedgerError(f"cannot reach the ledger at {where}: {text}",
                          code="ledger_unavailable") from None
    return Db(conn, "postgresql", where,
              reopen=lambda: open_postgres(url, lock_timeout=lock_timeout,
                                           connect_timeout=connect_timeout))


def _pg_text(exc: Exception, url: str) -> str:
    from urllib.parse import unquote, urlsplit

    text = " ".join(str(exc).split())
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in filter(None, {password, unquote(password or "")}):
        text = text.replace(secret, "***")
    return text[:300]
