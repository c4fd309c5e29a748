"""The milters with several worker processes on one socket (ledger/milter/runner.py).

Real processes on a real private Redis, spoken to over the milter protocol:
several workers answer on one socket (unix and inet), SIGTERM to the parent
stops them all, a killed worker is replaced (and too many deaths end the
milter with exit 1), and workers die with their parent.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from ledger.config import MAX_WORKERS, ConfigError, parse_workers, usable_cores
from ledger.milter import runner
from testbed import MilterProcess, RedisServer, free_port
from testbed.procs import wait_for
from tests import messages
from tests.conftest import SECRET, write_config
from tests.milterclient import Outcome, send_message

_PID = re.compile(r"sender-ledger\.(?:inbound|outbound)\[(\d+)\]")


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie has ended: it only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


@pytest.fixture()
def config(tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis) -> Path:
    return write_config(tmp_path / "sender-ledger.toml", redis_server.url)


@pytest.fixture()
def inbound(tmp_path: Path, config: Path) -> Iterator[MilterProcess]:
    milter = MilterProcess(tmp_path, "inbound", config, SECRET, workers=2).start()
    yield milter
    milter.stop()


def ordinary(milter: MilterProcess, count: int, sessions: int = 8) -> list[Outcome]:
    headers, body = messages.split(messages.ordinary())

    def one(i: int) -> Outcome:
        return send_message(milter.milter_socket.removeprefix("unix:"), "carol@example.com",
                            ["alice@example.test"], headers, body, queue_id=f"Q{i}")

    with ThreadPoolExecutor(sessions) as pool:
        return list(pool.map(one, range(count)))


def answering_pids(log: str, side: str) -> set[int]:
    """The pids that wrote a decision or record line."""
    word = "decision" if side == "inbound" else "record"
    return {int(m.group(1)) for line in log.splitlines() if f" {word} qid=" in line
            for m in [_PID.search(line)] if m}


def test_several_workers_answer_on_one_unix_socket(inbound: MilterProcess) -> None:
    workers = inbound.worker_pids()
    assert len(workers) == 2 and inbound.proc is not None and inbound.proc.pid not in workers
    outcomes = ordinary(inbound, 200)
    assert [(o.stage, o.code) for o in outcomes] == [("eoh", "accept")] * 200
    wait_for(lambda: inbound.log_text().count(" decision qid=") >= 200, 10, "200 decision lines")
    assert answering_pids(inbound.log_text(), "inbound") == set(workers)


def test_workers_on_an_inet_socket_record_outbound_mail(
        tmp_path: Path, config: Path, redis_client: redis.Redis) -> None:
    outbound = MilterProcess(tmp_path, "outbound", config, SECRET, workers=2,
                             inet_port=free_port()).start()
    try:
        def one(i: int) -> Outcome:
            raw = messages.original(message_id=f"<w-{i}@example.test>")
            headers, body = messages.split(raw)
            return send_message(outbound.milter_socket, "alice@example.test", ["bob@example.com"],
                                headers, body, queue_id=f"Q{i}")

        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(one, range(120)))
        assert {o.code for o in outcomes} == {"accept"}
        wait_for(lambda: outbound.log_text().count(" record qid=") >= 120, 10, "120 record lines")
        log = outbound.log_text()
        assert answering_pids(log, "outbound") == set(outbound.worker_pids())
        assert log.count("stored=ledger") == 120
        fields = sum(redis_client.hlen(key) for key in redis_client.scan_iter("sl:{*}:m:*"))
        assert fields == 120  # one entry per message: every worker wrote to the same ledger
    finally:
        outbound.stop()


def test_sigterm_to_the_parent_stops_every_worker(inbound: MilterProcess) -> None:
    assert inbound.proc is not None
    pids = [inbound.proc.pid, *inbound.worker_pids()]
    ordinary(inbound, 20)
    started = time.monotonic()
    inbound.proc.send_signal(signal.SIGTERM)
    assert inbound.proc.wait(25) == 0
    wait_for(lambda: not any(alive(pid) for pid in pids), 5, "no milter process left")
    assert time.monotonic() - started < 25
    assert "stopping 2 workers" in inbound.log_text()


def test_a_killed_worker_is_replaced_and_the_socket_keeps_serving(inbound: MilterProcess) -> None:
    first, second = inbound.worker_pids()
    os.kill(first, signal.SIGKILL)
    found: set[int] = set()

    def replaced() -> bool:
        pids = set(inbound.worker_pids())  # one snapshot: the list changes while workers start
        found.clear()
        found.update(pids - {first, second})
        return len(pids) == 2 and first not in pids and len(found) == 1

    wait_for(replaced, 10, "a replacement worker")
    replacement = found.pop()
    assert f"worker pid={first} died (signal 9)" in inbound.log_text()
    wait_for(lambda: f"worker pid={replacement} started" in inbound.log_text(), 10,
             "the replacement's first log line")
    outcomes = ordinary(inbound, 100)
    assert {o.code for o in outcomes} == {"accept"}


def test_workers_that_keep_dying_end_the_milter_with_exit_1(inbound: MilterProcess) -> None:
    assert inbound.proc is not None
    for _ in range(runner.RESTARTS + 1):
        pids = inbound.worker_pids()
        if not pids:
            break
        victim = pids[0]
        os.kill(victim, signal.SIGKILL)
        wait_for(lambda: victim not in inbound.worker_pids(), 10, "the worker gone")  # noqa: B023
        if inbound.proc.poll() is None:
            wait_for(lambda: len(inbound.worker_pids()) == 2 or inbound.proc.poll() is not None,  # type: ignore[union-attr]
                     10, "a replacement or the end")
    assert inbound.proc.wait(25) == 1
    assert "workers died within 60 s: giving up (exit 1)" in inbound.log_text()
    survivors = [int(p) for p in re.findall(r"worker pid=(\d+) started", inbound.log_text())]
    wait_for(lambda: not any(alive(pid) for pid in survivors), 5, "no worker left")


def test_workers_die_with_a_killed_parent(inbound: MilterProcess) -> None:
    assert inbound.proc is not None
    workers = inbound.worker_pids()
    inbound.proc.kill()  # SIGKILL: the parent cannot stop them itself
    inbound.proc.wait(5)
    wait_for(lambda: not any(alive(pid) for pid in workers), 20, "the workers to end")


def test_a_worker_that_cannot_start_ends_the_milter_with_exit_1(tmp_path: Path) -> None:
    # Redis answers nowhere and the spool directory cannot be made: the inbound worker
    # starts regardless (a ledger down is a 451, not a crash), so break the import instead.
    wrapper = tmp_path / "broken_worker.py"
    wrapper.write_text(
        "import sys\nimport ledger.cli.milter_cmd as m\n"
        "def broken(*args, **kwargs):\n    raise RuntimeError('injected fault in worker set-up')\n"
        "m._inbound = broken\nfrom ledger.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    config = write_config(tmp_path / "sender-ledger.toml", f"unix://{tmp_path}/nowhere.sock")
    proc = subprocess.run(
        [sys.executable, str(wrapper), "milter", "inbound", "--config", str(config), "--socket",
         f"unix:{tmp_path}/in.sock", "--workers", "2"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, SENDER_LEDGER_SECRET=SECRET))
    assert proc.returncode == 1
    assert proc.stderr.count("RuntimeError: injected fault in worker set-up") == runner.RESTARTS + 2
    assert "giving up (exit 1)" in proc.stderr


def test_metrics_need_a_single_worker(tmp_path: Path, config: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "ledger", "milter", "inbound", "--config", str(config), "--socket",
         f"unix:{tmp_path}/in.sock", "--workers", "2", "--metrics-listen", f"127.0.0.1:{free_port()}"],
        capture_output=True, text=True, timeout=60, env=dict(os.environ, SENDER_LEDGER_SECRET=SECRET))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "sender-ledger: configuration error: --metrics-listen needs inbound.workers = 1 (it is 2): "
        "each worker would serve its own metrics"]


def test_workers_setting() -> None:
    assert parse_workers("inbound.workers", "auto") == min(usable_cores(), MAX_WORKERS)
    assert parse_workers("inbound.workers", 3) == 3
    for bad in (0, MAX_WORKERS + 1, "many", True, 2.0, "2"):
        with pytest.raises(ConfigError, match=r"^inbound\.workers: expected \"auto\" or a number"):
            parse_workers("inbound.workers", bad)


def test_workers_from_the_config_file(tmp_path: Path) -> None:
    from ledger.config import load_config

    path = write_config(tmp_path / "c.toml", "unix:///nowhere.sock",
                        '[inbound]\nworkers = "auto"\n')
    text = path.read_text().replace('[outbound]\n', '[outbound]\nworkers = 2\n')
    path.write_text(text)
    cfg = load_config(str(path))
    assert (cfg.inbound.workers, cfg.outbound.workers) == (min(usable_cores(), MAX_WORKERS), 2)
    path.write_text(text.replace("workers = 2", "workers = 0"))
    with pytest.raises(ConfigError, match=r"^outbound\.workers: expected"):
        load_config(str(path))


@pytest.mark.parametrize("workers", [1, 2])
def test_only_the_socket_is_made_with_umask_0(tmp_path: Path, workers: int) -> None:
    # Redis is nowhere: the record goes to the spool, in a segment the milter creates.
    config = write_config(tmp_path / "sender-ledger.toml", f"unix://{tmp_path}/nowhere.sock")
    previous = os.umask(0o022)  # the milter's own, as a service manager would give it
    outbound = MilterProcess(tmp_path, "outbound", config, SECRET, workers=workers).start()
    try:
        headers, body = messages.split(messages.original())
        sent = send_message(str(outbound.socket_path), "alice@example.test", ["bob@example.com"],
                            headers, body)
        assert sent.code == "accept"
        assert os.stat(outbound.socket_path).st_mode & 0o777 == 0o777  # smtpd (postfix) connects
        segments = list((tmp_path / "spool").glob("seg-*.jsonl"))
        assert len(segments) == 1
        assert os.stat(segments[0]).st_mode & 0o022 == 0, oct(os.stat(segments[0]).st_mode)
    finally:
        os.umask(previous)
        outbound.stop()
