"""The throw-away PostgreSQL server of the tests (tests/pg_server.py) and its fixtures.

psycopg is imported inside the tests, after the ``postgres_server`` fixture has checked that it
is installed: ``make test`` collects this module (then leaves it out) in a venv without it.
"""

from __future__ import annotations

import pytest
from pg_server import PostgresServer

pytestmark = pytest.mark.postgres


def _tables(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_the_server_accepts_a_connection_and_answers(postgres_server: PostgresServer) -> None:
    import psycopg

    assert postgres_server.running
    url = postgres_server.url("postgres")
    assert url == f"postgresql://shop@127.0.0.1:{postgres_server.port}/postgres"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_user").fetchone() == ("shop",)
        # durability tests rely on the server's default
        assert conn.execute("SHOW fsync").fetchone() == ("on",)


def test_each_new_schema_url_is_a_separate_database(
    postgres_server: PostgresServer, postgres_url: str
) -> None:
    import psycopg

    first, second = postgres_server.new_schema_url(), postgres_server.new_schema_url()
    assert len({first, second, postgres_url}) == 3
    assert _tables(postgres_url) == set()  # the fixture's database starts empty
    with psycopg.connect(first) as conn:
        conn.execute("CREATE TABLE only_here (x int)")
    assert _tables(first) == {"only_here"}
    assert _tables(second) == set()
    assert _tables(postgres_url) == set()


def test_stop_refuses_connections_and_start_again_keeps_the_data(
    postgres_server: PostgresServer,  # skips (or fails) where no server can run
) -> None:
    import psycopg

    # a server of its own: stopping the shared one would break the tests that run beside
    server = PostgresServer().start()
    try:
        url = server.new_schema_url()
        with psycopg.connect(url) as conn:
            conn.execute("CREATE TABLE kept (id int PRIMARY KEY, note text)")
            conn.execute("INSERT INTO kept VALUES (1, 'before a clean stop')")

        server.stop()
        assert not server.running
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=5).close()

        port = server.port
        server.start_again()
        assert server.running
        assert server.port == port
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id, note FROM kept").fetchall() == [
                (1, "before a clean stop")
            ]
            conn.execute("INSERT INTO kept VALUES (2, 'before a crash')")

        # immediate: no shutdown checkpoint, like a crash; the committed row comes back from the WAL
        server.stop("immediate")
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=5).close()
        server.start_again()
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id FROM kept ORDER BY id").fetchall() == [(1,), (2,)]

        with pytest.raises(RuntimeError, match="still running"):
            server.start_again()
    finally:
        directory = server.directory
        server.close()
    assert directory is not None
    assert not directory.exists()
    assert not server.running
    server.close()  # a second close does nothing
