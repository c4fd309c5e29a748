"""doctor: config, secret, Redis (private server), milter sockets and Postfix settings."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import redis

from ledger.cli import main
from ledger.config import load_config
from ledger.hashing import Hasher
from ledger.ops import doctor
from ledger.ops.postfix_conf import PostfixSettings, Service, _judge, milter_list, postfix_socket
from ledger.redis_settings import REDIS_SETTINGS
from ledger.store import Ledger
from testbed.procs import RedisServer
from tests.conftest import SECRET

INBOUND = "unix:/run/sender-ledger/inbound.sock"
OUTBOUND = "unix:/run/sender-ledger/outbound.sock"


def write_setup(tmp_path: Path, redis_url: str, secret_mode: int = 0o640, extra: str = "") -> Path:
    secret = tmp_path / "secret"
    secret.write_text(SECRET + "-and-some-more-bytes\n")
    os.chmod(secret, secret_mode)
    cfg = tmp_path / "sender-ledger.toml"
    cfg.write_text(f'[secret]\nfile = "{secret}"\n\n[redis]\nurl = "{redis_url}"\n\n'
                   f'[inbound]\nsocket = "unix:{tmp_path}/in.sock"\n\n'
                   f'[outbound]\nsocket = "unix:{tmp_path}/out.sock"\n{extra}')
    return cfg


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def run_doctor(cfg: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, object]]:
    code = main(["doctor", "--config", str(cfg), "--no-postfix", "--json", *extra])
    return code, json.loads(capsys.readouterr().out)


@pytest.fixture()
def config_set(redis_client: redis.Redis) -> Iterator[redis.Redis]:
    """Lets a test change server settings; puts REDIS_SETTINGS back afterwards."""
    yield redis_client
    for key, value in REDIS_SETTINGS.items():
        redis_client.config_set(key, value)


# -- the whole command ------------------------------------------------------------------------------

def test_healthy_setup_has_no_failure(tmp_path: Path, redis_server: RedisServer, redis_client: redis.Redis,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_setup(tmp_path, redis_server.url)
    code, result = run_doctor(cfg, capsys)
    checks = {c["check"]: c for c in result["checks"]}  # type: ignore[union-attr]
    assert code == 0 and result["ok"] is True
    for name in ("config", "secret", "redis", "redis latency", "redis eviction",
                 "redis hash-max-listpack-entries", "redis lazyfree-lazy-expire", "redis encoding"):
        assert checks[name]["status"] == "OK", checks[name]
    # no milter is running and Postfix was not asked: a warning, not a failure
    assert checks["inbound milter socket"]["status"] == "WARN"
    assert "does not exist" in checks["inbound milter socket"]["reason"]


def test_human_output_is_one_line_per_check(tmp_path: Path, redis_server: RedisServer,
                                            redis_client: redis.Redis,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_setup(tmp_path, redis_server.url, secret_mode=0o644)
    assert main(["doctor", "--config", str(cfg), "--no-postfix"]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("FAIL  secret") and "readable by others" in line for line in lines)
    assert all(line.split()[0] in ("OK", "WARN", "FAIL") for line in lines)


def test_unreachable_redis_fails(tmp_path: Path, redis_client: redis.Redis,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    cfg = write_setup(tmp_path, f"unix://{tmp_path}/no-redis.sock")
    code, result = run_doctor(cfg, capsys)
    checks = {c["check"]: c for c in result["checks"]}  # type: ignore[union-attr]
    assert code == 1 and checks["redis"]["status"] == "FAIL"
    assert "redis latency" not in checks


def test_bad_config_fails_and_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[ledger]\nlifetime_days = "thirty"\n')
    code, result = run_doctor(cfg, capsys)
    assert code == 1
    assert result["checks"] == [{"check": "config", "status": "FAIL",  # type: ignore[comparison-overlap]
                                 "reason": "ledger.lifetime_days: expected int, got str"}]


# -- secret -------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("mode", "status"), [(0o600, "OK"), (0o640, "OK"), (0o644, "FAIL"),
                                              (0o660, "WARN"), (0o602, "FAIL")])
def test_secret_file_permissions(tmp_path: Path, mode: int, status: str) -> None:
    cfg = write_setup(tmp_path, "unix:///nowhere.sock", secret_mode=mode)
    assert doctor.check_secret(str(cfg), None, None).status == status


def test_inline_secret_in_a_world_readable_config_fails(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[secret]\nvalue = "{SECRET}-0123456789"\n')
    os.chmod(cfg, 0o644)
    check = doctor.check_secret(str(cfg), None, None)
    assert check.status == "FAIL" and "inline" in check.reason
    os.chmod(cfg, 0o600)
    assert doctor.check_secret(str(cfg), None, None).status == "OK"


def test_missing_and_short_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[redis]\n")
    assert doctor.check_secret(str(cfg), None, None).status == "FAIL"
    monkeypatch.setenv("SENDER_LEDGER_SECRET", "sixteen-bytes-ok")
    check = doctor.check_secret(str(cfg), None, None)
    assert check.status == "WARN" and "16 bytes" in check.reason


# -- Redis --------------------------------------------------------------------------------------------

def test_an_evicting_policy_fails(config_set: redis.Redis, ledger: Ledger) -> None:
    for policy in ("allkeys-lru", "volatile-ttl", "volatile-lfu"):
        config_set.config_set("maxmemory-policy", policy)
        check = by_name(doctor.check_redis(ledger, 0.5))["redis eviction"]
        assert check.status == "FAIL" and policy in check.reason


def test_low_listpack_limit_warns_and_hashtables_are_found(config_set: redis.Redis, ledger: Ledger,
                                                           hasher: Hasher) -> None:
    config_set.config_set("hash-max-listpack-entries", "8")
    ledger.record([hasher.message(f"m{n}@example.test", "a@example.test") for n in range(2000)])
    checks = by_name(doctor.check_redis(ledger, 0.5))
    assert checks["redis hash-max-listpack-entries"].status == "WARN"
    assert checks["redis encoding"].status == "WARN" and "hashtables" in checks["redis encoding"].reason


def test_buckets_near_the_limit_warn(config_set: redis.Redis, ledger: Ledger, hasher: Hasher) -> None:
    ledger.record([hasher.message(f"m{n}@example.test", "a@example.test") for n in range(2000)])
    largest = max(config_set.hlen(k) for k in config_set.scan_iter())
    config_set.config_set("hash-max-listpack-entries", str(largest + 1))
    check = by_name(doctor.check_redis(ledger, 0.5))["redis encoding"]
    assert check.status == "WARN" and "close to" in check.reason


def test_no_config_command_is_a_warning(redis_server: RedisServer, ledger: Ledger) -> None:
    class NoConfig(redis.Redis):
        def config_get(self, *args: object, **kwargs: object) -> dict[str, str]:
            raise redis.ResponseError("unknown command 'CONFIG'")

    client = NoConfig.from_url(redis_server.url)
    checks = by_name(doctor.check_redis(Ledger(client, ledger.namespace), 0.5))
    assert checks["redis settings"].status == "WARN"
    assert checks["redis eviction"].status == "OK"  # read from INFO, which is allowed


def test_durability_fails_when_wait_replicas_cannot_be_met_and_warns_when_off_behind_sentinel(
        ledger: Ledger) -> None:
    waiting = Ledger(ledger.client, ledger.namespace, wait_replicas=1)  # this Redis has no replica
    check = by_name(doctor.check_redis(waiting, 0.5))["redis durability"]
    assert check.status == "FAIL" and "0 replica(s) attached" in check.reason
    check = by_name(doctor.check_redis(ledger, 0.5, behind_sentinel=True))["redis durability"]
    assert check.status == "WARN" and "wait_replicas = 0" in check.reason
    assert "redis durability" not in by_name(doctor.check_redis(ledger, 0.5))  # single Redis


# -- milter sockets -----------------------------------------------------------------------------------

def test_sockets_listening_missing_and_needed(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o755)
    cfg = load_config(str(write_setup(tmp_path, "unix:///nowhere.sock")))
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "in.sock"))
        os.chmod(tmp_path / "in.sock", 0o777)
        listener.listen(1)
        checks = by_name(doctor.check_sockets(cfg, needed={"outbound"}))
        assert checks["inbound milter socket"].status == "OK"
        assert checks["outbound milter socket"].status == "FAIL"
        os.chmod(tmp_path / "in.sock", 0o700)
        checks = by_name(doctor.check_sockets(cfg))
        assert checks["inbound milter socket"].status == "WARN"
        assert "socket mode 0700" in checks["inbound milter socket"].reason
        assert checks["outbound milter socket"].status == "WARN"


def test_a_socket_directory_of_a_group_postfix_is_in_is_reachable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Debian layout: /run/sender-ledger 0750 of group sender-ledger, postfix a member of it
    (not its primary group). Doctor warned that postfix could not reach it."""
    run = tmp_path / "run"
    run.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(run, 0o750)
    group = os.stat(run).st_gid
    cfg = load_config(str(write_setup(tmp_path, "unix:///nowhere.sock")))
    cfg = replace(cfg, inbound=replace(cfg.inbound, socket=f"unix:{run / 'in.sock'}"))
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(run / "in.sock"))
        os.chmod(run / "in.sock", 0o777)
        listener.listen(1)
        assert doctor._reachable_by_postfix(str(run / "in.sock"), {group}) is None
        assert "is not searchable by postfix" in (
            doctor._reachable_by_postfix(str(run / "in.sock"), {group + 4242}) or "")
        monkeypatch.setattr(doctor, "postfix_groups", lambda: {group + 4242, group})
        checks = by_name(doctor.check_sockets(cfg))
        assert checks["inbound milter socket"].status == "OK", checks["inbound milter socket"]
        monkeypatch.setattr(doctor, "postfix_groups", lambda: {group + 4242})
        checks = by_name(doctor.check_sockets(cfg))
        assert checks["inbound milter socket"].status == "WARN"


# -- Postfix settings (judged without postconf) -------------------------------------------------------

def settings(main_cf: dict[str, str], *services: Service) -> PostfixSettings:
    base = {"milter_default_action": "tempfail", "milter_protocol": "6",
            "queue_directory": "/var/spool/postfix"}
    return PostfixSettings({**base, **main_cf}, list(services))


def smtpd(name: str, chroot: bool = False, **params: str) -> Service:
    return Service(name, "inet", chroot, "smtpd", dict(params))


def statuses(pf: PostfixSettings) -> dict[str, str]:
    cfg = load_config(None, require_secret=False)
    return {c.name: c.status for c in _judge(cfg, pf)[0]}


def test_milter_lists_and_socket_syntax() -> None:
    assert milter_list("unix:/a.sock, { inet:127.0.0.1:99, connect_timeout=5s } inet:h:1") == [
        "inet:127.0.0.1:99", "unix:/a.sock", "inet:h:1"]
    assert postfix_socket("inet:9901@127.0.0.1") == "inet:127.0.0.1:9901"
    assert postfix_socket("unix:/run/x.sock") == "unix:/run/x.sock"


def test_a_right_single_host_setup_is_all_ok() -> None:
    pf = settings({"smtpd_milters": INBOUND, "non_smtpd_milters": OUTBOUND},
                  smtpd("smtp"), smtpd("submission", smtpd_milters=OUTBOUND))
    assert set(statuses(pf).values()) == {"OK"}


def test_outbound_milter_on_an_open_port_25_fails() -> None:
    pf = settings({"smtpd_milters": OUTBOUND, "non_smtpd_milters": OUTBOUND}, smtpd("smtp"))
    assert statuses(pf)["postfix smtp/inet"] == "FAIL"
    closed = settings({"smtpd_milters": OUTBOUND, "non_smtpd_milters": OUTBOUND,
                       "smtpd_client_restrictions": "permit_mynetworks, permit_sasl_authenticated, reject"},
                      smtpd("smtp"))
    assert statuses(closed)["postfix smtp/inet"] == "OK"


@pytest.mark.parametrize(("main_cf", "name"), [
    ({"milter_default_action": "reject"}, "postfix milter_default_action"),
    ({"non_smtpd_milters": INBOUND}, "postfix non_smtpd_milters"),
])
def test_dangerous_settings_fail(main_cf: dict[str, str], name: str) -> None:
    pf = settings({"smtpd_milters": INBOUND, **main_cf}, smtpd("smtp"))
    assert statuses(pf)[name] == "FAIL"


def test_chrooted_smtpd_cannot_reach_run() -> None:
    pf = settings({"smtpd_milters": INBOUND}, smtpd("smtp", chroot=True))
    assert statuses(pf)["postfix smtp/inet chroot"] == "FAIL"
    # a path relative to the queue directory works in the chroot
    cfg = load_config(None, require_secret=False)
    relative = settings({"smtpd_milters": "unix:sender-ledger/inbound.sock"}, smtpd("smtp", chroot=True))
    from dataclasses import replace

    in_queue = "unix:/var/spool/postfix/sender-ledger/inbound.sock"
    cfg = replace(cfg, inbound=replace(cfg.inbound, socket=in_queue))
    result = {c.name: c.status for c in _judge(cfg, relative)[0]}
    assert result["postfix smtp/inet"] == "OK" and "postfix smtp/inet chroot" not in result


def test_missing_pieces_warn_and_suggest() -> None:
    cfg = load_config(None, require_secret=False)
    checks, used, suggest = _judge(cfg, settings({}, smtpd("smtp")))
    names = {c.name: c.status for c in checks}
    assert names["postfix smtp/inet"] == "WARN" and names["postfix non_smtpd_milters"] == "WARN"
    assert suggest and used == set()


def test_cli_prints_settings_to_add_without_postfix(tmp_path: Path, redis_server: RedisServer,
                                                    redis_client: redis.Redis,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no postconf here
    cfg = write_setup(tmp_path, redis_server.url)
    assert main(["doctor", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "WARN  postfix" in out and "postconf not found" in out
    assert f"postconf -e 'smtpd_milters = unix:{tmp_path}/in.sock'" in out
    # copy-pasteable postconf commands, the chroot of cleanup (sendmail(1) mail) among them
    assert f"postconf -P 'submission/inet/smtpd_milters = unix:{tmp_path}/out.sock'" in out
    assert "postconf -F 'cleanup/unix/chroot = n'" in out


def test_encoding_sample_ignores_other_keys_in_the_namespace(redis_client: redis.Redis, ledger: Ledger,
                                                             hasher: Hasher) -> None:
    ledger.record([hasher.message("a@example.test", "b@example.test")])
    redis_client.xadd(f"{ledger.namespace}:{{log}}:decisions", {"a": "b"})
    redis_client.set(f"{ledger.namespace}:{{0}}:stats:20000", 1)
    check = by_name(doctor.check_redis(ledger, 0.5))["redis encoding"]
    assert check.status == "OK" and "1 ledger keys sampled" in check.reason


def cleanup(chroot: bool, **params: str) -> Service:
    return Service("cleanup", "unix", chroot, "cleanup", dict(params))


def test_a_chrooted_cleanup_cannot_reach_the_outbound_socket() -> None:
    """non_smtpd_milters runs in cleanup: Debian chroots it, and sendmail(1) mail then waits (4.7.1)."""
    main_cf = {"smtpd_milters": INBOUND, "non_smtpd_milters": OUTBOUND}
    services = (smtpd("smtp"), smtpd("submission", smtpd_milters=OUTBOUND))
    chrooted = statuses(settings(main_cf, *services, cleanup(True)))
    assert chrooted["postfix cleanup/unix chroot"] == "FAIL"
    cfg = load_config(None, require_secret=False)
    reason = {c.name: c.reason for c in _judge(cfg, settings(main_cf, *services, cleanup(True)))[0]}
    assert "sendmail(1)" in reason["postfix cleanup/unix chroot"]
    assert "postconf -F 'cleanup/unix/chroot = n'" in reason["postfix cleanup/unix chroot"]
    # not chrooted, or nothing for cleanup to reach, or a socket inside the queue directory: fine
    assert set(statuses(settings(main_cf, *services, cleanup(False))).values()) == {"OK"}
    no_milter = statuses(settings({"smtpd_milters": INBOUND}, smtpd("smtp"), cleanup(True)))
    assert "postfix cleanup/unix chroot" not in no_milter
    from dataclasses import replace

    in_queue = "unix:/var/spool/postfix/sender-ledger/outbound.sock"
    cfg = replace(cfg, outbound=replace(cfg.outbound, socket=in_queue))
    relative = settings({"smtpd_milters": INBOUND, "non_smtpd_milters": "unix:sender-ledger/outbound.sock"},
                        smtpd("smtp"), cleanup(True))
    assert "postfix cleanup/unix chroot" not in {c.name for c in _judge(cfg, relative)[0]}
    # a cleanup service's own -o non_smtpd_milters counts too
    own = statuses(settings({"smtpd_milters": INBOUND}, smtpd("smtp"),
                            cleanup(True, non_smtpd_milters=OUTBOUND)))
    assert own["postfix cleanup/unix chroot"] == "FAIL"
