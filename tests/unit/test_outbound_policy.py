"""Which URLs the server may call on a brand's behalf (notice sources)."""

from __future__ import annotations

import socket

import pytest

from adapters.outbound import ALLOWED_HOSTS_ENV, OutboundPolicy, Resolver
from domain.notices.source import check_settings
from domain.shared.errors import InvalidInput


def _dns(answers: dict[str, list[str]]) -> Resolver:
    """A name server that knows `answers` and nothing else (IP literals need none)."""

    def resolve(host: str, port: int) -> list[str]:
        if host in answers:
            return answers[host]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    return resolve


def test_loopback_is_refused_until_the_operator_allows_the_host_and_port() -> None:
    assert OutboundPolicy().refusal("http://127.0.0.1:8100/api") is not None
    demo = OutboundPolicy(["127.0.0.1:8100"])
    assert demo.refusal("http://127.0.0.1:8100/api") is None
    assert demo.refusal("http://127.0.0.1:8101/api") is not None  # another port of the server itself
    assert demo.refusal("http://localhost:8100/api") is not None  # hosts are matched as written
    assert OutboundPolicy(["127.0.0.1"]).refusal("http://127.0.0.1:9999/") is None  # a host alone: any port


def test_every_address_of_a_name_is_checked() -> None:
    policy = OutboundPolicy(resolve=_dns({"softmedia.example.in": ["93.184.216.34", "10.1.2.3"]}))
    refusal = policy.refusal("https://softmedia.example.in/api")
    assert refusal is not None and "10.1.2.3" in refusal and ALLOWED_HOSTS_ENV in refusal
    public = OutboundPolicy(resolve=_dns({"softmedia.example.in": ["93.184.216.34"]}))
    assert public.refusal("https://softmedia.example.in/api") is None
    assert "does not resolve" in (public.refusal("https://nowhere.example.in/") or "")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://2852039166/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://172.16.5.4/",
        "http://224.0.0.1/",
        "http://100.100.100.200/",  # a cloud's metadata service in carrier-grade NAT space
        "http://127.0.0.1:99999/",
    ],
)
def test_addresses_of_this_network_or_this_server_are_refused(url: str) -> None:
    assert OutboundPolicy().refusal(url) is not None


def test_public_addresses_are_allowed() -> None:
    assert OutboundPolicy().refusal("https://8.8.8.8/api") is None
    assert OutboundPolicy().refusal("http://[2606:4700:4700::1111]/") is None


def test_the_allow_list_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ALLOWED_HOSTS_ENV, "127.0.0.1:8100, sim.internal ,[::1]:9000")
    policy = OutboundPolicy.from_env()
    assert policy.refusal("http://127.0.0.1:8100/") is None
    assert policy.refusal("http://SIM.internal:1234/x") is None
    assert policy.refusal("http://[::1]:9000/") is None
    assert policy.refusal("http://[::1]:9001/") is not None


def test_a_refused_url_is_one_more_field_error_of_the_source_settings() -> None:
    with pytest.raises(InvalidInput) as raised:
        check_settings(company="s m l", base_url="http://169.254.169.254/", url_check=OutboundPolicy())
    assert {e.field for e in raised.value.errors} == {"company", "base_url"}
