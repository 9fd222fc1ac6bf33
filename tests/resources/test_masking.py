"""The one masking function on every form of URL the project prints or stores."""

from __future__ import annotations

import pytest

from resources.masking import mask, secret_name, secrets_in, token_like
from resources.registry import mask_uri
from resources.source import mask_url

SLACK = "https://hooks.slack.com/services/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"
HOOK_TOKEN = "Zk3_aQ9x-LmN0pQrStUv7w"
HOOK = f"http://127.0.0.1:8080/hooks/{HOOK_TOKEN}?token=qs-s3cret&channel=ops"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        # SQLAlchemy URLs, with and without a driver: the user, host, port and database stay.
        (
            "postgresql+psycopg2://crm_reader:s3cr3t@db.internal:5432/crm",
            "postgresql+psycopg2://crm_reader:***@db.internal:5432/crm",
        ),
        ("postgresql://u:p@h:5432/db", "postgresql://u:***@h:5432/db"),
        (
            "mysql+pymysql://app:p%40ss%2Fw0rd@10.0.0.5/shop",
            "mysql+pymysql://app:***@10.0.0.5/shop",
        ),
        # A password with a raw '/' or '?' (SQLAlchemy accepts one) is hidden whole.
        ("postgresql://u:pa/ss?w@h/db", "postgresql://u:***@h/db"),
        # Query passwords, the harmless parameters kept in place.
        (
            "postgresql://u:p@h:5432/db?sslmode=require&password=x",
            "postgresql://u:***@h:5432/db?sslmode=require&password=***",
        ),
        (
            "postgresql+psycopg2://u@h/db?PassWord=q1&application_name=afterlaunch&sslpassword=q2",
            "postgresql+psycopg2://u@h/db?PassWord=***&application_name=afterlaunch&sslpassword=***",
        ),
        # Webhooks: Slack's path, a token segment under /hooks/, tokens in the query.
        (SLACK, "https://hooks.slack.com/services/***/***/***"),
        (HOOK, "http://127.0.0.1:8080/hooks/***?token=***&channel=ops"),
        (
            "https://discord.com/api/webhooks/1234567890/AbCdEf_-123?wait=true",
            "https://discord.com/api/webhooks/***/***?wait=true",
        ),
        (
            "https://api.example.com/v1/notify/8f14e45fceea167a5a36dedd4bea2543/send",
            "https://api.example.com/v1/notify/***/send",
        ),
        # Secret-like parameter names, in the query and in the fragment.
        (
            "https://x.io/a?api_key=K1&sig=S2&X-Amz-Signature=S3&client_secret=S4&page=2"
            "#access_token=T5&state=ok",
            "https://x.io/a?api_key=***&sig=***&X-Amz-Signature=***&client_secret=***&page=2"
            "#access_token=***&state=ok",
        ),
        # Nothing secret: unchanged.
        ("sqlite:////tmp/home/mlflow/mlflow.db", "sqlite:////tmp/home/mlflow/mlflow.db"),
        ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("https://sqlalche.me/e/20/e3q8", "https://sqlalche.me/e/20/e3q8"),
        ("file:///tmp/mlflow/artifacts/1/0123456789abcdef0123456789abcdef/artifacts",) * 2,
    ],
)
def test_each_form_of_url_is_masked_and_says_where(url, masked):
    assert mask(url) == masked
    assert mask(masked) == masked  # idempotent


def test_urls_inside_a_sentence_a_repr_and_a_json_text_are_masked_each():
    text = (
        "table t not found in postgresql://u:pw1@h/db?password=pw2, then "
        "CrmSimulator('postgresql+psycopg2://crm:pw3@db/crm', seed=7) posted to "
        f'{{"url": "{SLACK}"}} and <{HOOK}>.'
    )
    masked = mask(text)
    for secret in ("pw1", "pw2", "pw3", "Xq7Rt9Lm2Np4Vw6Yz8Ab1Cd3", HOOK_TOKEN, "qs-s3cret"):
        assert secret not in masked
    assert masked == (
        "table t not found in postgresql://u:***@h/db?password=***, then "
        "CrmSimulator('postgresql+psycopg2://crm:***@db/crm', seed=7) posted to "
        '{"url": "https://hooks.slack.com/services/***/***/***"} and '
        "<http://127.0.0.1:8080/hooks/***?token=***&channel=ops>."
    )
    assert mask(masked) == masked


def test_text_without_a_url_or_a_secret_is_untouched():
    for text in (
        "",
        "wrote 3 days of ticket_escalation source data",
        "raw_volume: 1,204 rows, 48% of the median (key=ticket/raw.raw_volume:2026-03-02)",
        "a token is needed; see the password policy",
    ):
        assert mask(text) == text


def test_libpq_keyword_value_passwords_are_masked_outside_urls():
    dsn = "host=db port=5432 user=crm password='s3 cr3t' dbname=crm sslpassword=k3y"
    assert mask(dsn) == "host=db port=5432 user=crm password=*** dbname=crm sslpassword=***"


def test_secrets_of_known_urls_are_blanked_where_a_library_quotes_them_without_the_url():
    quoted = (
        "HTTPConnectionPool(host='127.0.0.1', port=8080): Max retries exceeded with url: "
        f"/hooks/{HOOK_TOKEN}?token=qs-s3cret (Caused by NewConnectionError)"
    )
    masked = mask(quoted, HOOK)
    assert HOOK_TOKEN not in masked and "qs-s3cret" not in masked
    assert "url: /hooks/***?token=*** (Caused by" in masked
    # URL-decoded forms too (a driver may print the password decoded).
    assert mask("auth failed for p@ss/w0rd", "postgresql://u:p%40ss%2Fw0rd@h/db") == (
        "auth failed for ***"
    )
    # Very short values are not blanked in free text (they would blank ordinary words).
    assert mask("user u failed", "postgresql://u:p@h/db") == "user u failed"


def test_secrets_in_lists_every_secret_a_url_holds_longest_first():
    assert secrets_in("postgresql://u:p%40ss@h/db?password=x%21y&sslmode=require") == [
        "p%40ss",
        "x%21y",
        "p@ss",
        "x!y",
    ]
    assert set(secrets_in(HOOK)) == {HOOK_TOKEN, "qs-s3cret"}
    assert secrets_in("sqlite:////tmp/mlflow.db") == []
    assert secrets_in(mask(HOOK)) == []  # a masked URL holds no secret


def test_names_and_segments_judged_secret():
    for name in ("password", "PWD", "token", "access_token", "api_key", "apikey", "key", "sig"):
        assert secret_name(name), name
    for name in ("auth", "signature", "credential", "credentials", "client_secret", "sas"):
        assert secret_name(name), name
    for name in ("sslmode", "page", "channel", "application_name", "user", "wait"):
        assert not secret_name(name), name
    assert token_like("Xq7Rt9Lm2Np4Vw6Yz8Ab1Cd3") and token_like("8f14e45fceea167a5a36dedd4bea2543")
    for word in ("ticket_escalation", "incoming-webhook-alerts", "2026-03-02", "v1"):
        assert not token_like(word), word


def test_the_registry_and_the_source_delegate_to_it():
    url = "postgresql+psycopg2://u:pw1@h:5432/db?sslmode=require&password=pw2"
    assert mask_uri(url) == mask_url(url) == mask(url)
    # A value that is not a URL at all may be a secret: the source does not echo it.
    assert "s3cr3t" not in mask_url("not a url s3cr3t")


def test_a_dagster_run_page_keeps_its_run_id_while_a_hook_token_is_still_masked():
    run = "http://127.0.0.1:3000/runs/3f2a1b4c-9d8e-4f70-a1b2-c3d4e5f60718"
    assert mask(f"retraining requested ({run})") == f"retraining requested ({run})"
    hook = "https://example.invalid/services/runs/3f2a1b4cAbCdEf0123456789"
    assert "3f2a1b4cAbCdEf0123456789" not in mask(hook)
