"""Personas and service checks shared by the whole suite.

With REQUIRE_SERVICES=1 (as .ci/run sets), the run stops at once, failing, unless
DATABASE_URL points at a reachable PostgreSQL and REDIS_URL at a reachable Redis:
CI must never pass by quietly skipping the real services.
"""

import os

import pytest
from allauth.account.models import EmailAddress
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.utils import translation

from marketplace.models import Membership, Organization, WorkerProfile
from tests.factories import OrganizationFactory, UserFactory, WorkerProfileFactory
from tests.work_helpers import qualify

pytest_plugins = ["tests.fake_stripe.fixtures"]

PASSWORD = "a-Strong-test-pass-42"


def _check_services() -> list[str]:
    problems = []
    database = settings.DATABASES["default"]
    if database["ENGINE"] != "django.db.backends.postgresql":
        problems.append(f"DATABASE_URL is not PostgreSQL (engine {database['ENGINE']})")
    else:
        import psycopg

        try:
            psycopg.connect(
                host=database["HOST"],
                port=database["PORT"] or 5432,
                user=database["USER"],
                password=database["PASSWORD"],
                dbname="postgres",
                connect_timeout=3,
            ).close()
        except psycopg.Error as exc:
            problems.append(f"PostgreSQL unreachable: {exc}")
    if not settings.REDIS_URL:
        problems.append("REDIS_URL is not set")
    else:
        import redis

        try:
            redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=3).ping()
        except redis.RedisError as exc:
            problems.append(f"Redis unreachable: {exc}")
    return problems


def pytest_sessionstart(session):
    if os.environ.get("REQUIRE_SERVICES") == "1":
        problems = _check_services()
        if problems:
            pytest.exit("REQUIRE_SERVICES=1 but: " + "; ".join(problems), returncode=3)


def pytest_collection_modifyitems(config, items):
    """Tests marked `redis` need REDIS_URL: skipped on a laptop without it, never in CI."""
    if settings.REDIS_URL:
        return
    skip = pytest.mark.skip(reason="REDIS_URL not set (CI sets REQUIRE_SERVICES=1 and runs these)")
    for item in items:
        if "redis" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _collected_static(django_db_blocker):
    # Pages use the manifest storage, as in production: it needs collectstatic.
    from django.core.management import call_command

    call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _socket_database_connections(django_db_blocker):
    # Sockets' database work keeps connections, in a pool of threads and in a pool
    # per event loop (tasks.work_async): end them after each test, or the test
    # database could not be dropped at the end.
    yield
    from tasks import work_async

    work_async.close_database_threads()
    backends = work_async.forget_ended_loops()
    if backends:
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s) AS pid", [backends])


@pytest.fixture(autouse=True)
def _clean_cache():
    # Rate-limit counters live in the cache; each test starts with none.
    cache.clear()
    yield


@pytest.fixture(autouse=True)
def _site_language():
    # The test client's LocaleMiddleware activates a page's language in this thread and
    # leaves it there: a Khmer page must not make the next test's strings Khmer.
    yield
    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _fresh_channel_layer():
    # Each test's async_to_sync runs its own event loop; a Redis channel layer kept
    # from an earlier test holds locks bound to that test's (closed) loop.
    from channels.layers import channel_layers

    channel_layers.backends = {}
    yield
    channel_layers.backends = {}


def _verified(user):
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def admin_user(db):
    return UserFactory(username="admin", is_staff=True, email="admin@example.org")


@pytest.fixture
def requester_org(db):
    return OrganizationFactory(name="Acme Labels", kind=Organization.Kind.REQUESTER)


@pytest.fixture
def requester(requester_org):
    user = _verified(UserFactory(username="rita", email="rita@acme.example"))
    Membership.objects.create(user=user, organization=requester_org, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def outsider(db):
    """A requester of another organization: must see nothing of Acme's."""
    other = OrganizationFactory(name="Other Corp", kind=Organization.Kind.REQUESTER)
    user = _verified(UserFactory(username="otto", email="otto@other.example"))
    Membership.objects.create(user=user, organization=other, role=Membership.Role.ADMIN)
    return user


@pytest.fixture
def centre(db):
    return OrganizationFactory(name="Siem Reap Youth Centre", kind=Organization.Kind.CENTRE)


@pytest.fixture
def coordinator(centre):
    user = UserFactory(username="kosal")
    Membership.objects.create(user=user, organization=centre, role=Membership.Role.COORDINATOR)
    return user


@pytest.fixture
def vetted_worker(centre):
    """Vetted and past training in every skill."""
    return qualify(
        WorkerProfileFactory(
            user__username="sokha", centre=centre, status=WorkerProfile.Status.VETTED
        ).user
    )


@pytest.fixture
def applicant(centre, coordinator):
    """Enrolled by the centre's coordinator, application submitted."""
    return WorkerProfileFactory(
        user__username="channary",
        centre=centre,
        status=WorkerProfile.Status.APPLIED,
        enrolled_by=coordinator,
    ).user
