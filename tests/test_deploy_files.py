"""No Docker engine runs in CI, so the compose file's structure is checked here:
every service CI and users rely on exists, with health checks where others wait
on them, and the Dockerfile runs as a non-root user on Python 3.11."""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services_with_health_checks():
    services = load_compose()["services"]
    assert {"db", "redis", "web", "worker", "beat"} <= services.keys()
    for name in ("db", "redis", "web"):
        assert "healthcheck" in services[name], name
    assert "daphne" in " ".join(map(str, [services["web"].get("command", "")]))
    assert "celery" in str(services["worker"]["command"]) and "worker" in str(
        services["worker"]["command"]
    )
    assert "beat" in str(services["beat"]["command"])


def test_compose_dependencies_exist_and_volumes_are_named():
    compose = load_compose()
    services = compose["services"]
    for name, service in services.items():
        depends = service.get("depends_on", {})
        for target in depends if isinstance(depends, (list, dict)) else []:
            assert target in services, f"{name} depends on unknown {target}"
    named = set(compose.get("volumes", {}))
    for service in services.values():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source")
            if not source.startswith((".", "/")):
                assert source in named, source


def test_app_services_point_at_postgres_and_redis():
    services = load_compose()["services"]
    for name in ("web", "worker", "beat"):
        environment = services[name].get("environment", {})
        text = str(environment)
        assert "DATABASE_URL" in text and "postgres" in text, name
        assert "REDIS_URL" in text, name


def test_dockerfile_is_python_311_slim_and_non_root():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "FROM python:3.11-slim" in dockerfile
    assert "--require-hashes" in dockerfile
    user_lines = [line for line in dockerfile.splitlines() if line.strip().startswith("USER ")]
    assert user_lines and user_lines[-1].split()[1] not in ("root", "0")


def test_env_example_names_every_required_setting():
    example = (ROOT / ".env.example").read_text()
    for name in ("SECRET_KEY", "DATABASE_URL", "REDIS_URL", "ALLOWED_HOSTS", "DEBUG"):
        assert f"{name}=" in example, name


def test_env_example_loads_cleanly():
    from tests.marketplace.test_settings import start

    env = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _sep, value = line.partition("=")
            env[name.strip()] = value.strip()
    result = start(**env)
    assert result.returncode == 0, result.stderr
