"""sender-ledger init: the files it makes, and the Postfix settings of each layout applied to a
private Postfix configuration (``--postfix-dir``), with backups, idempotent.

No account is made here (``--no-accounts``): the deployment test (tests/test_deployment.py)
runs init for real, with the user and group, on the machine's own Postfix.
"""

from __future__ import annotations

import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from ledger.cli import main
from ledger.config import load_config
from ledger.ops import init
from ledger.ops.postfix_conf import check_postfix
from testbed.postfix import pristine_master_cf
from testbed.procs import RedisServer
from tests.test_conf import private_postfix

LAYOUTS = ("single-host", "outbound-relay", "mx")


def test_set_key_replaces_in_its_section_or_adds() -> None:
    text = "# top\n[a]\nx = 1\n# note\n[b]\nx = 2\n"
    assert init.set_key(text, "b", "x", "3") == "# top\n[a]\nx = 1\n# note\n[b]\nx = 3\n"
    assert init.set_key(text, "a", "y", '"v"') == '# top\n[a]\ny = "v"\nx = 1\n# note\n[b]\nx = 2\n'
    assert init.set_key(text, "c", "z", "1").endswith("\n[c]\nz = 1\n")


def test_the_config_it_writes_loads_with_what_it_was_told(tmp_path: Path) -> None:
    text = init.config_text(str(tmp_path / "s"), str(tmp_path / "spool"), "redis://127.0.0.1:7/0", "tag")
    (tmp_path / "c.toml").write_text(text)
    tomllib.loads(text)
    cfg = load_config(str(tmp_path / "c.toml"), require_secret=False)
    assert cfg.outbound.spool_dir == str(tmp_path / "spool")
    assert cfg.redis.url == "redis://127.0.0.1:7/0" and cfg.inbound.unmatched_action == "tag"
    assert 'file = "' + str(tmp_path / "s") + '"' in text


def run_init(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["init", "--no-accounts", *args])
    return code, capsys.readouterr().out


def backups(etc: Path) -> list[str]:
    return sorted(p.name for p in etc.iterdir() if ".sender-ledger-" in p.name)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_init_applies_a_layout_with_backups_and_is_idempotent(
        tmp_path: Path, layout: str, redis_server: RedisServer, capsys: pytest.CaptureFixture[str]) -> None:
    etc = private_postfix(tmp_path / "pf", "single-host")  # then put back Debian's master.cf, no milters
    (etc / "master.cf").write_bytes(pristine_master_cf().read_bytes())
    (etc / "main.cf").write_text("\n".join(line for line in (etc / "main.cf").read_text().splitlines()
                                           if "milter" not in line) + "\n")
    before = {name: (etc / name).read_bytes() for name in ("main.cf", "master.cf")}
    config, secret, spool = tmp_path / "sl.toml", tmp_path / "secret", tmp_path / "spool"
    common = ["--config", str(config), "--secret-file", str(secret), "--spool-dir", str(spool),
              "--redis", redis_server.url, "--postfix-dir", str(etc), "--layout", layout,
              "--submission", "mynetworks"]

    code, out = run_init(capsys, *common)
    assert code == 0, out
    assert "postconf -c" in out and "not applied" in out
    assert {name: (etc / name).read_bytes() for name in before} == before  # only printed
    assert stat.S_IMODE(secret.stat().st_mode) == 0o640 and len(secret.read_bytes().strip()) == 44
    assert stat.S_IMODE(spool.stat().st_mode) == 0o750
    made = config.read_bytes(), secret.read_bytes()

    code, out = run_init(capsys, *common, "--apply")
    assert code == 0, out
    assert len(backups(etc)) == 2
    for name, content in before.items():  # the backups are the files as they were
        assert (etc / backups(etc)[0 if name == "main.cf" else 1]).read_bytes() == content
    assert "postfix check: OK" in out
    cfg = load_config(str(config), require_secret=False)
    checks = {c.name: c.status for c in check_postfix(cfg, str(etc))[0]}
    assert "FAIL" not in checks.values(), checks
    if layout != "mx":  # the chroot trap: cleanup applies non_smtpd_milters
        assert "postfix cleanup/unix chroot" not in checks and checks["postfix non_smtpd_milters"] == "OK"
        assert checks["postfix submission/inet"] == "OK"
    check = subprocess.run(["postfix", "-c", str(etc), "check"], capture_output=True, text=True, timeout=120)
    assert check.returncode == 0, check.stderr

    after = {name: (etc / name).read_bytes() for name in before}
    code, out = run_init(capsys, *common, "--apply")
    assert code == 0 and "nothing to change" in out
    assert len(backups(etc)) == 2 and {name: (etc / name).read_bytes() for name in before} == after
    assert (config.read_bytes(), secret.read_bytes()) == made  # nothing that exists is replaced


def test_init_without_main_cf_says_so_in_one_line(tmp_path: Path) -> None:
    etc = tmp_path / "empty"
    etc.mkdir()
    result = subprocess.run([sys.executable, "-m", "ledger", "init", "--no-accounts", "--apply",
                             "--config", str(tmp_path / "c.toml"), "--secret-file", str(tmp_path / "s"),
                             "--spool-dir", str(tmp_path / "spool"), "--postfix-dir", str(etc),
                             "--layout", "mx"], capture_output=True, text=True, timeout=120,
                            stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert "no " + str(etc / "main.cf") in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_plans_follow_the_snippets() -> None:
    """init's plan and conf/postfix/ say the same thing for the chroot columns and main.cf."""
    conf = Path(__file__).resolve().parent.parent / "conf" / "postfix"
    for layout in LAYOUTS:
        plan = init.plan_for(layout, "unix:/run/sender-ledger/inbound.sock",
                             "unix:/run/sender-ledger/outbound.sock")
        master = (conf / layout / "master.cf.snippet").read_text()
        main_cf = (conf / layout / "main.cf.snippet").read_text()
        for key in plan.chroot_off:
            name, type_ = key.split("/")
            assert any(line.split()[:2] == [name, type_] and line.split()[4] == "n"
                       for line in master.splitlines() if line and not line.startswith(("#", " "))), key
        for param, value in plan.main:
            assert f"{param} = {value}".rstrip() in main_cf, (layout, param)
