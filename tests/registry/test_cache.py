"""The plan cache: batched renewal on one thread per process, and plan-change notices on PostgreSQL."""

from __future__ import annotations

import select
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy import select as sql_select

from promptevolve.client import PromptOptimizer
from promptevolve.core.errors import NotFoundError
from promptevolve.core.protocols import ManualClock
from promptevolve.core.settings import Settings
from promptevolve.core.types import ModelSettings, VariantKind
from promptevolve.providers.scripted import ScriptedProvider
from promptevolve.registry import Registry, VariantCreate
from promptevolve.registry.cache import StaleWhileRevalidateCache
from promptevolve.registry.refresher import THREAD_NAME
from promptevolve.registry.serving import load_plan, load_plans
from promptevolve.store.notices import PLAN_CHANNEL, listener_factory
from promptevolve.store.tables import Experiment, ExperimentArm, Prompt, PromptVariant, VariantState

SCRIPTED = ModelSettings(provider="scripted")


def _wait_until(condition, timeout_s: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def _prompts(registry: Registry, n: int) -> list[str]:
    names = [f"p{i:03d}" for i in range(n)]
    for name in names:
        registry.register(VariantCreate(prompt=name, template=f"{name} {{{{ x }}}}", settings=SCRIPTED))
        registry.activate(name, "1.0.0")
    return names


def test_a_batch_of_plans_equals_each_plan_loaded_alone(store):
    registry = Registry(store, actor="test")
    _prompts(registry, 2)
    registry.register(VariantCreate(prompt="p001", template="other {{ x }}", settings=SCRIPTED))
    registry.set_shares("p001", {"1.0.0": 30, "1.1.0": 70})
    registry.register(VariantCreate(prompt="idle", template="nobody serves me", settings=SCRIPTED))
    registry.register(
        VariantCreate(prompt="based", template="the baseline", kind=VariantKind.BASELINE, settings=SCRIPTED)
    )
    registry.register(VariantCreate(prompt="based", template="a challenger", settings=SCRIPTED))
    registry.activate("based", "1.1.0")
    with store.write() as s:
        pid = s.scalar(sql_select(Prompt.id).where(Prompt.name == "based"))
        variants = s.scalars(sql_select(PromptVariant.id).where(PromptVariant.prompt_id == pid)).all()
        exp = Experiment(prompt_id=pid, name="e", status="running", seed="seed-1")
        s.add(exp)
        s.flush()
        for arm, vid in zip(("control", "treatment"), sorted(variants), strict=True):
            s.add(ExperimentArm(experiment_id=exp.id, arm=arm, variant_id=vid, share_bp=5_000))
    names = ["p000", "p001", "idle", "based", "missing"]
    batch = load_plans(store, names)
    for name in names[:-1]:
        assert batch[name] == load_plan(store, name), name
    assert batch["based"].experiment is not None and len(batch["based"].experiment.arms) == 2
    assert batch["based"].baseline.version == "1.0.0" and batch["idle"].active == ()
    assert isinstance(batch["missing"], NotFoundError)


def test_many_stale_prompts_are_renewed_in_batches_by_one_thread(store):
    names = _prompts(Registry(store, actor="test"), 40)
    clock = ManualClock()
    gate, first_batch_started = threading.Event(), threading.Event()
    batches: list[list[str]] = []

    def batch_loader(keys):
        batches.append(list(keys))
        first_batch_started.set()
        gate.wait(30)  # hold the first batch: everything touched meanwhile must wait for one more batch
        return load_plans(store, keys)

    cache = StaleWhileRevalidateCache(
        lambda name: load_plan(store, name),
        batch_loader=batch_loader,
        ttl_s=30,
        clock=clock,
    )
    for name in names:
        cache.get(name)
    clock.advance(31)
    assert cache.get(names[0]).stale
    assert first_batch_started.wait(20)
    before = threading.active_count()
    for name in names[1:]:
        assert cache.get(name).stale, "an expired plan is served at once while it is renewed"
    refreshers = [t for t in threading.enumerate() if t.name.startswith("promptevolve-refresh")]
    assert [t.name for t in refreshers] == [THREAD_NAME] and threading.active_count() == before
    gate.set()
    assert _wait_until(lambda: all(not cache.get(n).stale for n in names))
    assert sorted(k for b in batches for k in b) == sorted(names)
    assert len(batches) == 2, "the 39 prompts touched during the first batch are renewed in one more"


def test_every_cache_of_a_process_shares_one_refresher_thread(store):
    _prompts(Registry(store, actor="test"), 3)
    caches = [
        StaleWhileRevalidateCache(lambda name: load_plan(store, name), ttl_s=0.0, clock=ManualClock())
        for _ in range(5)
    ]
    for cache in caches:
        for name in ("p000", "p001", "p002"):
            cache.get(name)
            cache.get(name)  # expired at once (ttl 0): queued for the refresher
    assert _wait_until(lambda: all(c.stats.refresh_batches >= 1 for c in caches))
    assert [t.name for t in threading.enumerate() if t.name.startswith("promptevolve-refresh")] == [
        THREAD_NAME
    ]


def _requires_postgres(backend: str) -> None:
    if backend != "postgres":
        pytest.skip("plan-change notices are PostgreSQL's LISTEN/NOTIFY; SQLite relies on the TTL")


def _notices(listener, timeout_s: float) -> list[str]:
    select.select([listener.fileno()], [], [], timeout_s)
    return listener.poll()


def test_a_committed_change_is_announced_and_a_rolled_back_one_is_not(backend, store):
    _requires_postgres(backend)
    registry = Registry(store, actor="test")
    name = f"notice_{uuid.uuid4().hex[:8]}"  # notices are database-wide: other tests' prompts are heard too
    registry.register(VariantCreate(prompt=name, template="x {{ y }}", settings=SCRIPTED))
    registry.activate(name, "1.0.0")
    listener = listener_factory(store.engine)()
    try:
        with pytest.raises(RuntimeError), store.write() as s:
            state = s.scalars(sql_select(VariantState)).one()
            state.share_bp = 5_000
            s.flush()
            raise RuntimeError("abandon the change")
        assert name not in _notices(listener, 0.5)
        registry.deactivate(name, "1.0.0")
        heard: list[str] = []
        deadline = time.monotonic() + 10
        while name not in heard and time.monotonic() < deadline:
            heard += _notices(listener, 1)
        assert name in heard
    finally:
        listener.close()


def test_sqlite_has_no_listener_and_keeps_the_ttl(backend, store):
    if backend != "sqlite":
        pytest.skip("the SQLite side of the notices")
    assert listener_factory(store.engine) is None


_ACTIVATE_ELSEWHERE = textwrap.dedent(
    """
    import sys
    from promptevolve.core.types import ModelSettings
    from promptevolve.registry import Registry, VariantCreate
    from promptevolve.store.engine import Store

    registry = Registry(Store.from_url(sys.argv[1]), actor="other process")
    settings = ModelSettings(provider="scripted")
    registry.register(VariantCreate(prompt="p000", template="new {{ x }}", settings=settings))
    registry.activate("p000", "1.1.0", exclusive=True)
    """
)


def _optimizer(store) -> PromptOptimizer:
    return PromptOptimizer(
        store,
        settings=Settings(database_url=store.url),
        providers={"scripted": ScriptedProvider(["ok"], cycle=True)},
        cache_ttl_s=3600.0,  # only a notice can bring another process's change within the test
    )


def test_an_activation_in_another_process_reaches_the_cache_at_once(backend, store):
    _requires_postgres(backend)
    _prompts(Registry(store, actor="test"), 1)
    po = _optimizer(store)
    try:
        assert po.get_prompt("p000").version == "1.0.0"
        assert _wait_until(lambda: po.cache.stats.listening)
        subprocess.run([sys.executable, "-c", _ACTIVATE_ELSEWHERE, store.url], check=True, timeout=120)
        assert _wait_until(lambda: po.get_prompt("p000").version == "1.1.0")
        assert po.cache.stats.notices >= 1 and po.cache.stats.loads >= 2
    finally:
        po.close()


def test_a_lost_listener_reconnects_and_renews_what_it_may_have_missed(backend, store):
    _requires_postgres(backend)
    registry = Registry(store, actor="test")
    _prompts(registry, 1)
    po = _optimizer(store)
    po.cache._retry = 0.2  # reconnect quickly (the default waits retry_s = 5 s)
    admin = create_engine(store.url, isolation_level="AUTOCOMMIT")
    try:
        po.get_prompt("p000")
        assert _wait_until(lambda: po.cache.stats.listening)
        with admin.connect() as conn:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = :q"),
                {"q": f"LISTEN {PLAN_CHANNEL}"},
            )
            # Changed while nobody listens (as in a network cut): no notice reaches the cache.
            registry.register(VariantCreate(prompt="p000", template="while away {{ x }}", settings=SCRIPTED))
            registry.activate("p000", "1.1.0", exclusive=True, actor="elsewhere")
        assert _wait_until(lambda: po.get_prompt("p000").version == "1.1.0")
        assert po.cache.stats.listening
    finally:
        admin.dispose()
        po.close()


def test_preload_loads_many_plans_in_batches_and_skips_unknown_ones(store):
    names = _prompts(Registry(store, actor="test"), 5)
    calls: list[int] = []

    def batch_loader(keys):
        calls.append(len(keys))
        return load_plans(store, keys)

    cache = StaleWhileRevalidateCache(lambda name: load_plan(store, name), batch_loader=batch_loader)
    assert cache.preload([*names, "missing"]) == 5
    assert calls == [6] and all(cache.peek(n) is not None for n in names) and cache.peek("missing") is None
    assert cache.get(names[0]).value == load_plan(store, names[0]) and cache.stats.hits == 1


class _SilentListener:
    """A listener that connects only when allowed and never hears a notice: what a real one is for a
    change committed before its LISTEN took effect."""

    def __init__(self) -> None:
        self._r, self._w = socket.socketpair()

    def fileno(self) -> int:
        return self._r.fileno()

    def poll(self) -> list[str]:
        return []

    def close(self) -> None:
        self._r.close()
        self._w.close()


def test_a_key_loaded_before_the_first_listen_is_renewed_when_the_listener_connects():
    """The refresher connects a moment after the cache is made; a change committed in between is never
    announced to this process, so the first connect renews what was loaded before it (else the TTL,
    an hour here, would hide it)."""
    allowed = threading.Event()
    version = {"p": "1.0.0"}

    def connect() -> _SilentListener:
        if not allowed.is_set():
            raise ConnectionError("not yet")
        return _SilentListener()

    cache = StaleWhileRevalidateCache(lambda key: version[key], listener=connect, ttl_s=3600.0, retry_s=0.05)
    try:
        assert cache.get("p").value == "1.0.0"
        version["p"] = "1.1.0"  # changed elsewhere while nobody listened
        allowed.set()
        assert _wait_until(lambda: cache.get("p").value == "1.1.0")
        assert cache.stats.listening
    finally:
        cache.close()
