import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

# Page weight, as it crosses the wire: tests/marketplace/test_page_weight.py.


def test_pages_make_no_third_party_requests(client, vetted_worker):
    client.force_login(vetted_worker)
    for url in (reverse("home"), reverse("worker_home"), reverse("account_login")):
        html = client.get(url).content.decode()
        assert not re.search(r'(?:src|href)="(?:https?:)?//', html), url


def test_language_switcher_serves_khmer(client):
    response = client.post(reverse("set_language"), {"language": "km", "next": "/"})
    assert response.status_code == 302
    page = client.get(reverse("home")).content.decode()
    assert 'lang="km"' in page
    heading = re.search(r"<h1>(.*?)</h1>", page, re.S).group(1)
    # The heading itself (not just the switcher's own "ខ្មែរ") is translated.
    assert re.search("[\u1780-\u17ff]", heading), heading
    assert "Fair microwork for people" not in page


def test_static_files_are_served_compressed_by_whitenoise(client):
    html = client.get(reverse("home")).content.decode()
    css_url = re.search(r'href="(/static/[^"]+\.css)"', html).group(1)
    response = client.get(css_url, HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response.headers.get("Content-Encoding") == "gzip"
    assert "max-age" in response.headers.get("Cache-Control", "")


def test_login_page_is_in_khmer_too(client):
    client.post(reverse("set_language"), {"language": "km", "next": "/"})
    page = client.get(reverse("account_login")).content.decode()
    assert "ពាក្យសម្ងាត់" in page  # "Password", from the allauth catalogue in locale_vendor
    assert ">Password<" not in page
