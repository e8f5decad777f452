import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from marketplace import services as accounts
from marketplace.models import ApiKey
from payouts.services import credit_organization
from tasks.models import Task, TaskSet

pytestmark = pytest.mark.django_db

NEW_SET = {
    "title": "Signs",
    "kind": "label",
    "label_options": ["stop", "yield"],
    "reward_minor": 5,
    "expected_seconds_per_task": 30,
}


def api(secret: str | None = None) -> APIClient:
    client = APIClient()
    if secret:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def secret(requester, requester_org):
    return accounts.create_api_key(
        organization=requester_org, actor=requester, name="script"
    ).secret


def task_file(text: str) -> SimpleUploadedFile:
    return SimpleUploadedFile("tasks.csv", text.encode(), content_type="text/csv")


GOOD = (
    "external_id,text,gold_answer\n"
    + "".join(f"r{i},x,\n" for i in range(10))
    + "".join(f"g{i},x,stop\n" for i in range(5))
)


def test_key_is_shown_once_and_stored_hashed(client, requester, requester_org):
    client.force_login(requester)
    response = client.post(reverse("api_key_create", args=[requester_org.slug]), {"name": "etl"})
    secret = re.search(r'<code id="api-key">([^<]+)</code>', response.content.decode()).group(1)
    key = ApiKey.objects.get()
    assert secret.startswith(f"mk_{key.prefix}_") and secret not in key.key_hash
    page = client.get(reverse("requester_home")).content.decode()
    assert key.prefix in page and secret not in page


def test_full_flow_by_api_with_one_error_format(admin_user, requester_org, secret):
    client = api(secret)
    created = client.post("/api/v1/task-sets/", NEW_SET, format="json")
    assert created.status_code == 201, created.json()
    set_id = created.json()["id"]

    bad = client.post(
        f"/api/v1/task-sets/{set_id}/tasks/",
        {"file": task_file(GOOD + "r1,dup,\n")},
        format="multipart",
    )
    assert bad.status_code == 400
    error = bad.json()["error"]
    assert error["code"] == "invalid_file"
    assert error["details"] == [
        {"line": 17, "field": "external_id", "message": "Duplicate of line 3."}
    ]
    assert not Task.objects.exists()

    good = client.post(
        f"/api/v1/task-sets/{set_id}/tasks/", {"file": task_file(GOOD)}, format="multipart"
    )
    assert good.status_code == 201 and good.json() == {"created": 15}

    refused = client.post(f"/api/v1/task-sets/{set_id}/publish/")
    assert refused.status_code == 400 and "Add funds first" in refused.json()["error"]["message"]

    credit_organization(
        organization=requester_org,
        amount_minor=10_000,
        currency="USD",
        actor=admin_user,
        reason="t",
    )
    published = client.post(f"/api/v1/task-sets/{set_id}/publish/")
    assert published.status_code == 200 and published.json()["status"] == "published"
    detail = client.get(f"/api/v1/task-sets/{set_id}/").json()
    assert detail["hourly_pay_minor"] == 600
    assert (
        detail["cost"]["total_minor"]
        == detail["cost"]["worker_pay_minor"] + detail["cost"]["fee_minor"]
    )
    assert ApiKey.objects.get().last_used_at is not None


def test_invalid_fields_are_named(secret):
    response = api(secret).post(
        "/api/v1/task-sets/", {**NEW_SET, "label_options": ["only"]}, format="json"
    )
    assert response.status_code == 400
    assert "label_options" in response.json()["error"]["details"]
    response = api(secret).post(
        "/api/v1/task-sets/", {**NEW_SET, "reward_minor": 0.5}, format="json"
    )
    assert response.status_code == 400 and "reward_minor" in response.json()["error"]["details"]
    assert not TaskSet.objects.exists()


def test_a_key_sees_only_its_own_organization(secret, outsider):
    from marketplace.models import Organization

    other_org = Organization.objects.get(name="Other Corp")
    other_set = TaskSet.objects.create(
        organization=other_org, created_by=outsider, title="Theirs", kind="label",
        label_options=["a", "b"], reward_minor=5,
    )  # fmt: skip
    client = api(secret)
    assert client.get("/api/v1/task-sets/").json() == []
    for response in (
        client.get(f"/api/v1/task-sets/{other_set.pk}/"),
        client.post(f"/api/v1/task-sets/{other_set.pk}/cancel/"),
        client.post(
            f"/api/v1/task-sets/{other_set.pk}/tasks/",
            {"file": task_file(GOOD)},
            format="multipart",
        ),
    ):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    response = client.post(
        "/api/v1/task-sets/", {**NEW_SET, "organization": other_org.slug}, format="json"
    )
    assert response.status_code == 404
    other_set.refresh_from_db()
    assert other_set.status == "draft" and not other_set.tasks.exists()


def test_missing_bad_and_revoked_keys_are_refused(requester, secret):
    assert api().get("/api/v1/task-sets/").status_code in (401, 403)
    bad = api("mk_deadbeef_nope").get("/api/v1/task-sets/")
    assert bad.status_code == 401 and bad.json()["error"]["code"] == "authentication_failed"
    accounts.revoke_api_key(key_id=ApiKey.objects.get().pk, actor=requester)
    assert api(secret).get("/api/v1/task-sets/").status_code == 401


def test_key_stops_working_when_its_creator_leaves(requester, requester_org, secret):
    requester.memberships.filter(organization=requester_org).delete()
    assert api(secret).get("/api/v1/task-sets/").status_code == 401


def test_key_stops_working_when_its_creator_is_deactivated(requester, secret):
    assert api(secret).get("/api/v1/task-sets/").status_code == 200
    requester.is_active = False
    requester.save(update_fields=["is_active"])
    refused = api(secret).get("/api/v1/task-sets/")
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "authentication_failed"


def test_schema_validates_and_docs_are_self_hosted(client, tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )
    assert "/api/v1/task-sets/{task_set_id}/tasks/" in (tmp_path / "schema.yml").read_text()
    docs = client.get(reverse("api_docs")).content.decode()
    assert "redoc" in docs.lower()
    assert not re.search(r'(?:src|href)="(?:https?:)?//', docs)
