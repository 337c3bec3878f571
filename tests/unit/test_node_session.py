"""The node's HTTP session reads the environment's proxy and CA settings once, as requests would
on every request."""

from __future__ import annotations

from kafkaml.ledger.transactions import node_session


def test_proxies_and_no_proxy_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "anvil.kafka-ml.svc")
    hosted = node_session("https://node.example/v3/key")
    assert hosted.proxies.get("https") == "http://proxy.example:3128"
    assert not hosted.trust_env, "requests would read the environment again on every request"
    assert node_session("https://anvil.kafka-ml.svc:8545").proxies == {}


def test_a_ca_bundle_from_the_environment_is_kept(monkeypatch):
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/private-ca.pem")
    assert node_session("https://node.example").verify == "/etc/ssl/private-ca.pem"
    monkeypatch.delenv("REQUESTS_CA_BUNDLE")
    assert node_session("https://node.example").verify is True
