"""SQLite writers of two processes queue on the lock file (serve --no-workers beside a worker)."""

from __future__ import annotations

import subprocess
import sys
import time

from sportello.core.db import Database

HOLDER = """
import sys, time
from sportello.core.db import Database
db = Database(sys.argv[1], process_lock=True)
assert db.write_lock is not None and db.write_lock.acquire(timeout=5)
print("holding", flush=True)  # the lock only: SQLite itself is free, so only the lock can wait
time.sleep(float(sys.argv[2]))
db.write_lock.release()
db.dispose()
"""


def test_a_writer_waits_for_another_process_then_goes_on(tmp_path):
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    db = Database(url, process_lock=True)
    with db.transaction() as s:  # create the file
        s.connection().exec_driver_sql("CREATE TABLE t (x INTEGER)")
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url, "0.4"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "holding"
        started = time.monotonic()
        with db.transaction() as s:
            s.connection().exec_driver_sql("INSERT INTO t VALUES (1)")
        waited = time.monotonic() - started
    finally:
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
        db.dispose()
    assert holder.returncode == 0
    assert 0.2 < waited < 3.0  # it queued behind the other process, then went on


def test_without_other_processes_no_lock_file_is_made(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'alone.db'}")
    with db.transaction() as s:
        s.connection().exec_driver_sql("CREATE TABLE t (x INTEGER)")
    db.dispose()
    assert not (tmp_path / "alone.db.writelock").exists()
