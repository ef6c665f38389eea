"""Alembic environment: runs on the connection that ``promptevolve.store.migrate`` hands it.

Migrations run in one transaction (PostgreSQL has transactional DDL; on SQLite Alembic's batch mode
rebuilds tables where ALTER cannot), so a failed upgrade leaves the previous schema intact.
"""

from alembic import context

from promptevolve.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)
with context.begin_transaction():
    context.run_migrations()
