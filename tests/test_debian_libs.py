"""The code on Debian 12's own libraries, as the .deb runs it: python3-redis 4.3.4, python3-xxhash,
python3-milter, python3-hiredis, under /usr/bin/python3.

The virtualenv the rest of the suite runs in has the newest redis-py from PyPI, which hides
what an older client lacks (redis-py 4.3.4 refuses ``socket_connect_timeout`` on a unix
socket, for one). Here the command line runs under the system interpreter, with only this
checkout added to its path, against the suite's private Redis. Skipped where those Debian
packages are not installed (scripts/setup installs them on Debian).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from testbed.procs import free_port
from tests import messages

REPO = Path(__file__).resolve().parent.parent
SYSTEM_PYTHON = "/usr/bin/python3"
DEBIAN_MODULES = ("redis", "xxhash", "Milter", "hiredis")


def _debian_versions() -> dict[str, str] | None:
    """Versions of the Debian-packaged modules the system interpreter imports, or None."""
    if not os.path.exists(SYSTEM_PYTHON):
        return None
    probe = ("import json, redis, xxhash, Milter, hiredis; "
             "print(json.dumps({m.__name__: getattr(m, '__version__', '?') for m in "
             "(redis, xxhash, Milter, hiredis)} | {'files': [m.__file__ for m in (redis, xxhash)]}))")
    result = subprocess.run([SYSTEM_PYTHON, "-s", "-c", probe], capture_output=True, text=True,
                            timeout=60, env=_env())
    if result.returncode != 0:
        return None
    found: dict[str, str] = json.loads(result.stdout)
    return found


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["PYTHONPATH"] = str(REPO)
    return env


VERSIONS = _debian_versions()
pytestmark = pytest.mark.skipif(
    VERSIONS is None, reason=f"{SYSTEM_PYTHON} cannot import Debian's python3-redis, python3-xxhash, "
    "python3-milter and python3-hiredis (scripts/setup installs them on Debian)")


def system_cli(config_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SYSTEM_PYTHON, "-s", "-m", "ledger", *args, "--config", str(config_file)],
                          capture_output=True, text=True, timeout=120, env=_env(), cwd=REPO)


def test_the_system_interpreter_uses_debian_packages_not_the_venv() -> None:
    assert VERSIONS is not None
    assert all(path.startswith("/usr/lib/python3/dist-packages/") for path in VERSIONS["files"])


def test_record_check_lookup_on_debian_redis_py(tmp_path: Path, config_file: Path) -> None:
    """Over the unix socket: records (pipelined HSETNX), FCALL_RO lookups, and the bounce claim."""
    sent = tmp_path / "sent.eml"
    sent.write_bytes(messages.original())
    result = system_cli(config_file, "record", "--mail-from", "alice@example.test",
                        "--rcpt", "bob@example.com", str(sent))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "recorded 1 of 1 message(s)"

    real = tmp_path / "real.eml"
    real.write_bytes(messages.dsn(messages.original()))
    forged = tmp_path / "forged.eml"
    forged.write_bytes(messages.dsn(messages.original(message_id="<forged@example.test>"),
                                    failed="mallory@example.net"))
    result = system_cli(config_file, "check", "--json", "--mail-from", "", "--rcpt", "alice@example.test",
                        str(real), str(forged))
    assert result.returncode == 0, result.stderr
    real_out, forged_out = (json.loads(line) for line in result.stdout.splitlines())
    assert (real_out["action"], real_out["matched"]) == ("accept", True)
    assert forged_out["action"] == "reject" and forged_out["reply"].startswith("550 5.7.1 ")

    result = system_cli(config_file, "lookup", "<orig-1@example.test>", "--sender", "alice@example.test",
                        "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["found"] is True


def test_doctor_and_stats_on_debian_redis_py(config_file: Path) -> None:
    result = system_cli(config_file, "doctor", "--no-postfix", "--json")
    report = json.loads(result.stdout)
    statuses = {c["check"]: c["status"] for c in report["checks"]}
    assert statuses["redis"] == "OK" and statuses["config"] == "OK", report
    result = system_cli(config_file, "stats", "--json")
    assert result.returncode == 0, result.stderr
    assert "entries" in json.loads(result.stdout)


METRICS_PROBE = """
import sys, urllib.request
from ledger.observe.metrics import Metrics
metrics = Metrics()
metrics.decisions.labels(kind="dsn", action="reject").inc()
host, port = metrics.serve(sys.argv[1])
with urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10) as reply:
    sys.stdout.write(reply.read().decode())
metrics.close()
try:
    urllib.request.urlopen(f"http://{host}:{port}/metrics", timeout=10)
    print("still serving after close")
except OSError:
    print("closed")
"""


def test_metrics_on_debian_prometheus_client() -> None:
    """Debian 12's python3-prometheus-client is 0.16, whose start_http_server returns no server:
    Metrics.close() could not stop it."""
    probe = subprocess.run([SYSTEM_PYTHON, "-s", "-c", "import prometheus_client"], capture_output=True,
                           env=_env(), timeout=60)
    if probe.returncode != 0:
        pytest.skip("Debian's python3-prometheus-client is not installed (scripts/setup installs it)")
    result = subprocess.run([SYSTEM_PYTHON, "-s", "-c", METRICS_PROBE, f"127.0.0.1:{free_port()}"],
                            capture_output=True, text=True,
                            env=_env(), cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert 'sender_ledger_decisions_total{action="reject",kind="dsn"} 1.0' in result.stdout
    assert result.stdout.endswith("closed\n"), result.stdout[-200:]
