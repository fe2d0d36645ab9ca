"""The SSRF guard: every non-public target is refused and a loopback canary receives nothing."""
from __future__ import annotations

import httpx
import pytest

from examples.webhook_receiver import Receiver
from workflows import transport
from workflows.transport import AllowList, OutboundRefused, SafeTransport


@pytest.fixture
def canary():
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def _port(canary):
    return canary.server.server_address[1]


def matrix(port):
    return [f"http://127.0.0.1:{port}/", f"http://localhost:{port}/", f"http://10.0.0.1:{port}/",
            f"http://172.16.5.4:{port}/", f"http://172.31.255.255:{port}/", f"http://192.168.1.1:{port}/",
            f"http://169.254.169.254:{port}/latest/meta-data/", f"http://100.64.0.1:{port}/",
            f"http://0.0.0.0:{port}/", f"http://[::1]:{port}/", f"http://[fc00::1]:{port}/",
            f"http://[::ffff:127.0.0.1]:{port}/", f"http://2130706433:{port}/",
            f"http://0x7f000001:{port}/", f"http://127.1:{port}/", f"http://[::]:{port}/",
            f"http://[fe80::1]:{port}/", f"http://[64:ff9b::7f00:1]:{port}/", f"http://224.0.0.1:{port}/"]


def test_the_ssrf_matrix_is_refused_and_the_canary_hears_nothing(canary):
    client = httpx.Client(transport=SafeTransport(allow=AllowList()), follow_redirects=False)
    for url in matrix(_port(canary)):
        with pytest.raises(OutboundRefused):
            client.get(url)
    assert canary.requests == []


def test_only_http_and_https():
    for url in ("ftp://example.com/", "file:///etc/passwd", "gopher://example.com/"):
        with pytest.raises(OutboundRefused):
            transport.check_target(url, allow=AllowList())


def test_a_public_url_redirecting_inward_is_not_followed(canary):
    inward = f"http://127.0.0.1:{_port(canary)}/"
    seen = []

    def public_site(request):
        seen.append(request)
        return httpx.Response(302, headers={"location": inward})
    guard = SafeTransport(allow=AllowList(), resolver=lambda host, port: ["93.184.216.34"],
                          inner=httpx.MockTransport(public_site))
    client = httpx.Client(transport=guard, follow_redirects=False)
    response = client.get("http://public.example/")
    assert response.status_code == 302 and len(seen) == 1
    # even a client that follows redirects is stopped by the guard on the inward hop
    follower = httpx.Client(transport=guard, follow_redirects=True)
    with pytest.raises(OutboundRefused):
        follower.get("http://public.example/")
    assert canary.requests == []


def test_a_name_resolving_to_a_private_address_is_refused():
    guard = SafeTransport(allow=AllowList(), resolver=lambda host, port: ["93.184.216.34", "10.0.0.7"],
                          inner=httpx.MockTransport(lambda r: httpx.Response(200)))
    with pytest.raises(OutboundRefused, match="10.0.0.7"):
        httpx.Client(transport=guard).get("http://rebind.example/")


def test_the_request_goes_to_the_checked_address_with_the_name_kept():
    seen = []

    def site(request):
        seen.append(request)
        return httpx.Response(200)
    guard = SafeTransport(allow=AllowList(), resolver=lambda host, port: ["93.184.216.34"],
                          inner=httpx.MockTransport(site))
    httpx.Client(transport=guard).post("https://hooks.example.com/x?y=1", content=b"{}")
    assert seen[0].url.host == "93.184.216.34" and seen[0].url.path == "/x"
    assert seen[0].headers["host"] == "hooks.example.com"
    assert seen[0].extensions["sni_hostname"] == "hooks.example.com"


def test_public_addresses_are_public():
    for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert transport.is_public(address)
    for address in ("127.0.0.1", "10.1.1.1", "::1", "::ffff:10.0.0.1", "2002:7f00:1::", "100.100.0.1"):
        assert not transport.is_public(address)


def test_the_admin_allow_list_opens_private_targets_explicitly(canary, monkeypatch):
    url = f"http://127.0.0.1:{_port(canary)}/"
    monkeypatch.delenv("FORMFLOW_OUTBOUND_ALLOW", raising=False)
    with pytest.raises(OutboundRefused):
        httpx.Client(transport=SafeTransport()).get(url)          # off by default
    monkeypatch.setenv("FORMFLOW_OUTBOUND_ALLOW", "127.0.0.1/32")
    assert httpx.Client(transport=SafeTransport()).get(url).status_code == 204
    assert len(canary.requests) == 1
    # a range does not open other private ranges
    with pytest.raises(OutboundRefused):
        httpx.Client(transport=SafeTransport()).get("http://10.0.0.1/")
