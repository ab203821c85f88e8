"""Email through a real SMTP server: verification at sign-up, password reset, and the
notifications (scored, failed, closing soon, reveal), each once, each switchable, only to
confirmed addresses, never with a score the site withholds."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from tests.factories.accounts import PASSWORD
from tests.factories.competitions import make_bare_competition, make_participations
from tests.factories.submissions import make_submission
from tests.smtp_server import body_of

pytestmark = pytest.mark.django_db


def _verify(user):
    from podium.mail.models import MailPreferences

    MailPreferences.objects.update_or_create(
        user=user, defaults={"verified_email": user.email, "verified_at": timezone.now()}
    )


def _link(message, path_start: str) -> str:
    found = re.search(r"http://podium\.test(/\S+)", body_of(message))
    assert found and found.group(1).startswith(path_start), body_of(message)
    return found.group(1)


def _csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def _post(client: Client, path: str, data: dict, page: str):
    client.get(page)
    return client.post(path, {**data, "csrfmiddlewaretoken": client.cookies["csrftoken"].value})


# --- sign-up and verification -------------------------------------------------------------


def test_sign_up_mails_a_link_that_confirms_the_address(smtp, django_capture_on_commit_callbacks):
    from podium.mail import services
    from podium.mail.selectors import email_verified

    client = _csrf_client()
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(
            client,
            "/accounts/signup/",
            {
                "username": "dana",
                "email": "Dana@Example.com",
                "password1": "a-Long-pass-77",
                "password2": "a-Long-pass-77",
            },
            "/accounts/signup/",
        )
    assert response.status_code == 302
    from django.contrib.auth import get_user_model

    dana = get_user_model().objects.get(username="dana")
    # The maintenance worker runs the task; its body is this service.
    assert services.mail_verification_send(user_id=dana.pk) is True
    (message,) = smtp.wait_for(1)
    assert message["To"] == "dana@example.com"
    assert message["Subject"] == "Confirm your email address for Podium"
    link = _link(message, "/accounts/email/confirm/")
    assert not email_verified(user=dana)

    page = Client().get(link, follow=True)  # opened on another device: not signed in
    assert "dana@example.com is confirmed" in page.content.decode()
    assert email_verified(user=dana)
    # A second open of the same link is harmless.
    assert "is confirmed" in Client().get(link, follow=True).content.decode()


def test_a_tampered_expired_or_outdated_link_says_why_and_verifies_nothing(smtp, settings, alice):
    from django.core import signing

    from podium.mail.selectors import email_verified
    from podium.mail.verification import SALT, verification_token_make

    token = verification_token_make(user_id=alice.pk, email=alice.email)
    page = Client().get(f"/accounts/email/confirm/{token[:-3]}xyz/", follow=True).content.decode()
    assert "not valid (it may be cut short)" in page
    old = signing.TimestampSigner(salt=SALT)
    old.timestamp = lambda: signing.b62_encode(int(timezone.now().timestamp()) - 4 * 24 * 3600)
    expired = old.sign_object({"u": alice.pk, "e": alice.email})
    assert "has expired" in Client().get(f"/accounts/email/confirm/{expired}/", follow=True).content.decode()
    alice.email = "alice-new@example.com"
    alice.save()
    page = Client().get(f"/accounts/email/confirm/{token}/", follow=True).content.decode()
    assert "alice@example.com, which your account no longer uses" in page
    assert not email_verified(user=alice)


def test_asking_again_within_a_minute_is_refused_with_the_wait(
    smtp, alice, django_capture_on_commit_callbacks
):
    from podium.errors import Conflict, LimitReached
    from podium.mail import services

    services.mail_verification_send(user_id=alice.pk)
    with pytest.raises(LimitReached, match=r"ask again in \d+ s") as refused:
        services.mail_verification_request(user=alice)
    assert refused.value.retry_after and refused.value.retry_after <= 61
    _verify(alice)
    with pytest.raises(Conflict, match="confirmed already"):
        services.mail_verification_request(user=alice)


def test_the_account_page_resends_the_link_and_saves_choices_with_csrf(smtp, alice):
    from podium.mail.selectors import mail_preferences_for

    client = _csrf_client()
    client.force_login(alice)
    page = client.get("/accounts/").content.decode()
    assert "not confirmed" in page and "Send a new confirmation link" in page
    assert client.post("/accounts/email/", {"entry_scored": "on"}).status_code == 403  # no CSRF token
    response = _post(client, "/accounts/email/", {"entry_scored": "on", "reveal": "on"}, "/accounts/")
    assert response.status_code == 302
    prefs = mail_preferences_for(user=alice)
    assert (prefs.entry_scored, prefs.entry_failed, prefs.closing_soon, prefs.reveal) == (
        True,
        False,
        False,
        True,
    )
    assert "Your mail choices are saved" in client.get("/accounts/").content.decode()
    assert Client().post("/accounts/email/", {}).status_code in (302, 403)  # anonymous: nothing saved


# --- password reset -------------------------------------------------------------------------


def test_password_reset_by_mail_sets_a_new_password(smtp, alice):
    client = _csrf_client()
    response = _post(
        client, "/accounts/password/reset/", {"email": "alice@example.com"}, "/accounts/password/reset/"
    )
    assert response.status_code == 302 and response["Location"] == "/accounts/password/reset/sent/"
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == "Reset your Podium password" and message["To"] == "alice@example.com"
    link = re.search(r"https?://[^/\s]+(/accounts/password/reset/\S+)", body_of(message)).group(1)
    form_page = client.get(link, follow=True)
    set_path = form_page.redirect_chain[-1][0] if form_page.redirect_chain else link
    done = client.post(
        set_path,
        {
            "new_password1": "a-New-pass-99",
            "new_password2": "a-New-pass-99",
            "csrfmiddlewaretoken": client.cookies["csrftoken"].value,
        },
    )
    assert done.status_code == 302 and done["Location"] == "/accounts/password/reset/complete/"
    alice.refresh_from_db()
    assert alice.check_password("a-New-pass-99") and not alice.check_password(PASSWORD)
    # The link works once.
    assert "This link does not work" in client.get(set_path).content.decode()


def test_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(smtp, db):
    client = _csrf_client()
    response = _post(
        client, "/accounts/password/reset/", {"email": "nobody@example.com"}, "/accounts/password/reset/"
    )
    assert response["Location"] == "/accounts/password/reset/sent/"
    assert smtp.messages == []


def test_the_login_page_offers_the_reset(db):
    assert 'href="/accounts/password/reset/"' in Client().get("/accounts/login/").content.decode()


# --- notifications ------------------------------------------------------------------------


@pytest.fixture
def board(alice, bob):
    competition = make_bare_competition()
    make_participations(competition, alice, bob)
    return competition


def test_a_scored_entry_is_mailed_once_with_its_public_score_and_never_the_private(smtp, board, alice):
    from podium.mail import services

    _verify(alice)
    entry = make_submission(
        board,
        alice,
        status="scored",
        attempt=1,
        public_score=0.875,
        private_score=0.5,
        public_ci_low=0.8,
        public_ci_high=0.93,
    )
    assert services.mail_entry_result(submission_id=entry.pk) is True
    assert services.mail_entry_result(submission_id=entry.pk) is False  # a redelivered task
    (message,) = smtp.wait_for(1)
    assert (
        message["Subject"] == f"Your entry #{entry.pk} to {board.title} is scored: 0.875 on the public split"
    )
    text = body_of(message)
    assert "Public score: 0.875 (95% interval 0.8 to 0.93)" in text
    assert "0.5" not in text.replace("0.875", "")  # the private score stays hidden while open
    assert f"http://podium.test/submissions/{entry.pk}/" in text
    assert "http://podium.test/accounts/#email" in text


def test_under_the_ladder_the_mail_withholds_the_exact_score(smtp, alice):
    from podium.mail import services

    competition = make_bare_competition(ladder_enabled=True, ladder_step=0.01)
    make_participations(competition, alice)
    _verify(alice)
    entry = make_submission(competition, alice, status="scored", attempt=1, public_score=0.8765)
    services.mail_entry_result(submission_id=entry.pk)
    (message,) = smtp.wait_for(1)
    assert "0.8765" not in message["Subject"] + body_of(message)
    assert "withheld until the private board is revealed" in body_of(message)


def test_a_failed_entry_is_mailed_with_its_reason(smtp, board, alice):
    from podium.mail import services

    _verify(alice)
    entry = make_submission(
        board, alice, status="failed", attempt=2, error_message="row 3: id 'x9' is not a test id"
    )
    services.mail_entry_result(submission_id=entry.pk)
    (message,) = smtp.wait_for(1)
    assert message["Subject"] == f"Your entry #{entry.pk} to {board.title} failed"
    assert "row 3: id 'x9' is not a test id" in body_of(message)


def test_no_mail_to_an_unconfirmed_address_or_a_kind_switched_off(smtp, board, alice, bob):
    from podium.mail import services

    unconfirmed = make_submission(board, alice, status="scored", attempt=1, public_score=0.9)
    assert services.mail_entry_result(submission_id=unconfirmed.pk) is False
    _verify(bob)
    services.mail_preferences_update(user=bob, entry_failed=False)
    failed = make_submission(board, bob, status="failed", attempt=1, error_message="boom")
    assert services.mail_entry_result(submission_id=failed.pk) is False
    running = make_submission(board, bob, status="running", attempt=1)
    assert services.mail_entry_result(submission_id=running.pk) is False
    assert smtp.messages == []


def test_closing_reminders_go_once_per_deadline_to_participants_who_want_them(smtp, alice, bob, charlie):
    from podium.competitions.models import Competition
    from podium.mail import services

    closing = make_bare_competition()
    Competition.objects.filter(pk=closing.pk).update(ends_at=timezone.now() + timedelta(hours=10))
    later = make_bare_competition()  # closes in days: not yet
    make_participations(closing, alice, bob)
    make_participations(later, charlie)
    for user in (alice, bob, charlie):
        _verify(user)
    services.mail_preferences_update(user=bob, closing_soon=False)

    assert services.mail_closing_reminders() == 1
    assert services.mail_closing_reminders() == 0  # beat runs it every 15 minutes
    (message,) = smtp.wait_for(1)
    assert message["To"] == alice.email and message["Subject"] == f"{closing.title} closes in 10 hours"
    # The organizer moves the deadline: the new one gets its own reminder.
    Competition.objects.filter(pk=closing.pk).update(ends_at=timezone.now() + timedelta(hours=20))
    assert services.mail_closing_reminders() == 1


def test_the_reveal_is_mailed_to_each_participant_once(smtp, alice, bob, django_capture_on_commit_callbacks):
    from podium.competitions.models import Competition
    from podium.leaderboards.services import board_reveal
    from podium.mail import services

    competition = make_bare_competition()
    make_participations(competition, alice, bob)
    _verify(alice)
    _verify(bob)
    Competition.objects.filter(pk=competition.pk).update(ends_at=timezone.now() - timedelta(minutes=1))
    competition.refresh_from_db()
    board_reveal(competition=competition)
    assert services.mail_reveal(competition_id=competition.pk) == 2
    assert services.mail_reveal(competition_id=competition.pk) == 0
    assert sorted(m["To"] for m in smtp.wait_for(2)) == [alice.email, bob.email]
    assert all("the private leaderboard is out" in m["Subject"] for m in smtp.messages)


def test_an_unrevealed_competition_mails_nothing(smtp, board, alice):
    from podium.mail import services

    _verify(alice)
    assert services.mail_reveal(competition_id=board.pk) == 0


def test_an_smtp_server_that_refuses_leaves_the_mail_to_send_again(settings, board, alice):
    from podium.mail import services
    from podium.mail.models import SentMail
    from tests.e2e.harness import free_port

    _verify(alice)
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    entry = make_submission(board, alice, status="scored", attempt=1, public_score=0.9)
    with pytest.raises(OSError):
        services.mail_entry_result(submission_id=entry.pk)
    assert not SentMail.objects.exists()  # the claim rolled back: the task's retry sends it


# --- what the entries and the boards send -------------------------------------------------------


def _maintenance_messages(app) -> list[tuple[str, list]]:
    out = []
    with app.connection_for_read() as conn:
        queue = conn.SimpleQueue("maintenance")
        try:
            while True:
                try:
                    message = queue.get_nowait()
                except queue.Empty:
                    break
                out.append((message.headers["task"], list(message.decode()[0])))
                message.ack()
        finally:
            queue.close()
    return out


def test_an_entry_ending_and_a_reveal_send_their_mail_tasks_after_commit(
    _broker_in_tmp, board, alice, django_capture_on_commit_callbacks
):
    from common.protocol import ENTRY_MAIL_TASK, REVEAL_MAIL_TASK
    from podium.competitions.models import Competition
    from podium.leaderboards.services import board_reveal
    from podium.submissions.services import submission_fail

    _maintenance_messages(_broker_in_tmp)
    entry = make_submission(board, alice, status="running", attempt=1)
    with django_capture_on_commit_callbacks(execute=False) as pending:
        submission_fail(submission_id=entry.pk, attempt=1, message="diverged")
    assert _maintenance_messages(_broker_in_tmp) == []  # nothing before the commit
    for callback in pending:
        callback()
    assert _maintenance_messages(_broker_in_tmp) == [(ENTRY_MAIL_TASK, [entry.pk])]

    Competition.objects.filter(pk=board.pk).update(ends_at=timezone.now() - timedelta(minutes=1))
    board.refresh_from_db()
    with django_capture_on_commit_callbacks(execute=True):
        board_reveal(competition=board)
    assert _maintenance_messages(_broker_in_tmp) == [(REVEAL_MAIL_TASK, [board.pk])]
