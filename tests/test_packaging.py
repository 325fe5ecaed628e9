"""packaging/: the systemd unit, install.sh and uninstall.sh, run into a staging root.

install.sh and uninstall.sh run with ``--destdir``, which skips users, file
ownership and systemctl, so nothing outside a temporary directory changes. The
installed "executable" is the development ``hotelbot`` command, so these tests
do not need dist/hotelbot.
"""

from __future__ import annotations

import configparser
import dataclasses
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGING = ROOT / "packaging"
INSTALL = PACKAGING / "install.sh"
UNINSTALL = PACKAGING / "uninstall.sh"
UNIT = PACKAGING / "systemd" / "hotelbot.service"
SCRIPTS = [INSTALL, UNINSTALL, PACKAGING / "hotelbot-admin"]
DEVELOPMENT_BINARY = Path(sys.executable).parent / "hotelbot"
DOMAIN = "atendimento.hotel.com.br"
DEBIAN_CADDYFILE = ":80 {\n\troot * /usr/share/caddy\n\tfile_server\n}\n"


@dataclasses.dataclass
class Staging:
    root: Path
    env: dict[str, str]

    def path(self, absolute: str) -> Path:
        return self.root / absolute.lstrip("/")

    def install(self, *args: str) -> subprocess.CompletedProcess:
        return self._run(INSTALL, "--binary", str(DEVELOPMENT_BINARY), *args)

    def uninstall(self, *args: str) -> subprocess.CompletedProcess:
        return self._run(UNINSTALL, *args)

    def _run(self, script: Path, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", str(script), "--destdir", str(self.root), *args],
            env=self.env, capture_output=True, text=True, timeout=120,
        )

    def data_rows(self, sql: str) -> list[tuple]:
        connection = sqlite3.connect(self.path("/var/lib/hotelbot/hotelbot.db"))
        try:
            return connection.execute(sql).fetchall()
        finally:
            connection.close()


@pytest.fixture
def staging(tmp_path: Path) -> Staging:
    env = {key: value for key, value in os.environ.items() if not key.startswith("HOTELBOT_")}
    env["HOTELBOT_BCRYPT_ROUNDS"] = "4"
    return Staging(tmp_path / "root", env)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def read_unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(UNIT)
    return parser


# -- static checks -------------------------------------------------------------


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed (apt-get install shellcheck)")
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_script_shellcheck_clean(script):
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_script_strict_mode(script):
    lines = script.read_text().splitlines()

    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert mode(script) & stat.S_IXUSR


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_verifies():
    result = subprocess.run(["systemd-analyze", "verify", str(UNIT)], capture_output=True, text=True, timeout=60)

    # The executable is not installed on the machine running the tests.
    missing = "hotelbot.service: Command /usr/local/bin/hotelbot is not executable: No such file or directory"
    problems = [line for line in (result.stdout + result.stderr).splitlines() if line.strip() and line != missing]
    assert problems == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_unit_exposure_low():
    result = subprocess.run(["systemd-analyze", "security", "--offline=yes", str(UNIT)],
                            capture_output=True, text=True, timeout=60)

    # The last line reads "→ Overall exposure level for hotelbot.service: 1.3 OK" plus a smiley.
    prefix = "Overall exposure level for hotelbot.service: "
    summaries = [line.split(prefix, 1)[1] for line in result.stdout.splitlines() if prefix in line]
    assert len(summaries) == 1, result.stdout[-500:]
    assert float(summaries[0].split()[0]) <= 2.0


def test_unit_settings():
    service = read_unit()["Service"]

    assert service["User"] == "hotelbot"
    assert service["ExecStart"] == "/usr/local/bin/hotelbot serve"
    assert service["EnvironmentFile"] == "/etc/hotelbot/hotelbot.env"
    assert service["StateDirectory"] == "hotelbot hotelbot/run"
    assert service["ReadWritePaths"] == "/var/lib/hotelbot"
    assert service["Restart"] == "on-failure"
    assert service["KillMode"] == "control-group"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["ProtectHome"] == "yes"
    assert service["PrivateTmp"] == "yes"


def test_unit_unpacks_under_data():
    lines = UNIT.read_text().splitlines()

    assert "Environment=HOTELBOT_DATA_DIR=/var/lib/hotelbot" in lines
    # Not /tmp or /run, which are often mounted noexec.
    assert "Environment=TMPDIR=/var/lib/hotelbot/run" in lines
    assert read_unit()["Service"]["ExecStartPre"].startswith("/usr/bin/find /var/lib/hotelbot/run -mindepth 1 -maxdepth 1 -name \"_MEI*\"")


# -- install.sh and uninstall.sh --------------------------------------------------


def test_install_lays_out_files(staging):
    result = staging.install("--domain", DOMAIN)

    assert result.returncode == 0, result.stderr
    assert "install.sh: installing hotelbot 0.1.0" in result.stdout
    assert "install.sh: skipped under --destdir: systemctl restart hotelbot.service" in result.stdout
    assert staging.path("/usr/local/bin/hotelbot").read_bytes() == DEVELOPMENT_BINARY.read_bytes()
    assert mode(staging.path("/usr/local/bin/hotelbot")) == 0o755
    assert mode(staging.path("/usr/local/sbin/hotelbot-admin")) == 0o755
    assert staging.path("/etc/systemd/system/hotelbot.service").read_text() == UNIT.read_text()
    assert staging.path("/etc/systemd/system/caddy.service.d/hotelbot.conf").read_text().endswith(
        "[Service]\nEnvironmentFile=/etc/hotelbot/caddy.env\n")
    assert staging.path("/etc/caddy/Caddyfile").read_text() == (ROOT / "Caddyfile").read_text()


def test_install_writes_settings(staging):
    assert staging.install("--domain", DOMAIN).returncode == 0

    hotelbot_env = staging.path("/etc/hotelbot/hotelbot.env")
    caddy_env = staging.path("/etc/hotelbot/caddy.env")
    assert f"HOTELBOT_PUBLIC_URL=https://{DOMAIN}" in hotelbot_env.read_text().splitlines()
    assert mode(hotelbot_env) == 0o640
    assert f"HOTELBOT_DOMAIN={DOMAIN}" in caddy_env.read_text().splitlines()
    assert "HOTELBOT_UPSTREAM=127.0.0.1:8000" in caddy_env.read_text().splitlines()
    assert "@DOMAIN@" not in hotelbot_env.read_text() + caddy_env.read_text()


def test_install_initializes_data(staging):
    assert staging.install("--domain", DOMAIN).returncode == 0

    data = staging.path("/var/lib/hotelbot")
    assert mode(data) == 0o700
    assert (data / "secrets.json").is_file()
    assert staging.data_rows("SELECT count(*) FROM tenants") == [(0,)]
    # Only the unpack directory of CLI commands is left in run/.
    assert sorted(path.name for path in (data / "run").iterdir()) == ["cli"]


def test_install_without_domain_warns(staging):
    result = staging.install()

    assert result.returncode == 0, result.stderr
    assert "install.sh: set HOTELBOT_DOMAIN in /etc/hotelbot/caddy.env, then: sudo systemctl restart caddy" in result.stdout
    assert "HOTELBOT_DOMAIN=atendimento.example.com.br" in staging.path("/etc/hotelbot/caddy.env").read_text()


def test_upgrade_backs_up_and_keeps(staging):
    assert staging.install("--domain", DOMAIN).returncode == 0
    created = subprocess.run(
        [str(staging.path("/usr/local/bin/hotelbot")), "tenant", "create", "--data-dir", str(staging.path("/var/lib/hotelbot")),
         "--name", "Hotel Serra", "--phone-number-id", "106500000000001", "--access-token", "token",
         "--app-secret", "secret", "--verify-token", "verify", "--json"],
        env=staging.env, capture_output=True, text=True, timeout=60,
    )
    assert created.returncode == 0, created.stderr
    tenant_id = json.loads(created.stdout)["tenantId"]
    hotelbot_env = staging.path("/etc/hotelbot/hotelbot.env")
    hotelbot_env.write_text(hotelbot_env.read_text() + "HOTELBOT_WORKERS=2\n")

    result = staging.install("--domain", "other.example.com")

    assert result.returncode == 0, result.stderr
    assert "install.sh: upgrading hotelbot 0.1.0 to 0.1.0" in result.stdout
    assert "install.sh: kept /etc/hotelbot/hotelbot.env" in result.stdout
    assert hotelbot_env.read_text().endswith("HOTELBOT_WORKERS=2\n")
    assert f"HOTELBOT_DOMAIN={DOMAIN}" in staging.path("/etc/hotelbot/caddy.env").read_text()
    assert staging.data_rows("SELECT id FROM tenants") == [(tenant_id,)]
    backups = list(staging.path("/var/lib/hotelbot/backups").glob("before-upgrade-*.tar.gz"))
    assert len(backups) == 1
    with tarfile.open(backups[0]) as archive:
        assert sorted(archive.getnames()) == ["hotelbot.db", "manifest.json", "secrets.json"]


def test_upgrade_keeps_edited_caddyfile(staging):
    assert staging.install("--domain", DOMAIN).returncode == 0
    caddyfile = staging.path("/etc/caddy/Caddyfile")
    edited = caddyfile.read_text() + "# hotel's own change\n"
    caddyfile.write_text(edited)

    result = staging.install()

    assert result.returncode == 0, result.stderr
    assert caddyfile.read_text() == edited
    assert staging.path("/etc/caddy/Caddyfile.hotelbot-new").read_text() == (ROOT / "Caddyfile").read_text()


def test_upgrade_replaces_unedited_caddyfile(staging):
    assert staging.install("--domain", DOMAIN).returncode == 0
    caddyfile = staging.path("/etc/caddy/Caddyfile")
    # As if the previous release had shipped another Caddyfile, untouched since.
    previous = "# hotelbot, previous release\n"
    caddyfile.write_text(previous)
    staging.path("/usr/local/share/hotelbot/Caddyfile").write_text(previous)

    result = staging.install()

    assert result.returncode == 0, result.stderr
    assert "install.sh: updated /etc/caddy/Caddyfile" in result.stdout
    assert caddyfile.read_text() == (ROOT / "Caddyfile").read_text()


def test_install_sets_aside_other_caddyfile(staging):
    staging.path("/etc/caddy").mkdir(parents=True)
    staging.path("/etc/caddy/Caddyfile").write_text(DEBIAN_CADDYFILE)

    result = staging.install("--domain", DOMAIN)

    assert result.returncode == 0, result.stderr
    assert staging.path("/etc/caddy/Caddyfile.before-hotelbot").read_text() == DEBIAN_CADDYFILE
    assert staging.path("/etc/caddy/Caddyfile").read_text() == (ROOT / "Caddyfile").read_text()


def test_uninstall_keeps_data(staging):
    staging.path("/etc/caddy").mkdir(parents=True)
    staging.path("/etc/caddy/Caddyfile").write_text(DEBIAN_CADDYFILE)
    assert staging.install("--domain", DOMAIN).returncode == 0

    result = staging.uninstall()

    assert result.returncode == 0, result.stderr
    assert not staging.path("/usr/local/bin/hotelbot").exists()
    assert not staging.path("/usr/local/sbin/hotelbot-admin").exists()
    assert not staging.path("/etc/systemd/system/hotelbot.service").exists()
    assert not staging.path("/etc/systemd/system/caddy.service.d").exists()
    assert staging.path("/etc/caddy/Caddyfile").read_text() == DEBIAN_CADDYFILE
    assert staging.path("/var/lib/hotelbot/hotelbot.db").is_file()
    assert staging.path("/var/lib/hotelbot/secrets.json").is_file()
    assert staging.path("/etc/hotelbot/hotelbot.env").is_file()


def test_uninstall_purge_deletes_data(staging):
    assert staging.install("--domain", DOMAIN).returncode == 0

    result = staging.uninstall("--purge")

    assert result.returncode == 0, result.stderr
    assert not staging.path("/var/lib/hotelbot").exists()
    assert not staging.path("/etc/hotelbot").exists()
    assert "uninstall.sh: left /etc/caddy/Caddyfile in place: it still proxies to hotelbot, so edit or replace it" in result.stdout


@pytest.mark.parametrize("domain", ["bad domain", "hotel.com;rm -rf /", "hotel/example", ""])
def test_install_rejects_invalid_domain(staging, domain):
    result = staging.install("--domain", domain)

    assert result.returncode != 0
    assert "install.sh: error:" in result.stderr
    assert not staging.root.exists()


def test_install_rejects_missing_binary(staging):
    result = subprocess.run(["bash", str(INSTALL), "--destdir", str(staging.root), "--binary", "/nonexistent/hotelbot"],
                            env=staging.env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert result.stderr == "install.sh: error: no executable at /nonexistent/hotelbot\n"
    assert not staging.root.exists()


def test_install_rejects_broken_binary(staging, tmp_path):
    broken = tmp_path / "hotelbot"
    broken.write_text("#!/bin/sh\nexit 3\n")
    broken.chmod(0o755)

    result = subprocess.run(["bash", str(INSTALL), "--destdir", str(staging.root), "--binary", str(broken)],
                            env=staging.env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 1
    assert result.stderr == f"install.sh: error: {broken} does not run here (try: {broken} --version)\n"
    assert not staging.path("/usr/local/bin/hotelbot").exists()


def test_unknown_option_rejected(staging):
    result = staging.uninstall("--everything")

    assert result.returncode == 1
    assert result.stderr.endswith("uninstall.sh: error: unknown option: --everything\n")
