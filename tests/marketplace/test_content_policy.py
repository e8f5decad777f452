"""Every response carries a Content-Security-Policy: scripts and styles only from our
own static files, images only from our own site, and the page's own WebSocket."""

import re
from pathlib import Path

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {
        name: values
        for name, *values in (part.split() for part in header.split(";") if part.strip())
    }


def assert_strict(response, url: str) -> dict[str, list[str]]:
    directives = policy(response)
    assert directives["img-src"] == ["'self'"], url
    assert directives["script-src"] == ["'self'"], url
    assert directives["object-src"] == ["'none'"], url
    assert directives["frame-ancestors"] == ["'none'"], url
    return directives


def test_pages_for_anyone_carry_the_policy(client):
    for url in ("/", reverse("account_login"), reverse("account_signup"), "/admin/login/", "/x/"):
        assert_strict(client.get(url), url)


def test_pages_for_each_role_carry_the_policy(client, vetted_worker, requester, admin_user):
    pages = {
        vetted_worker: [reverse("worker_home"), "/work/", reverse("worker_earnings")],
        requester: [reverse("requester_home"), "/requester/sets/", reverse("requester_billing")],
        admin_user: ["/admin/", reverse("vetting_queue")],
    }
    for user, urls in pages.items():
        client.force_login(user)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            assert_strict(response, url)


def test_the_api_docs_page_alone_allows_what_redoc_needs(client, requester):
    client.force_login(requester)
    docs = policy(client.get(reverse("api_docs")))
    assert docs["script-src"] == ["'self'"]
    # Images from data: URLs (Redoc's icons) make no request; no other host is allowed.
    assert docs["img-src"] == ["'self'", "data:"]
    assert docs["style-src"] == ["'self'", "'unsafe-inline'"]
    assert docs["worker-src"] == ["blob:"]
    assert policy(client.get(reverse("requester_home")))["style-src"] == ["'self'"]


def test_connect_src_names_the_pages_own_websocket(client, vetted_worker):
    client.force_login(vetted_worker)
    # The Host the browser sent, as location.host in the page's scripts.
    plain = policy(client.get("/work/", HTTP_HOST="localhost:8000"))["connect-src"]
    assert plain == ["'self'", "ws://localhost:8000"]
    secure = client.get("/work/", HTTP_HOST="testserver", HTTP_X_FORWARDED_PROTO="https")
    assert policy(secure)["connect-src"] == ["'self'", "wss://testserver"]


def test_a_request_for_an_unknown_host_still_gets_a_policy(client):
    response = client.get("/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert policy(response)["connect-src"] == ["'self'"]


def test_no_template_has_inline_script_style_or_event_handlers():
    # The policy allows none of these: one would be silently blocked in the browser.
    offenders = []
    for path in TEMPLATES.rglob("*.html"):
        html = path.read_text(encoding="utf-8")
        for tag in re.findall(r"<script\b[^>]*>", html):
            if "src=" not in tag and 'type="application/json"' not in tag:
                offenders.append(f"{path.name}: {tag}")
        offenders += [f"{path.name}: <style>" for _ in re.findall(r"<style\b", html)]
        offenders += [f"{path.name}: {m}" for m in re.findall(r"\s(on[a-z]+|style)=", html)]
    assert offenders == []
