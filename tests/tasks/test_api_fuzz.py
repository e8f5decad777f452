"""Schemathesis generates requests from our own OpenAPI schema and sends them to the
app in-process, authenticated with a real API key: no input may cause a server error."""

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from marketplace import services as accounts
from payouts.services import credit_organization
from tasks.models import Task, TaskSet

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_test_connection():
    """As Django's test client does: the in-process WSGI app must not close the
    connection that holds the test's transaction."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_key(admin_user, requester, requester_org):
    credit_organization(
        organization=requester_org,
        amount_minor=100_000,
        currency="USD",
        actor=admin_user,
        reason="t",
    )
    task_set = TaskSet.objects.create(
        organization=requester_org, created_by=requester, title="Fuzzed", kind="label",
        label_options=["a", "b"], reward_minor=5,
    )  # fmt: skip
    Task.objects.create(task_set=task_set, external_id="1", payload_text="x")
    return accounts.create_api_key(organization=requester_org, actor=requester, name="fuzz").secret


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_no_input_causes_a_server_error(case, api_key):
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api_key}"}, checks=[not_a_server_error]
    )
