"""Which engine for the embedded spend store: DuckDB, SQLite and chdb on the same million calls.

For each engine, written by hand with its own Python API (the fastest plain way each offers):

* **ingest**: calls per second inserting 1,000,000 rows in batches of 50,000 (one batch is
  what a busy writer flushes per second), one thread, the rows already built;
* **report**: seconds for spend by team, and by model and day, over the 1M rows (median of 5);
* **bytes/call**: the database's size on disk divided by the rows (after a checkpoint/merge);
* **install**: the engine's installed size (site-packages; SQLite ships with Python);
* **2 writers**: whether a second process can write while a first has the store open.

Then genai-cost's own store (``EmbeddedStore.write``: the same DuckDB plus retry
de-duplication and the flock session) and ``reports.query.spend`` over the same rows.

    .venv/bin/python bench/store/engines_bench.py            # ~3-4 minutes
    .venv/bin/python bench/store/engines_bench.py --rows 200000
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from genai_cost.store.schema import COLUMN_NAMES, COLUMNS

BATCH = 50_000
TEAMS = ["search", "checkout", "support", "ads", "growth", "infra", "mobile", "web"]
MODELS = [
    ("openai", "gpt-4o"),
    ("openai", "gpt-4o-mini"),
    ("anthropic", "claude-sonnet-4"),
    ("google", "gemini-2.5-flash"),
]


def make_rows(count: int) -> list[tuple]:
    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = (timedelta(days=90) / count).total_seconds() * 1e6
    base = int(start.timestamp() * 1e6)
    users = [f"user-{i}" for i in range(2000)]
    rows = []
    for i in range(count):
        provider, model = MODELS[i % 4]
        inp, out = rng.randint(50, 8000), rng.randint(5, 1500)
        cached = rng.choice((0, 0, 0, inp // 2))
        input_cost, output_cost = (inp - cached) * 2.5e-6, out * 1e-5
        cache_cost, savings = cached * 1.25e-6, cached * 1.25e-6
        values = dict.fromkeys(COLUMN_NAMES)
        values.update(
            time=base + int(i * step),
            duration_ms=rng.uniform(200, 9000),
            trace_id=rng.randbytes(16).hex(),
            span_id=rng.getrandbits(64),
            service="api",
            provider=provider,
            request_model=model,
            response_model=model + "-2025",
            operation="chat",
            input_tokens=inp,
            output_tokens=out,
            cache_read_tokens=cached,
            cache_write_tokens=0,
            reasoning_tokens=0,
            amount=input_cost + output_cost + cache_cost,
            input_cost=input_cost,
            output_cost=output_cost,
            cache_read_cost=cache_cost,
            cache_write_cost=0.0,
            tools_cost=0.0,
            savings=savings,
            currency="USD",
            status="priced",
            price_model=model,
            price_source="genai-prices@0.2.3",
            project="shop",
            team=TEAMS[rng.randrange(8)],
            feature=f"feature-{rng.randrange(20)}",
            tenant=f"tenant-{rng.randrange(50)}",
            user=users[rng.randrange(2000)],
            key_id="k-0123456789abcdef",
            budget_decision="allow",
        )
        rows.append(tuple(values[n] for n in COLUMN_NAMES))
    return rows


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def installed(*names: str) -> int:
    import site

    root = Path(site.getsitepackages()[0])
    return sum(size_of(p) for name in names for p in root.glob(name))


def median_time(run, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def timed_ingest(rows: list[tuple], insert) -> float:
    started = time.process_time()
    for first in range(0, len(rows), BATCH):
        insert(rows[first : first + BATCH])
    return len(rows) / (time.process_time() - started)


# --- DuckDB ---------------------------------------------------------------------------------
DUCK_COLUMNS = ", ".join(f'"{n}" {"BIGINT" if n == "time" else k}' for n, k in COLUMNS)
UNNEST = ", ".join(f"unnest(${i + 1}::{'BIGINT' if n == 'time' else k}[])" for i, (n, k) in enumerate(COLUMNS))
BY_TEAM = "SELECT team, count(*), sum(amount), sum(input_tokens), sum(output_tokens) FROM calls GROUP BY team"


def duckdb_engine(rows: list[tuple], folder: Path) -> dict:
    import duckdb

    path = folder / "hand.duckdb"
    con = duckdb.connect(str(path))
    con.execute(f"CREATE TABLE calls ({DUCK_COLUMNS})")

    def insert(batch):
        con.execute(f"INSERT INTO calls SELECT {UNNEST}", [list(c) for c in zip(*batch, strict=True)])

    rate = timed_ingest(rows, insert)
    con.execute("CHECKPOINT")
    by_day = "SELECT response_model, time // 86400000000 AS day, count(*), sum(amount) FROM calls GROUP BY ALL"
    report = median_time(lambda: con.execute(BY_TEAM).fetchall())
    report_day = median_time(lambda: con.execute(by_day).fetchall())
    con.close()
    # executemany, the DB-API way, on a slice (it is row at a time)
    con = duckdb.connect(str(folder / "many.duckdb"))
    con.execute(f"CREATE TABLE calls ({DUCK_COLUMNS})")
    sample = rows[:20_000]
    started = time.process_time()
    con.executemany(f"INSERT INTO calls VALUES ({', '.join('?' * len(COLUMNS))})", sample)
    many = len(sample) / (time.process_time() - started)
    con.close()
    return {
        "ingest": rate,
        "ingest_executemany": many,
        "report_team": report,
        "report_model_day": report_day,
        "bytes": size_of(path) / len(rows),
        "install": installed("duckdb", "_duckdb*", "duckdb-*.dist-info"),
    }


# --- SQLite ---------------------------------------------------------------------------------
def sqlite_engine(rows: list[tuple], folder: Path) -> dict:
    import sqlite3

    path = folder / "hand.sqlite"
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    types = {
        "VARCHAR": "TEXT",
        "DOUBLE": "REAL",
        "BIGINT": "INTEGER",
        "UBIGINT": "INTEGER",
        "BLOB": "BLOB",
        "TIMESTAMP": "INTEGER",
    }
    con.execute(f"CREATE TABLE calls ({', '.join(f'{chr(34)}{n}{chr(34)} {types[k]}' for n, k in COLUMNS)})")
    con.execute("CREATE UNIQUE INDEX calls_once ON calls (span_id, trace_id)")  # retried exports
    insert_sql = f"INSERT INTO calls VALUES ({', '.join('?' * len(COLUMNS))}) ON CONFLICT DO NOTHING"
    signed = [(*r[:3], r[3] - (1 << 63), *r[4:]) for r in rows]  # SQLite integers are signed

    def insert(batch):
        con.execute("BEGIN")
        con.executemany(insert_sql, batch)
        con.execute("COMMIT")

    rate = timed_ingest(signed, insert)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    by_day = "SELECT response_model, time / 86400000000 AS day, count(*), sum(amount) FROM calls GROUP BY 1, 2"
    report = median_time(lambda: con.execute(BY_TEAM).fetchall(), 3)
    report_day = median_time(lambda: con.execute(by_day).fetchall(), 3)
    con.close()
    return {
        "ingest": rate,
        "report_team": report,
        "report_model_day": report_day,
        "bytes": size_of(path) / len(rows),
        "install": 0,
    }


# --- chdb (ClickHouse in process) -------------------------------------------------------------
def chdb_engine(rows: list[tuple], folder: Path) -> dict:
    import pyarrow as pa
    from chdb import session

    path = folder / "chdb"
    sess = session.Session(str(path))
    ch_types = {
        "VARCHAR": "LowCardinality(Nullable(String))",
        "DOUBLE": "Nullable(Float64)",
        "BIGINT": "Nullable(Int64)",
        "UBIGINT": "UInt64",
        "BLOB": "FixedString(16)",
        "TIMESTAMP": "Int64",
    }
    columns = ", ".join(f"`{n}` {ch_types[k]}" for n, k in COLUMNS)
    sess.query(f"CREATE TABLE calls ({columns}) ENGINE = MergeTree ORDER BY time")

    arrow = {
        "VARCHAR": pa.string(),
        "DOUBLE": pa.float64(),
        "BIGINT": pa.int64(),
        "UBIGINT": pa.uint64(),
        "BLOB": pa.binary(16),
        "TIMESTAMP": pa.int64(),
    }
    schema = pa.schema([(n, arrow[k]) for n, k in COLUMNS])

    def insert(batch):
        table = pa.table([list(c) for c in zip(*batch, strict=True)], schema=schema)  # noqa: F841 - read by Python()
        sess.query("INSERT INTO calls SELECT * FROM Python(table)")

    rate = timed_ingest(rows, insert)
    sess.query("OPTIMIZE TABLE calls FINAL")
    by_day = "SELECT response_model, intDiv(time, 86400000000) AS day, count(), sum(amount) FROM calls GROUP BY ALL"
    report = median_time(lambda: sess.query(BY_TEAM, "CSV"))
    report_day = median_time(lambda: sess.query(by_day, "CSV"))
    # The table's parts only (a chdb session directory also holds its own system logs).
    data = int(
        sess.query("SELECT sum(bytes_on_disk) FROM system.parts WHERE table = 'calls' AND active", "CSV").bytes()
    )
    sess.close()
    return {
        "ingest": rate,
        "report_team": report,
        "report_model_day": report_day,
        "bytes": data / len(rows),
        "install": installed("chdb", "chdb-*.dist-info", "chdb_core*"),
    }


# --- two writer processes -------------------------------------------------------------------
HOLDER = """
import sys, time
kind, path = sys.argv[1], sys.argv[2]
if kind == "duckdb":
    import duckdb; con = duckdb.connect(path); con.execute("INSERT INTO t VALUES (1)")
elif kind == "sqlite":
    import sqlite3; con = sqlite3.connect(path, isolation_level=None); con.execute("INSERT INTO t VALUES (1)")
else:
    from chdb import session; con = session.Session(path); con.query("INSERT INTO t VALUES (1)")
print("open", flush=True)
time.sleep(float(sys.argv[3]))
"""


def second_writer(kind: str, folder: Path) -> str:
    path = str(folder / f"two-{kind}")
    if kind == "duckdb":
        import duckdb

        duckdb.connect(path).execute("CREATE TABLE t (x INTEGER)").close()
    elif kind == "sqlite":
        import sqlite3

        con = sqlite3.connect(path)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("CREATE TABLE t (x INTEGER)")
        con.commit()
        con.close()
    else:
        from chdb import session

        s = session.Session(path)
        s.query("CREATE TABLE t (x Int32) ENGINE = MergeTree ORDER BY x")
        s.close()
    first = subprocess.Popen([sys.executable, "-c", HOLDER, kind, path, "4"], stdout=subprocess.PIPE, text=True)
    first.stdout.readline()
    second = subprocess.run([sys.executable, "-c", HOLDER, kind, path, "0"], capture_output=True, text=True)
    first.wait()
    if second.returncode == 0:
        return "yes"
    last = (second.stderr.strip().splitlines() or ["?"])[-1]
    return "no: " + last[:90]


# --- genai-cost's store over the same rows -----------------------------------------------------
def ours(rows: list[tuple], folder: Path) -> dict:
    from genai_cost.reports import query
    from genai_cost.store.embedded import EmbeddedStore

    store = EmbeddedStore(folder / "ours.duckdb")
    calls = [(row, None) for row in rows]
    rate = timed_ingest(calls, store.write)
    since = datetime(2026, 2, 1, tzinfo=UTC)
    until = datetime(2026, 4, 1, tzinfo=UTC)
    report = median_time(lambda: query.spend(store, ["team"], since, until))
    report_day = median_time(lambda: query.spend(store, ["model", "day"], since, until))
    retried = timed_ingest(calls[:BATCH], store.write)  # a whole batch again: all skipped
    return {
        "ingest": rate,
        "ingest_retried": retried,
        "report_team": report,
        "report_model_day": report_day,
        "bytes": size_of(folder / "ours.duckdb") / len(rows),
    }


def with_byte_ids(rows: list[tuple]) -> list[tuple]:
    """By hand, trace ids go in as the 16 bytes they are (rows carry them as hex)."""
    return [(*r[:2], bytes.fromhex(r[2]), *r[3:]) for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    print(f"building {args.rows:,} rows ...", flush=True)
    rows = make_rows(args.rows)
    hand_rows = with_byte_ids(rows)
    folder = Path(tempfile.mkdtemp(prefix="store-bench-"))
    try:
        results = {}
        for name, run in (("duckdb", duckdb_engine), ("sqlite", sqlite_engine), ("chdb", chdb_engine), ("ours", ours)):
            print(f"{name} ...", flush=True)
            results[name] = run(rows if name == "ours" else hand_rows, folder)
            if name != "ours":
                results[name]["two_writers"] = second_writer(name, folder)
            print(f"  {results[name]}", flush=True)
        print()
        print(
            "| engine | ingest calls/s | report by team s | by model+day s | bytes/call | install MB "
            "| 2nd writer process |"
        )
        print("|---|---|---|---|---|---|---|")
        for name, label in (
            ("duckdb", "DuckDB (by hand)"),
            ("sqlite", "SQLite (by hand)"),
            ("chdb", "chdb (by hand)"),
            ("ours", "genai-cost store (DuckDB)"),
        ):
            r = results[name]
            install = f"{r['install'] / 1e6:.0f}" if "install" in r else "(DuckDB's)"
            print(
                f"| {label} | {r['ingest']:,.0f} | {r['report_team']:.3f} | {r['report_model_day']:.3f} | "
                f"{r['bytes']:.1f} | {install} | {r.get('two_writers', 'yes (flock sessions)')} |"
            )
        print(
            f"\nDuckDB executemany: {results['duckdb']['ingest_executemany']:,.0f} calls/s; "
            f"ours, a batch re-sent (all skipped): {results['ours']['ingest_retried']:,.0f} calls/s"
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("TZ", "UTC")
    main()
