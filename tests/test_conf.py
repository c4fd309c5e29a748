"""conf/: the samples are valid for the programs that read them, and say what the code expects."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import is_dataclass
from pathlib import Path

import pytest
import redis

from ledger.config import load_config
from ledger.ops.postfix_conf import check_postfix
from ledger.redis_settings import REDIS_SETTINGS
from testbed.postfix import pristine_master_cf
from testbed.procs import RedisServer, wait_for

CONF = Path(__file__).resolve().parent.parent / "conf"
LAYOUTS = ("single-host", "outbound-relay", "mx")


def test_sample_toml_loads_and_lists_every_key() -> None:
    cfg = load_config(str(CONF / "sender-ledger.toml"), require_secret=False)
    text = (CONF / "sender-ledger.toml").read_text()
    defaults = load_config(None, require_secret=False)
    assert cfg.backfill.outbound_services == defaults.backfill.outbound_services
    for section in ("redis", "ledger", "outbound", "inbound", "backfill", "srs"):
        for key, value in vars(getattr(cfg, section)).items():
            if is_dataclass(value):  # a nested table, e.g. [inbound.no_reference]
                assert re.search(rf"^\[{section}\.{key}\]$", text, re.M), f"[{section}.{key}] missing"
                for sub_key in vars(value):
                    assert re.search(rf"^{sub_key} = ", text, re.M), f"{section}.{key}.{sub_key} missing"
                continue
            assert re.search(rf"^{key} = ", text, re.M), f"{section}.{key} is not in the sample"


def test_redis_conf_gives_the_settings_the_ledger_needs(tmp_path: Path) -> None:
    server = RedisServer(tmp_path)
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    server._spawn([binary, str(CONF / "redis-ledger.conf"), "--port", "0", "--unixsocket",
                   str(server.socket_path), "--unixsocketperm", "700", "--dir", str(tmp_path),
                   "--appendonly", "no", "--save", ""])
    try:
        wait_for(server._ready, 10, f"redis-server with conf/redis-ledger.conf: {server.log_text()}")
        client = redis.Redis(unix_socket_path=str(server.socket_path), decode_responses=True)
        for key, value in REDIS_SETTINGS.items():
            assert client.config_get(key) == {key: value}
        client.close()
    finally:
        server.stop()


# -- Postfix snippets applied to a private configuration -----------------------------------------------

def service_keys(snippet: str) -> list[str]:
    """name/type of every service entry in a master.cf snippet."""
    return [f"{line.split()[0]}/{line.split()[1]}" for line in snippet.splitlines()
            if line.strip() and not line.startswith(("#", " ", "\t"))]


def private_postfix(base: Path, layout: str) -> Path:
    """A private Postfix config (the testbed's pattern) with a layout's snippets applied."""
    etc = base / "etc"
    for sub in ("etc", "queue", "data"):
        (base / sub).mkdir(parents=True)
    shutil.chown(base / "data", "postfix")
    (etc / "main.cf").write_text("")
    shutil.copy(pristine_master_cf(), etc / "master.cf")
    subprocess.run(["postconf", "-c", str(etc), "-e", f"queue_directory={base}/queue",
                    f"data_directory={base}/data", f"maillog_file={base}/maillog",
                    f"maillog_file_prefixes={base}", "compatibility_level=3.6", "alias_maps=",
                    "alias_database=", "inet_interfaces=127.0.0.1", "myhostname=mx.example.test"],
                   check=True, capture_output=True)
    master = (CONF / "postfix" / layout / "master.cf.snippet").read_text()
    for key in service_keys(master):  # the snippet's entries replace the existing ones
        subprocess.run(["postconf", "-c", str(etc), "-MX", key], check=True, capture_output=True)
    with open(etc / "main.cf", "a") as fh:
        fh.write("\n" + (CONF / "postfix" / layout / "main.cf.snippet").read_text())
    with open(etc / "master.cf", "a") as fh:
        fh.write("\n" + master)
    return etc


@pytest.fixture(scope="module")
def applied(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    if shutil.which("postfix") is None:
        pytest.fail("postfix is not installed: run scripts/test, which installs it")
    return {layout: private_postfix(tmp_path_factory.mktemp(layout), layout) for layout in LAYOUTS}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_postfix_check_accepts_the_snippets(applied: dict[str, Path], layout: str) -> None:
    etc = applied[layout]
    result = subprocess.run(["postfix", "-c", str(etc), "check"], capture_output=True, text=True,
                            timeout=120)
    maillog = etc.parent / "maillog"
    log = maillog.read_text(errors="replace") if maillog.exists() else ""
    assert result.returncode == 0, result.stderr + log
    assert "warning" not in log.lower() and "fatal" not in log.lower(), log


def statuses(etc: Path) -> dict[str, str]:
    cfg = load_config(str(CONF / "sender-ledger.toml"), require_secret=False)
    checks, _, _ = check_postfix(cfg, str(etc))
    return {c.name: c.status for c in checks}


def test_doctor_finds_single_host_complete(applied: dict[str, Path]) -> None:
    result = statuses(applied["single-host"])
    assert result == {name: "OK" for name in result}
    assert {"postfix smtp/inet", "postfix submission/inet", "postfix submissions/inet",
            "postfix non_smtpd_milters", "postfix milter_default_action"} <= set(result)


@pytest.mark.parametrize("layout", ["single-host", "outbound-relay"])
def test_the_snippets_unchroot_cleanup_for_sendmail_mail(applied: dict[str, Path], layout: str,
                                                         tmp_path: Path) -> None:
    """Debian chroots cleanup, which applies non_smtpd_milters: the snippets must set it to n,
    and doctor must fail the main.cf part applied without it (sendmail(1) mail would wait, 4.7.1)."""
    chroot = subprocess.run(["postconf", "-c", str(applied[layout]), "-F", "-h", "cleanup/unix/chroot"],
                            capture_output=True, text=True, check=True).stdout.strip()
    assert chroot == "n"
    assert "postfix cleanup/unix chroot" not in statuses(applied[layout])
    debian = tmp_path / "etc"
    shutil.copytree(applied[layout], debian)
    shutil.copy(pristine_master_cf(), debian / "master.cf")  # Debian's: cleanup chrooted
    assert statuses(debian)["postfix cleanup/unix chroot"] == "FAIL"


def test_doctor_finds_the_relay_records_everywhere(applied: dict[str, Path]) -> None:
    result = statuses(applied["outbound-relay"])
    assert result["postfix smtp/inet"] == "OK"
    assert result["postfix submission/inet"] == "OK"
    assert result["postfix non_smtpd_milters"] == "OK"
    assert "FAIL" not in result.values()


def test_doctor_finds_the_mx_checks_port_25(applied: dict[str, Path]) -> None:
    result = statuses(applied["mx"])
    assert result["postfix smtp/inet"] == "OK"
    assert "FAIL" not in result.values()


def test_every_snippet_uses_the_sockets_of_the_sample_config() -> None:
    cfg = load_config(str(CONF / "sender-ledger.toml"), require_secret=False)
    sockets = {cfg.inbound.socket, cfg.outbound.socket}
    for snippet in (CONF / "postfix").glob("*/*.snippet"):
        used = set(re.findall(r"unix:/[^\s,]+", snippet.read_text()))
        assert used <= sockets, snippet


# -- systemd units ------------------------------------------------------------------------------------

@pytest.mark.parametrize("side", ["outbound", "inbound"])
def test_systemd_units_verify(tmp_path: Path, side: str) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (CONF / "systemd" / f"sender-ledger-{side}.service").read_text()
    assert f"ExecStart=/opt/sender-ledger/bin/sender-ledger milter {side}" in text
    for setting in ("User=sender-ledger", "RuntimeDirectory=sender-ledger", "NoNewPrivileges=yes",
                    "ProtectSystem=strict", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
                    "SystemCallFilter=@system-service", "Restart=on-failure"):
        assert setting in text
    # verify checks that ExecStart exists: point it at an installed program
    program = shutil.which("sender-ledger") or str(Path(__file__).resolve().parent.parent
                                                   / ".venv" / "bin" / "sender-ledger")
    unit = tmp_path / f"sender-ledger-{side}.service"
    unit.write_text(text.replace("/opt/sender-ledger/bin/sender-ledger", program))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr


def test_follow_unit_verifies(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    text = (CONF / "systemd" / "sender-ledger-follow.service").read_text()
    assert ("ExecStart=/opt/sender-ledger/bin/sender-ledger follow --state "
            "/var/lib/sender-ledger/follow.state /var/log/mail.log") in text
    assert "follow --journal --journalctl" in text  # the journal variant is documented
    for setting in ("User=sender-ledger", "StateDirectory=sender-ledger", "NoNewPrivileges=yes",
                    "ProtectSystem=strict", "SupplementaryGroups=adm redis",
                    "SystemCallFilter=@system-service", "Restart=on-failure", "CapabilityBoundingSet=\n"):
        assert setting in text
    program = shutil.which("sender-ledger") or str(Path(__file__).resolve().parent.parent
                                                   / ".venv" / "bin" / "sender-ledger")
    unit = tmp_path / "sender-ledger-follow.service"
    unit.write_text(text.replace("/opt/sender-ledger/bin/sender-ledger", program))
    result = subprocess.run([analyze, "verify", str(unit)], capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    complaints = [line for line in (result.stdout + result.stderr).splitlines() if unit.name in line]
    assert result.returncode == 0 and not complaints, result.stdout + result.stderr
