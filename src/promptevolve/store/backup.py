"""Backups of the store, in each database's own format, and their restore.

- **SQLite**: SQLite's online backup API (``sqlite3.Connection.backup``) copies the database page by page
  into a new file while others keep reading and writing: the copy is one consistent moment, WAL included,
  and is itself a SQLite database (``sqlite3 backup.db`` opens it). Restore copies it back the same way,
  replacing the whole database in one step.
- **PostgreSQL**: ``pg_dump --format=custom`` of the schema promptevolve lives in (one consistent
  snapshot, compressed, read by the standard tools), and ``pg_restore --clean --single-transaction``: the
  restore replaces the tables it holds in one transaction, so a failed restore changes nothing. Without
  ``pg_dump``/``pg_restore`` on ``PATH`` the command refuses and names the package that has them: a home-made
  dump would be neither consistent under writes nor readable by anyone's tools, which is what a person
  restoring at 3 a.m. needs.

Restoring over a database that already holds a promptevolve schema needs ``replace=True``; PostgreSQL also
needs the backup and the database at the same schema revision (or an empty database), because
``pg_restore`` replaces the tables the backup holds and would leave newer ones behind. After a restore of
an older backup, ``promptevolve db upgrade`` brings the schema to this version (SQLite does it on open).
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from promptevolve.core.errors import ConfigurationError, StoreError, ValidationError
from promptevolve.store.engine import Store, describe_url
from promptevolve.store.migrate import current_revision

__all__ = ["BackupInfo", "backup", "restore"]

_SQLITE_MAGIC = b"SQLite format 3\x00"
_PGDUMP_MAGIC = b"PGDMP"
_POSTGRES_CLIENT = "the PostgreSQL client tools (Debian: apt-get install postgresql-client)"


@dataclass(frozen=True)
class BackupInfo:
    """What a backup or a restore did: the file, its size, the schema revision it holds."""

    path: Path
    size: int
    revision: str | None


def backup(url: str, path: Path) -> BackupInfo:
    """Write a consistent copy of the store at ``url`` to ``path`` (a new file)."""
    path = Path(path)
    if path.exists():
        raise ValidationError(f"{path} already exists: remove it or choose another name")
    if not path.parent.is_dir():
        raise ValidationError(f"cannot write {path}: no directory {path.parent}")
    _tools_for(url, "pg_dump")
    store = Store.from_url(url)
    try:
        revision = current_revision(store)
        if revision is None:
            raise ValidationError(f"{describe_url(url)} holds no promptevolve schema: nothing to back up")
        if store.dialect == "sqlite":
            _sqlite_copy(_sqlite_file(url, must_exist=True), path)
        else:
            _pg_dump(url, _pg_schema(store), path)
    finally:
        store.dispose()
    return BackupInfo(path, path.stat().st_size, revision)


def restore(url: str, path: Path, *, replace: bool = False) -> BackupInfo:
    """Replace the store at ``url`` with the backup at ``path``."""
    path = Path(path)
    magic = _magic(path)
    _tools_for(url, "pg_restore")
    store = Store.from_url(url)
    try:
        target = current_revision(store)
        if target is not None and not replace:
            raise ValidationError(
                f"{describe_url(url)} already holds a promptevolve schema ({target}): pass --replace to "
                "overwrite it with the backup"
            )
        if store.dialect == "sqlite":
            if magic != _SQLITE_MAGIC:
                raise ValidationError(f"{path} is not a SQLite backup (made by `promptevolve db backup`)")
            revision = _sqlite_revision(path)
            store.dispose()  # no pooled connection of ours may hold the file while it is replaced
            _sqlite_copy(path, _sqlite_file(url, must_exist=False))
        else:
            if not magic.startswith(_PGDUMP_MAGIC):
                raise ValidationError(f"{path} is not a pg_dump backup (made by `promptevolve db backup`)")
            revision = _pg_restore(url, store, path, target)
    finally:
        store.dispose()
    return BackupInfo(path, path.stat().st_size, revision)


# --- SQLite -----------------------------------------------------------------------------------------


def _sqlite_file(url: str, *, must_exist: bool) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ConfigurationError(f"{describe_url(url)} is not a database file: nothing to back up or restore")
    file = Path(database)
    if must_exist and not file.is_file():
        raise ValidationError(f"no SQLite database at {file}")
    return file


def _sqlite_copy(source: Path, target: Path) -> None:
    try:
        with sqlite3.connect(source) as src, sqlite3.connect(target) as dst:
            src.execute("PRAGMA busy_timeout=30000")
            dst.execute("PRAGMA busy_timeout=30000")
            src.backup(dst)
    except sqlite3.Error as exc:
        raise StoreError(f"copying {source} to {target} failed: {exc}") from None


def _sqlite_revision(path: Path) -> str:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        row = None
    if row is None:
        raise ValidationError(f"{path} is a SQLite file but not a promptevolve backup (no schema revision)")
    return str(row[0])


# --- PostgreSQL -------------------------------------------------------------------------------------


def _magic(path: Path) -> bytes:
    if not path.is_file():
        raise ValidationError(f"no backup file at {path}")
    try:
        with path.open("rb") as f:
            return f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ValidationError(f"cannot read {path}: {exc.strerror}") from None


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise ConfigurationError(f"{name} is not on PATH: install {_POSTGRES_CLIENT}, then run this again")
    return found


def _tools_for(url: str, name: str) -> None:
    """Refuse before anything is touched when PostgreSQL's tool is missing."""
    try:
        backend = make_url(url).get_backend_name()
    except ArgumentError:
        return  # Store.from_url says what is wrong with the URL
    if backend == "postgresql":
        _tool(name)


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """A libpq connection URI for the tools (password in ``PGPASSWORD``, never on the command line)."""
    parsed: URL = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    plain = parsed.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _pg_schema(store: Store) -> str:
    with store.engine.connect() as conn:
        return str(conn.exec_driver_sql("SELECT current_schema()").scalar_one())


def _run(args: list[str], env: dict[str, str], what: str) -> str:
    done = subprocess.run(args, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise StoreError(f"{what} failed: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _pg_dump(url: str, schema: str, path: Path) -> None:
    dsn, env = _libpq(url)
    args = [_tool("pg_dump"), "--format=custom", f"--schema={schema}", f"--file={path}", f"--dbname={dsn}"]
    try:
        _run(args, env, "pg_dump")
    except StoreError:
        path.unlink(missing_ok=True)
        raise


def _pg_backup_facts(path: Path, env: dict[str, str]) -> tuple[str, str]:
    """(schema, revision) a pg_dump backup holds, read from its table of contents and data."""
    tool = _tool("pg_restore")
    listing = _run([tool, "--list", str(path)], env, "reading the backup")
    schemas = set(re.findall(r"^\d+; \d+ \d+ TABLE (\S+) alembic_version ", listing, flags=re.M))
    data = _run([tool, "--data-only", "--table=alembic_version", "--file=-", str(path)], env, "reading")
    revision = re.search(r"^COPY \S+ \(version_num\) FROM stdin;\n([^\n\\]+)\n", data, flags=re.M)
    if len(schemas) != 1 or revision is None:
        raise ValidationError(f"{path} is a pg_dump file but not a promptevolve backup (no schema revision)")
    return schemas.pop(), revision.group(1)


def _pg_restore(url: str, store: Store, path: Path, target: str | None) -> str:
    dsn, env = _libpq(url)
    schema, revision = _pg_backup_facts(path, env)
    here = _pg_schema(store)
    if schema != here:
        raise ValidationError(
            f"{path} holds the schema {schema!r}, but {describe_url(url)} uses {here!r}: restore it into a "
            f"database whose search_path is {schema!r}"
        )
    if target is not None and target != revision:
        raise ValidationError(
            f"{path} is at schema revision {revision} and the database at {target}: restore into an empty "
            f"database (or one at {revision}), then run `promptevolve db upgrade`"
        )
    args = [
        _tool("pg_restore"),
        "--clean",
        "--if-exists",
        "--no-owner",
        "--no-privileges",
        "--single-transaction",
        "--exit-on-error",
        f"--schema={schema}",
        f"--dbname={dsn}",
        str(path),
    ]
    _run(args, env, "pg_restore")
    return revision
