"""The deployment kit: docker-compose.yml (no Docker engine here: `docker compose config` when the client
has the plugin, else a structural check of the file), Dockerfiles, systemd units, example configuration."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ari_app.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
ENV = {
    "POSTGRES_PASSWORD": "pg",
    "ARI_PASSWORD": "ari",
    "CALLBACK_API_TOKEN": "tok",
    "ADMIN_SIP_PASSWORD": "adm",
    "KANNEL_SENDSMS_PASSWORD": "k",
    "KANNEL_ADMIN_PASSWORD": "ka",
    "KANNEL_INBOUND_URL": "http://app:8080/hooks/kannel/inbound",
    "PATH": "/usr/bin:/bin",
}
# Keys of a service in the Compose specification that this file may use.
SERVICE_KEYS = {
    "build",
    "image",
    "command",
    "entrypoint",
    "environment",
    "env_file",
    "volumes",
    "ports",
    "expose",
    "depends_on",
    "healthcheck",
    "restart",
    "profiles",
    "networks",
    "network_mode",
    "secrets",
    "user",
}
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "disable"}
DURATION = re.compile(r"\d+(ms|s|m|h)")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def _compose_plugin() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30, check=False)
    return probe.returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="docker compose plugin not installed")
def test_docker_compose_accepts_the_file() -> None:
    for profile in ([], ["--profile", "sms"]):
        done = subprocess.run(
            ["docker", "compose", "-f", str(COMPOSE), *profile, "config", "--quiet"],
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr


def test_the_services_and_their_wiring() -> None:
    doc = compose()
    assert set(doc) <= {"name", "services", "volumes", "networks", "secrets", "configs"}
    services = doc["services"]
    names = set(services)
    postgres = next(n for n in names if "postgres" in n)
    asterisk = next(n for n in names if "asterisk" in n)
    assert {"app", "kannel"} <= names
    for name, svc in services.items():
        assert set(svc) <= SERVICE_KEYS, (name, set(svc) - SERVICE_KEYS)
        assert "image" in svc or "build" in svc, name
        check = svc["healthcheck"]
        assert set(check) <= HEALTHCHECK_KEYS and check["test"][0] in ("CMD", "CMD-SHELL"), name
        for key in ("interval", "timeout", "start_period"):
            assert DURATION.fullmatch(check[key]), (name, key)
        build = svc.get("build")
        if build is not None:
            assert (REPO / build["context"] / build["dockerfile"]).is_file(), name
        for dep, how in svc.get("depends_on", {}).items():
            assert dep in names and how["condition"] == "service_healthy", (name, dep)
        for volume in svc.get("volumes", []):
            source = re.sub(r"\$\{[A-Z_]+:-([^}]+)\}", r"\1", volume).split(":")[0]
            if source.startswith("./"):
                assert (REPO / source).exists(), (name, source)
            else:
                assert source in doc["volumes"], (name, source)
        for port in svc.get("ports", []):
            assert re.fullmatch(r"\d+(-\d+)?:\d+(-\d+)?(/(tcp|udp))?", port), (name, port)
    assert services["app"]["depends_on"].keys() == {postgres, asterisk}
    assert services["kannel"]["profiles"] == ["sms"]
    assert all("profiles" not in services[n] for n in names - {"kannel"})
    app_env = services["app"]["environment"]
    assert f"@{postgres}:5432/" in app_env["CALLBACK_DATABASE_URL"]
    assert app_env["CALLBACK_ARI_URL"] == f"http://{asterisk}:8088"
    # ARI stays inside the compose network; SIP and RTP reach the phones and the carrier.
    assert all(not p.startswith("8088") for p in services[asterisk].get("ports", []))


def test_no_secret_is_written_into_the_compose_file() -> None:
    secret = re.compile(r"PASSWORD|TOKEN|SECRET")
    for name, svc in compose()["services"].items():
        for key, value in svc.get("environment", {}).items():
            if secret.search(key):
                assert str(value).startswith("${"), (name, key)
    url = compose()["services"]["app"]["environment"]["CALLBACK_DATABASE_URL"]
    assert ":${POSTGRES_PASSWORD:?" in url


def test_the_asterisk_image_is_a_pinned_lts_release() -> None:
    dockerfile = (REPO / "docker/asterisk/Dockerfile").read_text(encoding="utf-8")
    version = re.search(r"ARG ASTERISK_VERSION=(\S+)", dockerfile)
    assert version and re.fullmatch(r"(20|22)\.\d+\.\d+", version.group(1))
    assert compose()["services"]["asterisk"]["build"]["args"]["ASTERISK_VERSION"] == version.group(1)
    assert "sha256sum -c" in dockerfile


@pytest.mark.parametrize("script", ["docker/asterisk/entrypoint.sh", "docker/kannel/entrypoint.sh"])
def test_entrypoint_scripts_parse(script: str) -> None:
    shell = "bash" if "kannel" in script else "sh"
    done = subprocess.run(
        [shell, "-n", str(REPO / script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr


def test_the_example_configuration_loads() -> None:
    settings = load_settings(REPO / "deploy/callback.example.toml", environ={})
    assert settings.ari.trunk_template == "PJSIP/{number}@trunk"
    assert [a.endpoint for a in settings.admins] == ["PJSIP/admin"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze not installed")
def test_the_systemd_units_verify() -> None:
    units = [str(REPO / "deploy/callback.service"), str(REPO / "deploy/callback-worker@.service")]
    done = subprocess.run(
        ["systemd-analyze", "verify", *units], capture_output=True, text=True, timeout=60, check=False
    )
    # The only complaint allowed here: the program is not installed on this machine.
    problems = [line for line in done.stderr.splitlines() if line.strip() and "is not executable" not in line]
    assert problems == []
