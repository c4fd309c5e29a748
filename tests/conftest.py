"""Fixtures: a private redis-server per session and, for end-to-end tests, a
private Postfix with both milters and three smtp-sinks.

Everything is started here, lives under one scratch directory (world-
traversable, because Postfix's smtpd runs as ``postfix`` and must reach the
milter sockets) and is stopped by process id at the end.
"""

from __future__ import annotations

import gc
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ledger.config import CONFIG_ENV, Config, load_config
from ledger.redis_client import connect
from ledger.services import hasher_for, inspector_for, recorder_for
from ledger.store import Ledger
from testbed import PrivateSite, RedisCluster, RedisServer

SECRET = "test-secret-0123456789abcdef"

# No test reads a system-wide /etc/sender-ledger/sender-ledger.toml (an installed package's,
# or the one tests/test_deb.py installs for a moment): set but empty means "no file, the
# built-in defaults" (ledger.config.config_path), here and in every process a test starts.
# Tests that want a file pass --config or set the variable themselves.
os.environ[CONFIG_ENV] = ""


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="sender-ledger-tests-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server(scratch: Path) -> Iterator[RedisServer]:
    server = RedisServer(scratch / "redis").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def cluster(scratch: Path) -> Iterator[RedisCluster]:
    """A private three-node Redis Cluster, shared by the topology tests."""
    servers = RedisCluster(scratch / "cluster").start()
    yield servers
    servers.stop()


@pytest.fixture()
def release_sentinel_clients() -> Iterator[None]:
    """Collect a test's Sentinel clients afterwards: their watcher threads (which hold
    the pool weakly) then end instead of polling sentinels that are gone."""
    yield
    gc.collect()


@pytest.fixture()
def redis_client(redis_server: RedisServer) -> Iterator[redis.Redis]:
    client = connect(redis_server.url)
    client.flushall()
    yield client
    client.close()


def write_config(path: Path, redis_url: str, extra: str = "") -> Path:
    path.write_text(
        f'[secret]\nvalue = "{SECRET}"\n\n[redis]\nurl = "{redis_url}"\n\n'
        f'[outbound]\nmessage_id_domain = "example.test"\nspool_dir = "{path.parent / "spool"}"\n\n{extra}'
    )
    return path


@pytest.fixture()
def config_file(tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> Path:
    return write_config(tmp_path / "sender-ledger.toml", redis_server.url)


@pytest.fixture()
def config(config_file: Path) -> Config:
    return load_config(str(config_file))


@pytest.fixture()
def ledger(config: Config, redis_client: redis.Redis) -> Ledger:
    return Ledger(redis_client, config.redis.namespace, config.ledger.lifetime_days,
                  config.ledger.bucket_bits)


@pytest.fixture()
def recorder(config: Config, ledger: Ledger):  # type: ignore[no-untyped-def]
    return recorder_for(config, ledger)


@pytest.fixture()
def inspector(config: Config, ledger: Ledger):  # type: ignore[no-untyped-def]
    return inspector_for(config, ledger)


@pytest.fixture()
def hasher(config: Config):  # type: ignore[no-untyped-def]
    return hasher_for(config)


@pytest.fixture(scope="session")
def testbed(scratch: Path) -> Iterator[PrivateSite]:
    if shutil.which("postfix") is None:
        pytest.fail("postfix is not installed: run scripts/test, which installs it")
    base = scratch / "testbed"
    base.mkdir()
    os.chmod(base, 0o755)
    # Two worker processes per milter: the end-to-end tests run through the prefork parent.
    site = PrivateSite(base, SECRET, workers=2).start()
    yield site
    site.stop()
