"""Settings fail loudly at start on a bad value, and production settings pass
`check --deploy`. Each case runs a fresh interpreter with a clean environment."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STRONG_KEY = "x7Q!k2-Lm9#vR4tZ8pW1nB6yC3sD5fG0hJ-uE7iO2aK9lM4qN8rT1vX6zY3wP5bS"


def run(args: list[str], **env: str) -> subprocess.CompletedProcess:
    clean = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "marketplace.settings", **env}
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120
    )


def start(**env: str) -> subprocess.CompletedProcess:
    return run(["-c", "import django; django.setup()"], **env)


def test_missing_secret_key_with_debug_off_stops_start():
    result = start(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "1", "EMAIL_PORT": "twenty"}, "EMAIL_PORT='twenty' is not a whole number"),
        ({"DEBUG": "1", "EMAIL_BACKEND": "pigeon"}, "EMAIL_BACKEND='pigeon' must be one of"),
        (
            {"DEBUG": "1", "CSRF_TRUSTED_ORIGINS": "example.org"},
            "must start with http:// or https://",
        ),
        ({"DEBUG": "1", "DATABASE_URL": "oracle-ish://x"}, "oracle-ish"),
    ],
)
def test_bad_values_fail_with_a_clear_message(env, message):
    result = start(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_embedded_default_needs_no_environment_beyond_debug():
    result = run(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.DATABASES['default']['ENGINE'], s.CHANNEL_LAYERS['default']['BACKEND'], "
            "s.CACHES['default']['BACKEND'], s.CELERY_TASK_ALWAYS_EAGER)",
        ],
        DEBUG="true",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "django.db.backends.sqlite3",
        "channels.layers.InMemoryChannelLayer",
        "django.core.cache.backends.locmem.LocMemCache",
        "True",
    ]


def test_redis_url_switches_channels_cache_and_celery():
    result = run(
        [
            "-c",
            "import django; django.setup(); from django.conf import settings as s; "
            "print(s.CHANNEL_LAYERS['default']['BACKEND'], s.CACHES['default']['BACKEND'], "
            "s.CELERY_BROKER_URL, s.CELERY_TASK_ALWAYS_EAGER)",
        ],
        DEBUG="true",
        REDIS_URL="redis://127.0.0.1:6379/3",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "channels_redis.core.RedisChannelLayer",
        "marketplace.cache.RedisCache",
        "redis://127.0.0.1:6379/3",
        "False",
    ]


def test_check_deploy_passes_with_no_warnings_when_debug_is_off():
    result = run(
        ["manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        DEBUG="false",
        SECRET_KEY=STRONG_KEY,
        ALLOWED_HOSTS="work.example.org",
        CSRF_TRUSTED_ORIGINS="https://work.example.org",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_bad_pay_floor_fails_with_the_entry_named():
    result = start(DEBUG="1", PAY_FLOOR_HOURLY_MINOR="USD:2.00")
    assert result.returncode != 0
    assert "PAY_FLOOR_HOURLY_MINOR entry 'USD:2.00' must look like USD:200" in result.stderr


def test_env_example_placeholder_secret_key_is_refused_with_debug_off():
    placeholder = next(
        line.split("=", 1)[1]
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line.startswith("SECRET_KEY=")
    )
    result = start(DEBUG="false", SECRET_KEY=placeholder, ALLOWED_HOSTS="localhost")
    assert result.returncode != 0
    assert "SECRET_KEY is still .env.example's placeholder" in result.stderr
    assert start(DEBUG="false", SECRET_KEY=STRONG_KEY, ALLOWED_HOSTS="localhost").returncode == 0


def test_env_example_comments_stating_a_default_sit_beside_their_setting():
    """A comment that states a default describes the setting right below it (at most
    one more comment line between): TASK_UPLOAD_MAX_ROWS's once sat above the quality
    block's comments."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    setting = re.compile(r"#? ?[A-Z][A-Z0-9_]+=")
    for number, line in enumerate(lines, start=1):
        if line.startswith("#") and re.search(r"\bDefaults? ?:? \S.*\.$", line):
            assert any(setting.match(after) for after in lines[number : number + 2]), (
                number,
                line,
            )
