"""API tokens: created with the key shown once, used as `Authorization: Token …`, revoked."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from podium.accounts.models import ApiToken

pytestmark = pytest.mark.django_db


def _token_client(key: str) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_create_shows_key_once_and_stores_only_its_hash(alice_api, alice):
    created = alice_api.post("/api/tokens/", {"name": "laptop"}, format="json")
    assert created.status_code == 201
    key = created.json()["key"]
    assert key.startswith("pdm_") and len(key) > 40
    stored = ApiToken.objects.get(user=alice)
    assert stored.key_hash != key and key not in str(stored.__dict__)
    assert key.startswith(stored.prefix)
    listed = alice_api.get("/api/tokens/").json()
    assert [t["name"] for t in listed] == ["laptop"]
    assert "key" not in listed[0] and key not in alice_api.get("/api/tokens/").content.decode()


def test_token_authenticates_and_revoke_stops_it(alice_api, alice):
    key = alice_api.post("/api/tokens/", {"name": "ci"}, format="json").json()["key"]
    script = _token_client(key)
    me = script.get("/api/me/")
    assert me.status_code == 200 and me.json()["username"] == "alice"
    # Token requests need no CSRF token (there is no cookie to forge).
    assert script.post("/api/tokens/", {"name": "second"}, format="json").status_code == 201
    token_id = ApiToken.objects.get(name="ci").pk
    assert alice_api.delete(f"/api/tokens/{token_id}/").status_code == 204
    refused = script.get("/api/me/")
    assert refused.status_code == 401 and "revoked" in refused.json()["detail"]
    assert [t["name"] for t in alice_api.get("/api/tokens/").json()] == ["second"]
    assert ApiToken.objects.get(pk=token_id).last_used_at is not None


def test_bad_key_is_refused():
    assert _token_client("pdm_not-a-real-key").get("/api/me/").status_code == 401


def test_nobody_revokes_or_sees_anothers_token(alice_api, bob_api, anon_api):
    alice_api.post("/api/tokens/", {"name": "laptop"}, format="json")
    token_id = ApiToken.objects.get().pk
    assert bob_api.get("/api/tokens/").json() == []
    assert bob_api.delete(f"/api/tokens/{token_id}/").status_code == 404
    assert anon_api.delete(f"/api/tokens/{token_id}/").status_code in (401, 403)
    assert anon_api.get("/api/tokens/").status_code in (401, 403)
    assert ApiToken.objects.get().revoked_at is None


def test_create_needs_a_name(alice_api):
    answer = alice_api.post("/api/tokens/", {"name": ""}, format="json")
    assert answer.status_code == 400 and "name" in answer.json()
    assert not ApiToken.objects.exists()


def test_session_writes_need_csrf(alice):
    client = APIClient(enforce_csrf_checks=True)
    # Through the login page, as a browser does: django-axes guards authenticate() with the request.
    client.get("/accounts/login/")
    csrf = client.cookies["csrftoken"].value
    login = {"username": "alice", "password": "correct-horse-battery", "csrfmiddlewaretoken": csrf}
    assert client.post("/accounts/login/", login).status_code == 302
    refused = client.post("/api/tokens/", {"name": "x"}, format="json")
    assert refused.status_code == 403 and "CSRF" in refused.json()["detail"]
    assert not ApiToken.objects.exists()


def test_me(alice_api, anon_api, admin_api):
    assert alice_api.get("/api/me/").json()["is_staff"] is False
    assert admin_api.get("/api/me/").json()["is_staff"] is True
    assert anon_api.get("/api/me/").status_code in (401, 403)


def test_active_tokens_are_capped(alice_api, alice):
    from podium.accounts.services import MAX_ACTIVE_TOKENS, api_token_create

    for i in range(MAX_ACTIVE_TOKENS):
        api_token_create(user=alice, name=f"t{i}")
    refused = alice_api.post("/api/tokens/", {"name": "one more"}, format="json")
    assert refused.status_code == 400 and "revoke one first" in refused.json()["name"][0]
    assert ApiToken.objects.filter(user=alice).count() == MAX_ACTIVE_TOKENS
