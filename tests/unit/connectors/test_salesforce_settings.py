"""The Salesforce source config: names that reach SOQL are plain API names,
the auth block is exactly one complete login flow, secrets never print."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from connectors.salesforce.settings import SalesforceSource
from monitor.config.loader import parse
from monitor.errors import ConfigError

INJECTION = "MQL_Date__c) OR (Name != ''"
YAML = """\
sources:
  sf:
    kind: salesforce
    instance_url: https://acme.my.salesforce.com
    auth: {session_id: "${SF_SESSION}"}
    fields: {mql_at: "MQL_Date__c) OR (Name != ''"}
"""


def source(**changes: Any) -> SalesforceSource:
    config: dict[str, Any] = {
        "kind": "salesforce",
        "instance_url": "https://acme.my.salesforce.com",
        "auth": {"session_id": "00D!abc"},
    }
    config.update(changes)
    return SalesforceSource.model_validate(config)


def error(**changes: Any) -> str:
    with pytest.raises(ValidationError) as caught:
        source(**changes)
    return str(caught.value)


def test_an_injected_field_name_is_refused_at_load() -> None:
    with pytest.raises(ConfigError) as caught:
        parse(YAML, "alignmon.yaml", {"SF_SESSION": "00D!abc"})
    message = str(caught.value)
    assert message.startswith("alignmon.yaml:6: sources.sf.fields.mql_at")
    assert f"{INJECTION!r} is not a Salesforce API name" in message
    assert "letters, digits and underscores" in message


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"fields": {"sql_at": "SQL_Date__c; DELETE"}}, "fields.sql_at"),
        ({"fields": {"sobject": "Lead WHERE Id != null"}}, "fields.sobject"),
        ({"fields": {"first_touch_at": "First Touch"}}, "fields.first_touch_at"),
        ({"deal_fields": {"amount": "Amount)"}}, "deal_fields.amount"),
        ({"segments": {"region": "Region__c, Owner.Email"}}, "segments.region"),
    ],
)
def test_every_configured_name_is_checked(changes: dict[str, Any], where: str) -> None:
    message = error(**changes)
    assert "is not a Salesforce API name" in message
    assert where.split(".")[-1] in message


def test_good_names_and_defaults_load() -> None:
    settings = source(
        fields={"mql_at": "MQL_Date__c", "first_touch_at": "activities"},
        segments={"region": "ns__Region__c"},
    )
    assert settings.fields.lead_at == "CreatedDate"
    assert settings.fields.first_touch_at == "activities"
    assert (settings.deal_fields.won, settings.deal_fields.won_at) == ("IsWon", "CloseDate")
    assert settings.page_size == 2000 and settings.quota_guard == 0.8


@pytest.mark.parametrize(
    ("auth", "flow"),
    [
        ({"session_id": "00D!abc"}, "session_id"),
        ({"username": "u@x", "password": "p"}, "password"),
        ({"username": "u@x", "password": "p", "security_token": "t"}, "password"),
        (
            {"username": "u@x", "password": "p", "consumer_key": "k", "consumer_secret": "s"},
            "oauth_password",
        ),
        ({"username": "u@x", "consumer_key": "k", "private_key_file": "/k.pem"}, "jwt"),
        (
            {
                "consumer_key": "k",
                "consumer_secret": "s",
                "login_url": "https://acme.my.salesforce.com",
            },
            "client_credentials",
        ),
    ],
)
def test_each_login_flow_is_recognised(auth: dict[str, str], flow: str) -> None:
    assert source(auth=auth).auth.flow == flow


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        ({}, "give one login flow: session_id; username + password;"),
        (
            {"username": "u@x", "consumer_key": "k"},
            "closest: jwt: missing private_key_file",
        ),
        (
            {"session_id": "00D!abc", "username": "u@x", "password": "p"},
            "closest: password: remove session_id",
        ),
        (
            {"consumer_key": "k", "consumer_secret": "s"},
            "client credentials flow needs your My Domain as login_url",
        ),
    ],
)
def test_an_incomplete_or_mixed_auth_block_says_what_to_fix(
    auth: dict[str, str], expected: str
) -> None:
    assert expected in error(auth=auth)


def test_urls_must_be_https() -> None:
    assert "instance_url must start with https://" in error(instance_url="http://acme.example")
    login = {"session_id": "x", "login_url": "http://login.example"}
    assert "login_url must start with https://" in error(auth=login)


def test_status_stages_need_a_status_time() -> None:
    assert "status_stages needs status_at" in error(fields={"status_stages": {"mql": ["MQL"]}})
    settings = source(fields={"status_stages": {"mql": ["MQL"]}, "status_at": "Status_Changed__c"})
    assert settings.fields.status_stages == {"mql": ("MQL",)}


def test_jwt_audience_follows_the_login_server() -> None:
    def audience(login_url: str) -> str:
        auth = {
            "username": "u",
            "consumer_key": "k",
            "private_key_file": "/k",
            "login_url": login_url,
        }
        return source(auth=auth).auth.jwt_audience

    assert audience("https://login.salesforce.com") == "https://login.salesforce.com"
    assert audience("https://acme.my.salesforce.com") == "https://login.salesforce.com"
    assert audience("https://test.salesforce.com") == "https://test.salesforce.com"
    assert audience("https://acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"


def test_secrets_never_print() -> None:
    auth = {
        "username": "u@x",
        "password": "hunter2",
        "security_token": "tok9",
        "consumer_key": "k",
        "consumer_secret": "shh",
    }
    settings = source(auth=auth)
    shown = repr(settings) + str(settings) + settings.model_dump_json()
    for secret in ("hunter2", "tok9", "shh"):
        assert secret not in shown
    assert settings.auth.password is not None and settings.auth.password.reveal() == "hunter2"
