"""julia's pool on release: no reset round trip, and a transaction left open still rolled back."""

from __future__ import annotations

from julia import db, servers


async def test_release_sends_nothing_and_still_rolls_back(services: servers.Servers) -> None:
    pool = await db.create_pool(services.database_url, min_size=1, max_size=1)  # one connection: the same
    try:
        seen: list[str] = []
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: seen.append(record.query))  # stays through releases
            await conn.fetchval("SELECT 1")
        assert seen == ["SELECT 1"]  # no "SELECT pg_advisory_unlock_all(); ... RESET ALL"

        async with pool.acquire() as conn:
            await conn.execute("BEGIN")
        assert seen[-2:] == ["BEGIN", "ROLLBACK"]  # what one borrower left open never reaches the next
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
    finally:
        await pool.close()
