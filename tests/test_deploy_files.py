"""No Docker engine runs in CI, so the compose file's structure is checked here:
every service CI and users rely on exists, with health checks where others wait
on them, and the Dockerfile runs as a non-root user on Python 3.11."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def load_compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_production_services_with_health_checks():
    services = load_compose()["services"]
    assert {"db", "redis", "web", "nginx", "worker-fast", "worker-heavy", "beat"} <= (
        services.keys()
    )
    for name in ("db", "redis", "web", "nginx"):
        assert "healthcheck" in services[name], name
    # Daphne through marketplace.serve, which accepts WebSocket compression.
    assert "marketplace.serve" in " ".join(map(str, [services["web"].get("command", "")]))
    for name in ("worker-fast", "worker-heavy"):
        assert {"celery", "worker"} <= set(command_of(services[name])), name
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
    for name in ("web", "worker-fast", "worker-heavy", "beat"):
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
    # The example's SECRET_KEY is a placeholder the settings refuse with DEBUG off (on
    # purpose: tests/marketplace/test_settings.py); every other value must load as is.
    assert env["SECRET_KEY"].startswith("replace-me")
    env["SECRET_KEY"] = "a-deployment-specific-secret-key-of-fifty-characters-0123456789"
    result = start(**env)
    assert result.returncode == 0, result.stderr


def command_of(service: dict) -> list[str]:
    command = service.get("command", [])
    return command.split() if isinstance(command, str) else [str(part) for part in command]


def test_web_scales_behind_nginx_without_a_host_port():
    services = load_compose()["services"]
    web = services["web"]
    # `docker compose up --scale web=N`: a fixed host port would clash from the second
    # replica on, and would let clients reach Daphne around the proxy.
    assert "ports" not in web
    assert "container_name" not in web
    assert web["environment"]["ALLAUTH_TRUSTED_PROXY_COUNT"] == "1"
    nginx = services["nginx"]
    assert str(nginx["image"]).startswith("nginx:")
    assert any(str(port).endswith(":80") for port in nginx["ports"])
    assert "healthcheck" in nginx
    assert nginx["depends_on"]["web"]["condition"] == "service_healthy"
    assert nginx["depends_on"]["static"]["condition"] == "service_completed_successfully"


def test_nginx_mounts_the_committed_configuration_and_the_static_volume():
    services = load_compose()["services"]
    mounts = {}
    for volume in services["nginx"]["volumes"]:
        source, target, *mode = volume.split(":")
        mounts[target] = (source, mode)
    assert mounts["/etc/nginx/nginx.conf"] == ("./deploy/nginx/nginx.conf", ["ro"])
    assert mounts["/etc/nginx/conf.d/marketplace.conf"] == (
        "./deploy/nginx/marketplace.conf",
        ["ro"],
    )
    for source, _mode in mounts.values():
        if source.startswith("./"):
            assert (ROOT / source).is_file(), source
    # The static volume nginx serves is the one collectstatic fills.
    static_source = mounts["/srv/static"][0]
    assert f"{static_source}:/app/staticfiles" in services["static"]["volumes"]
    assert "collectstatic" in command_of(services["static"])
    # The static service runs as the image's user: a new volume copies the image's
    # directory, owner included, so that user must own it.
    assert "chown -R app:app /app/staticfiles" in (ROOT / "Dockerfile").read_text()
    main = (ROOT / "deploy/nginx/nginx.conf").read_text()
    assert "include /etc/nginx/conf.d/marketplace.conf;" in main


def test_nginx_site_proxies_websockets_and_sets_forwarded_headers():
    site = (ROOT / "deploy/nginx/marketplace.conf").read_text()
    for line in (
        "proxy_set_header Upgrade $http_upgrade;",
        "proxy_set_header Connection $connection_upgrade;",
        "proxy_set_header Host $http_host;",
        # Replaced, never appended to ($proxy_add_x_forwarded_for): a client's own
        # entries would otherwise reach Django.
        "proxy_set_header X-Forwarded-For $remote_addr;",
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "gzip on;",
        "alias /srv/static/;",
        "server web:8000 resolve",
    ):
        assert line in site, line
    directives = "\n".join(line.split("#")[0] for line in site.splitlines())
    assert "ip_hash" not in directives and "sticky" not in directives  # no sticky sessions
    # Longer than the work page's heartbeat (a ping every 25 s, 10 s for the pong) and
    # Daphne's (20 s): an idle socket is never cut by the proxy.
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", site)
    assert read_timeout and int(read_timeout.group(1)) > 35
    work_js = (ROOT / "static/tasks/work.js").read_text()
    ping_every_ms = int(re.search(r"\}, (\d+)\);\naddEventListener\(\"online\"", work_js).group(1))
    assert int(read_timeout.group(1)) * 1000 > ping_every_ms + 10_000


def test_a_celery_worker_consumes_every_queue_jobs_are_routed_to():
    from django.conf import settings

    services = load_compose()["services"]
    consumed = {}
    for name, service in services.items():
        command = command_of(service)
        if "celery" in command and "worker" in command:
            assert "-Q" in command, f"{name} consumes no named queue"
            for queue in command[command.index("-Q") + 1].split(","):
                consumed[queue] = name
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    routed.add(settings.CELERY_TASK_DEFAULT_QUEUE)
    assert routed <= consumed.keys()
    # Settling never shares a worker with the fraud scan.
    fast = settings.CELERY_TASK_ROUTES["tasks.tasks.settle_closed_tasks"]["queue"]
    heavy = settings.CELERY_TASK_ROUTES["reputation.tasks.scan_fraud_signals"]["queue"]
    assert fast != heavy and consumed[fast] != consumed[heavy]


def test_make_run_and_the_image_start_daphne_with_websocket_compression():
    root = Path(__file__).resolve().parents[1]
    assert "-m marketplace.serve " in (root / "Makefile").read_text()
    cmd = next(
        line for line in (root / "Dockerfile").read_text().splitlines() if line.startswith("CMD")
    )
    assert '"marketplace.serve"' in cmd
