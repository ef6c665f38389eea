from __future__ import annotations

import os

from promptevolve.core.ids import new_id


def test_ids_are_unique_and_time_ordered_hex():
    ids = [new_id() for _ in range(5_000)]  # crosses several 4 KiB refills of the random pool
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and int(i, 16) >= 0 for i in ids)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)


def test_a_forked_child_never_reuses_its_parents_random_bytes():
    new_id()  # the parent holds unread random bytes when it forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, "".join(new_id()[12:] for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    child = os.read(read, 4096).decode()
    os.close(read)
    parent = "".join(new_id()[12:] for _ in range(50))
    assert len(child) == len(parent) == 1000
    assert {child[i : i + 20] for i in range(0, 1000, 20)}.isdisjoint(
        parent[i : i + 20] for i in range(0, 1000, 20)
    )
