"""Many threads writing at once: every transaction lands, none sees "database is locked"."""

from __future__ import annotations

import threading

from llmloop.records import Role
from llmloop.store import ApiKeyRepository, AuditRepository, Database, ProjectRepository
from llmloop.tenancy import Tenancy

THREADS = 16
WRITES_PER_THREAD = 50


def test_concurrent_write_transactions_all_land(db: Database) -> None:
    tenancy = Tenancy(db)
    project = tenancy.create_project("busy", actor="setup")
    keys, audit = ApiKeyRepository(db), AuditRepository(db)
    start = threading.Barrier(THREADS)
    errors: list[BaseException] = []
    secrets: dict[str, str] = {}
    lock = threading.Lock()

    def writer(n: int) -> None:
        try:
            start.wait()
            for i in range(WRITES_PER_THREAD):
                name = f"t{n:02d}-{i:03d}"
                if i % 2:
                    # a key and its audit event in one transaction
                    _, secret = tenancy.create_key(project.id, name, Role.viewer, actor=name)
                    with lock:
                        secrets[name] = secret
                else:
                    audit.record(
                        project.id, actor=name, action="thing.write", object_type="thing",
                        object_id=name,
                    )  # fmt: skip
                    # and a read in between, as a server would do
                    assert audit.count(project.id) >= 1
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert [repr(e) for e in errors] == []
    total = THREADS * WRITES_PER_THREAD
    key_writes = THREADS * (WRITES_PER_THREAD // 2)
    stored_keys = keys.list(project.id)
    assert len(stored_keys) == key_writes
    assert {k.name for k in stored_keys} == set(secrets)
    events = audit.list(project.id, limit=10 * total)
    # project.create + one event per write (key.create or thing.write)
    assert len(events) == total + 1 == audit.count(project.id)
    assert {e.actor for e in events if e.action == "key.create"} == set(secrets)
    assert len({e.id for e in events}) == len(events)
    sample = sorted(secrets)[:: len(secrets) // 10]
    for name in sample:
        found = keys.authenticate(secrets[name])
        assert found is not None
        assert found.name == name
    assert ProjectRepository(db).count() == 1
