"""The one scrubber: every credential form is masked in messages and in stored errors."""

from __future__ import annotations

import base64
import sqlite3

from bbmirror.config import Credentials, Secret
from bbmirror.http.scrub import remember_credentials, scrub, scrub_value
from bbmirror.store.db import Store

PASSWORD = "correct-horse-battery-staple"
PAIR = f"carol:{PASSWORD}"
B64 = base64.b64encode(PAIR.encode()).decode()


def test_every_credential_shape_is_masked_without_knowing_the_secret():
    text = (
        "GET https://dave:s3cr3t-pw@bitbucket.example/rest failed; "
        '{"Authorization": "Bearer abcdef123456789"}; header Authorization: Basic '
        + base64.b64encode(b"eve:another-secret").decode()
        + "; retry with Bearer zyxwvut987654 later"
    )
    cleaned = scrub(text)
    for leaked in ("s3cr3t-pw", "dave:", "abcdef123456789", "zyxwvut987654", "another-secret"):
        assert leaked not in cleaned
    assert base64.b64encode(b"eve:another-secret").decode() not in cleaned
    assert "https://***@bitbucket.example/rest failed" in cleaned


def test_plain_words_are_left_alone():
    text = "Basic auth for carol failed; the author's bearer token label is fine"
    assert scrub(text) == text


def test_a_remembered_credential_is_masked_in_each_derived_form():
    remember_credentials(Credentials(username="carol", api_token=Secret(PASSWORD)))
    for form in (PASSWORD, PAIR, B64):
        assert PASSWORD not in scrub(f"echo: {form}")
    assert B64 not in scrub(f"got header basic-ish {B64} back")


def test_scrub_value_redacts_secret_keys_and_scrubs_strings():
    value = {"token": "x", "url": "https://u:p4ssw0rd-1@h/x", "n": [1, "Bearer qwerty12345"]}
    assert scrub_value(value) == {
        "token": "[redacted]",
        "url": "https://***@h/x",
        "n": [1, "Bearer ***"],
    }


def test_stored_errors_and_run_messages_are_scrubbed(tmp_path):
    remember_credentials(Credentials(username="carol", api_token=Secret(PASSWORD)))
    db = str(tmp_path / "m.db")
    store = Store.open(db)
    run = store.start_run("dc", {})
    store.record_error(
        run,
        "dc",
        "pullrequests",
        f"500 from https://carol:{PASSWORD}@dc.example/rest",
        f'{{"message": "Authorization: Basic {B64}", "echo": "{PAIR}"}}',
    )
    store.finish_run(run, "partial", {}, 1, 1, f"failed at https://carol:{PASSWORD}@dc.example")
    store.close()
    conn = sqlite3.connect(db)
    stored = " ".join(
        str(v)
        for row in conn.execute("select reason, payload from sync_errors").fetchall()
        + conn.execute("select message from sync_runs").fetchall()
        for v in row
    )
    conn.close()
    assert "dc.example" in stored
    for leaked in (PASSWORD, B64, PAIR):
        assert leaked not in stored
