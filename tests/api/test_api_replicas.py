"""Several API hosts serving one shop: real ``recsys serve`` replicas over one PostgreSQL store.

Each replica is its own process with its own data home (caches), and all of them share the store
(``RECSYS_STORE``, a ``postgresql://`` URL) and the bundle folder (``RECSYS_ARTIFACTS``), as in
``docs/deployment.md``. What one replica writes, every other one serves at its next request:

* a purchase posted to replica A is excluded from replica B's very next answer;
* an erasure on A stops B personalizing for the user at once;
* a bundle published once into the shared folder is picked up by both (their swap watchers).

And when the PostgreSQL server crashes (a server of the test's own, not the run's shared one), a
replica keeps answering reads from its bundle, refuses writes with 503 ``store_unavailable`` and
``Retry-After`` (never hangs), and stores every acknowledged event exactly once after the server
is back; a user erased just before the crash stays unpersonalized through it (the erasing
worker keeps its new tombstones), and a replica started while the store is down serves its
bundle as trained at once, and the store's catalog changes and tombstones once it is back.
"""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from api_testing import ADMIN_KEY, TRAIN_CONFIG, WRITE_KEY
from pg_server import PostgresServer

from api.testing import LOOPBACK, ServerProcess, count_stored, free_port
from recsys.config import TrainConfig
from recsys.home import Home
from recsys.text import TextEncoder
from recsys.training import train

pytestmark = pytest.mark.slow  # real server processes (postgres: added by the fixtures)

SWAP_POLL_S = 0.5  # the replicas' watcher period (the default is 2 s)
SWAP_WAIT_S = 30.0  # how long both replicas may take to serve a newly published bundle
PROMPT_S = 3.0  # a read while the store is down must answer within this
RECOVER_S = 30.0  # how long writes may fail after the store is back
DOWN_S = 5.0  # how long the store stays down in the crash test
READS = ("trained user", "erased user", "unknown user", "similar items")
NEW_ITEM = {"item_id": "r9", "title": "Trail socks", "category": "Running", "price": 5.0}
WRITE = {"Authorization": f"Bearer {WRITE_KEY}"}
ADMIN = {"Authorization": f"Bearer {ADMIN_KEY}"}


# ----------------------------------------------------------------------------------- helpers
def prepare_store(url: str, shop: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    """Create the tables in the empty database at ``url`` and load the tiny shop into them."""
    from recsys.store.postgres import PostgresStore, migrate

    migrate(url)
    events, catalog = shop
    with PostgresStore(url) as store:
        store.upsert_items(catalog)
        store.add_events(events)


def train_shared(url: str, trainer_root: Path, shared: Path, encoder: TextEncoder) -> str:
    """Train on the store at ``url`` and publish the bundle into the shared folder ``shared``.

    Returns:
        The published version.
    """
    from recsys.store.postgres import PostgresStore

    home = Home(trainer_root, store=url, shared_artifacts=shared).ensure()
    with PostgresStore(url) as store:
        report = train(home, TrainConfig.from_dict(TRAIN_CONFIG), store=store, encoder=encoder)
    return report.version


def start_replica(
    root: Path, url: str, shared: Path, log: Path, swap_poll_s: float = SWAP_POLL_S
) -> ServerProcess:
    """``recsys serve`` (1 worker) on 127.0.0.1 over its own home, the shared store and bundles.

    Not yet ready: call ``wait_ready`` (and ``stop`` it in every case; it is a context manager).
    """
    Home(root).ensure()  # the replica's own caches
    env = {
        "RECSYS_API_WRITE_KEYS": WRITE_KEY,
        "RECSYS_API_ADMIN_KEYS": ADMIN_KEY,
        "RECSYS_API_SWAP_POLL_S": str(swap_poll_s),
        "RECSYS_API_CONFIG": None,  # a developer's config file stays out of the test
        "RECSYS_HOME": None,
        "RECSYS_STORE": url,
        "RECSYS_ARTIFACTS": str(shared),
    }
    return ServerProcess(root, free_port(), log, workers=1, env=env)


def recommended(server: ServerProcess, user_id: str, n: int = 5) -> dict[str, Any]:
    """``GET /v1/users/<user_id>/recommendations?n=<n>``'s body (asserting a 200)."""
    status, body = server.request("GET", f"/v1/users/{user_id}/recommendations?n={n}")
    assert status == 200, (status, body)
    assert isinstance(body, dict)
    return body


def item_ids(body: Mapping[str, Any]) -> list[str]:
    """The recommended item ids, best first."""
    return [item["item_id"] for item in body["items"]]


def ranked(body: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The recommended ``(item id, score)`` pairs, best first."""
    return [(item["item_id"], item["score"]) for item in body["items"]]


def served_version(server: ServerProcess) -> str | None:
    """The version ``GET /v1/model`` reports (None when it does not answer 200)."""
    try:
        status, body = server.request("GET", "/v1/model")
    except (OSError, http.client.HTTPException):
        return None
    return str(body["model_version"]) if status == 200 else None


@dataclass(frozen=True)
class Answer:
    """One HTTP answer with its headers and how long it took."""

    status: int
    body: Any
    headers: dict[str, str]
    seconds: float


def call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 15.0,
) -> Answer:
    """One request to 127.0.0.1 that also returns the answer's headers and its duration.

    ``api.testing.request`` returns no headers, and ``Retry-After`` is one of the things checked.
    """
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
    started = time.monotonic()
    try:
        data = None if body is None else json.dumps(body).encode()
        conn.request(
            method, path, body=data, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = conn.getresponse()
        raw = response.read()
        ctype = response.getheader("Content-Type", "") or ""
        parsed = json.loads(raw) if "json" in ctype else raw.decode()
        found = {k.lower(): v for k, v in response.getheaders()}
        return Answer(response.status, parsed, found, time.monotonic() - started)
    finally:
        conn.close()


def events_batch(prefix: str, start: int, count: int) -> dict[str, Any]:
    """``count`` click events with ids ``<prefix><k>`` (also their ``session_id``, for counting)."""
    items = ("r1", "r2", "r3", "r4", "k1", "k2", "k3", "k4")
    events = []
    for k in range(start, start + count):
        event_id = f"{prefix}{k}"
        events.append(
            {
                "user_id": f"{prefix}user{k % 5}",
                "item_id": items[k % len(items)],
                "type": "click",
                "session_id": event_id,
                "event_id": event_id,
            }
        )
    return {"events": events}


# ---------------------------------------------------------------------------------- fixtures
@dataclass
class Cluster:
    """Two replicas over one store and one bundle folder."""

    url: str
    shared: Path
    trainer_root: Path
    a: ServerProcess
    b: ServerProcess


@pytest.fixture(scope="module")
def cluster(
    postgres_server: PostgresServer,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cluster]:
    """A fresh database with the shop, a bundle in a shared folder, replicas A and B serving it.

    Built once for the module: each test works on its own users and leaves the others' as they
    were (the bundle test publishes a new version, which serves the same users alike).
    """
    tmp = tmp_path_factory.mktemp("replicas")
    url = postgres_server.new_schema_url()
    prepare_store(url, shop)
    shared = tmp / "shared-artifacts"
    train_shared(url, tmp / "trainer", shared, encoder)
    a = start_replica(tmp / "home-a", url, shared, tmp / "replica-a.log")
    b: ServerProcess | None = None
    try:
        b = start_replica(tmp / "home-b", url, shared, tmp / "replica-b.log")
        a.wait_ready()
        b.wait_ready()
        yield Cluster(url, shared, tmp / "trainer", a, b)
    finally:
        if b is not None:
            b.stop()
        a.stop()


# ------------------------------------------------------------------------------------- tests
def test_purchase_on_a_is_excluded_from_bs_next_answer(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    user = "run2"
    before = recommended(b, user)
    assert before["items"], before
    bought = before["items"][0]["item_id"]  # what B recommends first now
    event = {"user_id": user, "item_id": bought, "type": "purchase", "event_id": "replica-buy-1"}
    status, body = a.request("POST", "/v1/events", event, WRITE)
    assert status == 202 and body == {"accepted": 1, "stored": 1}, (status, body)
    after = recommended(b, user)  # B's very next answer, no waiting
    assert bought not in item_ids(after), (bought, after)
    assert recommended(a, user)["items"] == after["items"]  # both replicas agree


def test_erasure_on_a_stops_personalization_on_b_at_once(cluster: Cluster) -> None:
    a, b = cluster.a, cluster.b
    user, stranger = "cook2", "never-seen-shopper"
    personal = recommended(b, user)
    unknown = recommended(b, stranger)
    assert ranked(personal) != ranked(unknown), "the user's answer must be personal to start with"

    status, body = a.request("DELETE", f"/v1/users/{user}", headers=ADMIN)
    assert status == 200 and body["deleted_events"] == 4, (status, body)

    erased = recommended(b, user)  # B's very next answer
    assert ranked(erased) == ranked(recommended(b, stranger))
    assert ranked(erased) != ranked(personal)
    assert ranked(recommended(a, user)) == ranked(erased)


def test_bundle_published_once_is_served_by_both(cluster: Cluster, encoder: TextEncoder) -> None:
    a, b = cluster.a, cluster.b
    old = served_version(a)
    assert old is not None and served_version(b) == old
    new = train_shared(cluster.url, cluster.trainer_root, cluster.shared, encoder)
    assert new != old
    deadline = time.monotonic() + SWAP_WAIT_S
    seen: dict[str, str | None] = {}
    while time.monotonic() < deadline:
        seen = {"a": served_version(a), "b": served_version(b)}
        if seen == {"a": new, "b": new}:
            break
        time.sleep(0.1)
    assert seen == {"a": new, "b": new}, (new, seen)
    for server in (a, b):  # and they answer from it
        assert recommended(server, "run1")["model_version"] == new


# ------------------------------------------------------------------- the store crashes
@dataclass
class OwnStore:
    """A PostgreSQL server of one test's own (it may crash it), with the shop and a bundle."""

    server: PostgresServer
    url: str
    artifacts: Path


@pytest.fixture
def own_store(
    postgres_server: PostgresServer,
    shop: tuple[pl.DataFrame, pl.DataFrame],
    encoder: TextEncoder,
    tmp_path: Path,
) -> Iterator[OwnStore]:
    """A server started for this test (the run's shared one is never stopped), closed after it.

    Depends on ``postgres_server`` for its skip (or fail) rules when PostgreSQL is missing.
    """
    server = PostgresServer()
    try:
        server.start()
        url = server.new_schema_url()
        prepare_store(url, shop)
        artifacts = tmp_path / "artifacts"
        train_shared(url, tmp_path / "trainer", artifacts, encoder)
        yield OwnStore(server, url, artifacts)
    finally:
        server.close()


def down_answers(port: int, refused: Mapping[str, Any]) -> dict[str, Answer]:
    """One round of every kind of request, while the store is down."""
    return {
        "trained user": call(port, "GET", "/v1/users/run1/recommendations?n=5"),
        "erased user": call(port, "GET", "/v1/users/cook3/recommendations?n=5"),
        "unknown user": call(port, "GET", "/v1/users/nobody/recommendations?n=5"),
        "similar items": call(port, "GET", "/v1/items/r2/similar?n=3"),
        "event batch": call(port, "POST", "/v1/events", refused, WRITE),
        "catalog upsert": call(port, "PUT", "/v1/items", {"items": [NEW_ITEM]}, WRITE),
        "erasure": call(port, "DELETE", "/v1/users/run4", headers=ADMIN),
    }


def test_store_crash_reads_answer_writes_refused_then_stored_exactly_once(
    own_store: OwnStore, tmp_path: Path
) -> None:
    prefix = "down-"
    acked = 0
    with start_replica(
        tmp_path / "home", own_store.url, own_store.artifacts, tmp_path / "replica.log"
    ) as replica:
        replica.wait_ready()
        port = replica.port
        trained = recommended(replica, "run1")
        assert item_ids(trained)[0] == "r1", trained
        fallback = item_ids(recommended(replica, "nobody"))
        status, body = replica.request("DELETE", "/v1/users/cook3", headers=ADMIN)
        assert status == 200, (status, body)
        assert item_ids(recommended(replica, "cook3")) == fallback
        for start in range(0, 30, 10):  # acknowledged before the crash
            answer = call(port, "POST", "/v1/events", events_batch(prefix, start, 10), WRITE)
            assert answer.status == 202, answer
            acked += 10
        # the watcher's next refresh reads the erasure's tombstone, which keeps cook3 unknown
        # while the store is down (erased just before a crash: the test below)
        time.sleep(4 * SWAP_POLL_S)

        own_store.server.stop("immediate")  # a crash: no shutdown checkpoint
        refused = events_batch(prefix, acked, 10)
        crashed_at = time.monotonic()
        slowest: dict[str, float] = {}
        # rounds over DOWN_S: the first failure, the fast ones within the store's 1 s back-off,
        # and new attempts to reach it after each back-off (and the watcher's polls meanwhile)
        while time.monotonic() - crashed_at < DOWN_S:
            for name, answer in down_answers(port, refused).items():
                assert answer.seconds < PROMPT_S, (name, answer)
                slowest[name] = max(slowest.get(name, 0.0), round(answer.seconds, 3))
                assert answer.status == (200 if name in READS else 503), (name, answer)
                if name == "trained user":  # from the bundle: the precomputed list
                    assert item_ids(answer.body) == item_ids(trained), answer
                elif name in ("erased user", "unknown user"):  # never personalized
                    assert item_ids(answer.body) == fallback, (name, answer)
                elif name == "similar items":
                    assert answer.body["items"], answer
                else:  # writes: refused, to be retried
                    assert answer.body["error"]["code"] == "store_unavailable", (name, answer)
                    assert int(answer.headers["retry-after"]) >= 1, (name, answer)
            time.sleep(0.3)
        print(f"store down {time.monotonic() - crashed_at:.1f} s; slowest answers: {slowest}")

        own_store.server.start_again()
        back_at = time.monotonic()
        while True:  # the refused batch, retried as a client would
            answer = call(port, "POST", "/v1/events", refused, WRITE)
            if answer.status == 202:
                break
            assert answer.status == 503, answer
            assert time.monotonic() - back_at < RECOVER_S, f"writes still refused: {answer}"
            time.sleep(0.2)
        acked += 10
        print(f"writes accepted {time.monotonic() - back_at:.2f} s after the store came back")
        for start in range(acked, acked + 20, 10):  # and after
            answer = call(port, "POST", "/v1/events", events_batch(prefix, start, 10), WRITE)
            assert answer.status == 202, answer
            acked += 10
        assert recommended(replica, "run1")["items"]  # reads the store again

    stored = count_stored(own_store.url, prefix)
    assert set(stored) == {f"{prefix}{k}" for k in range(acked)}  # all acknowledged, no other
    assert set(stored.values()) == {1}  # each exactly once


def test_user_erased_just_before_a_store_crash_stays_unpersonalized(
    own_store: OwnStore, tmp_path: Path
) -> None:
    # a slow watcher: no refresh between the erasure and the crash (with the default 2 s poll,
    # any crash within 2 s of an erasure, on this host or another)
    with start_replica(
        tmp_path / "home",
        own_store.url,
        own_store.artifacts,
        tmp_path / "replica.log",
        swap_poll_s=600,
    ) as replica:
        replica.wait_ready()
        fallback = item_ids(recommended(replica, "nobody"))
        assert item_ids(recommended(replica, "cook3")) != fallback  # personal to start with
        status, body = replica.request("DELETE", "/v1/users/cook3", headers=ADMIN)
        assert status == 200, (status, body)
        assert item_ids(recommended(replica, "cook3")) == fallback  # the store says: erased
        own_store.server.stop("immediate")
        answer = call(replica.port, "GET", "/v1/users/cook3/recommendations?n=5")
        assert answer.status == 200, answer
        assert item_ids(answer.body) == fallback, "an erased user is personalized again"


def test_replica_started_while_the_store_is_down_serves_its_bundle(
    own_store: OwnStore, tmp_path: Path
) -> None:
    own_store.server.stop("immediate")
    with start_replica(
        tmp_path / "home", own_store.url, own_store.artifacts, tmp_path / "replica.log"
    ) as replica:
        replica.wait_alive()
        answers = down_answers(replica.port, events_batch("late-", 0, 1))
        assert all(a.seconds < PROMPT_S for a in answers.values()), answers
        assert {n: a.status for n, a in answers.items()} == {
            n: 200 if n in READS else 503 for n in answers
        }
        fallback = item_ids(answers["unknown user"].body)
        assert item_ids(answers["trained user"].body) == fallback  # no secret: nobody trusted
        own_store.server.start_again()
        deadline = time.monotonic() + 30  # the watcher rebuilds the snapshot from the store
        while item_ids(recommended(replica, "run1")) == fallback:
            assert time.monotonic() < deadline, "the replica never used the store again"
            time.sleep(0.3)
        assert item_ids(recommended(replica, "run1"))[0] == "r1"
