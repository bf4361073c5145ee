"""The embedded store: several processes, retries, retention, versions and the errors users see."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from genai_cost.store import StoreError, open_store
from genai_cost.store.embedded import EmbeddedStore
from genai_cost.store.schema import COLUMN_NAMES, SCHEMA_VERSION

NOW_US = int(datetime.now(UTC).timestamp() * 1_000_000)


def row(
    span_id: int,
    *,
    amount: float | None = 0.001,
    team: str = "search",
    age: timedelta = timedelta(0),
    trace=b"\x01" * 16,
):
    values = dict.fromkeys(COLUMN_NAMES)
    values.update(
        time=NOW_US - int(age.total_seconds() * 1_000_000) - span_id,
        trace_id=trace,
        span_id=span_id,
        provider="openai",
        response_model="gpt-4o",
        input_tokens=10,
        output_tokens=5,
        amount=amount,
        currency="USD" if amount is not None else None,
        status="priced" if amount is not None else "unknown_model",
        team=team,
    )
    return tuple(values[name] for name in COLUMN_NAMES), None


WRITER = textwrap.dedent(
    """
    import sys
    from genai_cost.store import open_store
    from genai_cost.store.writer import StoreWriter

    path, first, count, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    from genai_cost.store.schema import COLUMN_NAMES

    def row(i):
        values = dict.fromkeys(COLUMN_NAMES)
        values.update(time=now - i, trace_id=i.to_bytes(16, "big"), span_id=i, amount=1e-6 * i, status="priced")
        return tuple(values[n] for n in COLUMN_NAMES), None

    writer = StoreWriter(open_store(path), lambda i: [row(i)], interval=0.01, max_batch=97)
    for i in range(first, first + count):
        writer.offer(i)
        if i % 50 == 0:
            writer.offer(i)  # a retried export of the same call
    writer.close()
    print(writer.stats.written, writer.stats.skipped)
    """
)


def test_four_processes_write_one_store_no_row_lost_none_doubled(tmp_path):
    path = str(tmp_path / "spend.duckdb")
    open_store(path)
    per_process = 1500
    # Overlapping ranges: the 500 calls each process shares with the next are "retries" from
    # another process; every call must be stored exactly once.
    starts = [1 + n * 1000 for n in range(4)]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, path, str(start), str(per_process), str(NOW_US)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for start in starts
    ]
    outputs = [p.communicate(timeout=240)[0] for p in processes]
    assert all(p.returncode == 0 for p in processes), outputs
    expected = set(range(1, starts[-1] + per_process))
    stored = [call["span_id"] for call in EmbeddedStore(path).calls()]
    assert len(stored) == len(expected)
    assert {int(s, 16) for s in stored} == expected
    written = sum(int(out.split()[0]) for out in outputs)
    assert written == len(expected)


def test_retried_rows_are_skipped_in_one_batch_and_across_batches(tmp_path):
    store = open_store(str(tmp_path / "s.duckdb"))
    assert store.write([row(1), row(1), row(2)]) == 2
    assert store.write([row(2), row(3)]) == 1
    assert store.write([row(3, trace=b"\x02" * 16)]) == 1  # same span id, another trace: another call
    assert len(store.calls()) == 4


def test_retention_deletes_old_calls_only(tmp_path):
    store = open_store(str(tmp_path / "s.duckdb"), retention=timedelta(days=400))
    store.write([row(1, age=timedelta(days=401)), row(2, age=timedelta(days=399))])
    assert [int(c["span_id"], 16) for c in store.calls()] == [2]


def test_a_newer_store_is_refused_and_left_untouched(tmp_path):
    import duckdb

    path = tmp_path / "s.duckdb"
    open_store(str(path)).write([row(1)])
    con = duckdb.connect(str(path))
    con.execute("UPDATE genai_cost_meta SET value = ? WHERE key = 'schema_version'", [str(SCHEMA_VERSION + 1)])
    con.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="newer genai-cost"):
        open_store(str(path))
    assert path.read_bytes() == before


def test_a_corrupt_file_is_a_clear_error(tmp_path):
    path = tmp_path / "s.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError, match=f"{path}: not a readable spend store"):
        open_store(str(path))


def test_another_duckdb_file_is_not_taken_for_a_store(tmp_path):
    import duckdb

    path = tmp_path / "other.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE t (x INTEGER)")
    con.close()
    with pytest.raises(StoreError, match="not a genai-cost spend store"):
        open_store(str(path))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_place_is_a_clear_error(tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(StoreError, match="cannot create the spend store"):
            open_store(str(locked / "s.duckdb"))
    finally:
        locked.chmod(0o700)


def test_a_store_under_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot create the spend store"):
        open_store(str(tmp_path / "file" / "s.duckdb"))


def test_reading_a_missing_store_says_so(tmp_path):
    with pytest.raises(StoreError, match="no spend store here"):
        open_store(str(tmp_path / "nothing.duckdb"), create=False)


def test_write_failures_are_retried_not_lost(tmp_path):
    from genai_cost.store.writer import StoreWriter

    class Flaky:
        url = "flaky"

        def __init__(self, inner):
            self.inner, self.failures = inner, 2

        def write(self, calls):
            if self.failures:
                self.failures -= 1
                raise OSError("disk full")
            return self.inner.write(calls)

        def close(self):
            pass

    inner = open_store(str(tmp_path / "s.duckdb"))
    writer = StoreWriter(Flaky(inner), lambda i: [row(i)], interval=0.01)
    for i in range(1, 11):
        writer.offer(i)
    writer.close()
    assert writer.stats.failed_writes == 2
    assert len(inner.calls()) == 10
