"""http(s) dataset paths: only where code allows the protocol, never to the pod's own hosts."""

from __future__ import annotations

import socket

import pytest

from kedro_kinetic.wire import dataset_hosts as hosts
from kedro_kinetic.wire.allowlist import CatalogSpecError, build_allowlist, check_entry

HTTPS = build_allowlist(["fsspec:protocol=https", "fsspec:protocol=http"])
DEFAULT = build_allowlist()
CSV = "pandas.CSVDataset"

INTERNAL = [
    # names
    "http://localhost/x.csv", "http://LOCALHOST/x.csv", "http://localhost./x.csv",
    "http://api.localhost/x.csv", "http://metadata/computeMetadata/v1/",
    "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/"
    "default/token", "http://METADATA.Google.Internal./x", "http://metadata.goog/x",
    "http://metadata.google.internal:80/x", "https://metadata.google.internal:443/x",
    # loopback, unspecified, link-local
    "http://127.0.0.1/x", "http://127.0.0.1:8080/x", "http://127.1.2.3/x", "http://[::1]/x",
    "http://[::1]:9000/x", "http://0.0.0.0/x", "http://0.0.0.0:80/x", "http://[::]/x",
    "http://169.254.169.254/computeMetadata/v1/", "http://169.254.169.254:80/x",
    "http://169.254.0.1/x", "http://[fe80::1]/x", "http://[FE80::a:b]/x",
    "http://[fd00:ec2::254]/latest/meta-data/", "http://[fd20:ce::254]/computeMetadata/v1/",
    # IPv4 inside IPv6
    "http://[::ffff:169.254.169.254]/x", "http://[::ffff:a9fe:a9fe]/x",
    "http://[::ffff:127.0.0.1]/x", "http://[0:0:0:0:0:ffff:7f00:1]/x",
    "http://[::169.254.169.254]/x", "http://[64:ff9b::a9fe:a9fe]/x",
    # integer spellings
    "http://2852039166/", "http://0xa9fea9fe/", "http://0xA9FEA9FE/",
    "http://0251.0376.0251.0376/", "http://0251.254.169.254/", "http://169.254.43518/",
    "http://0x7f.1/", "http://127.1/", "http://2130706433/", "http://0/", "http://017700000001/",
    "http://127.0.0.1./x",
    # userinfo: the host is what follows the last '@'
    "http://evil.example@169.254.169.254/x", "http://user:pw@127.0.0.1:8000/x",
    "http://a@b@169.254.169.254/x", "http://169.254.169.254@metadata.google.internal/x",
    # what URL parsers disagree on
    "http://evil.example\\@169.254.169.254/x", "http://169.254.169.254\\@evil.example/x",
    "http://%31%32%37.0.0.1/x",
    "http://[fe80::1%25eth0]/x", "http://meta\tdata.google.internal/x",
    "http://evil .example/x", "http://ⓜⓔⓣⓐⓓⓐⓣⓐ.google.internal/x", "http:///x", "http://:80/x",
    "http://[::1/x", "http://example.com:99999/x", "http://example.com:port/x",
]


@pytest.fixture(autouse=True)
def no_dns(monkeypatch):
    """Public names resolve to a public address; nothing reaches the network."""
    def resolve(host, port, *args, **kwargs):
        if host.rstrip(".").endswith(".example") or host in ("example.com", "data.example.org"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    monkeypatch.setattr(hosts.socket, "getaddrinfo", resolve)


def refused(config: dict, allowed=HTTPS) -> str:
    with pytest.raises(CatalogSpecError) as info:
        check_entry("web", config, allowed)
    return str(info.value)


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_hosts_are_refused_even_with_the_protocol_allowed(url):
    text = refused({"type": CSV, "filepath": url})
    assert text.startswith("catalog entry 'web', key 'filepath': ")
    assert repr(url) in text or url in text


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_hosts_are_refused_in_nested_datasets_and_partitions(url):
    text = refused({"type": "partitions.PartitionedDataset", "path": "data/parts",
                    "dataset": {"type": CSV, "filepath": url}})
    assert "key 'dataset.filepath'" in text
    refused({"type": "partitions.PartitionedDataset", "path": url, "dataset": CSV})


@pytest.mark.parametrize("url", ["https://example.com/x.csv", "http://data.example.org/a/b.csv",
                                 "https://metadata.google.internal@evil.example/x.csv",
                                 "https://user:pw@example.com:8443/x.csv",
                                 "https://EXAMPLE.com./x.csv", "http://8.8.8.8/x.csv",
                                 "https://[2001:db8:0:0:0:0:0:1]/x.csv", "https://10.0.0.5/x.csv"])
def test_public_https_hosts_need_the_extension_in_code(url):
    text = refused({"type": CSV, "filepath": url}, DEFAULT)
    assert "is not allowed" in text and "fsspec:protocol=VALUE" in text
    assert "KINETIC_DATASET_ALLOWLIST" in text
    only_https = build_allowlist(["fsspec:protocol=https"])
    scheme = url.split(":", 1)[0]
    if scheme == "https":
        check_entry("web", {"type": CSV, "filepath": url}, only_https)
    else:
        refused({"type": CSV, "filepath": url}, only_https)
    check_entry("web", {"type": CSV, "filepath": url}, HTTPS)


def test_a_name_that_resolves_to_an_internal_address_is_refused(monkeypatch):
    answers = {"rebind.example": "169.254.169.254", "loop.example": "127.0.0.1",
               "v6.example": "::ffff:169.254.169.254", "mixed.example": "93.184.215.14"}

    def resolve(host, port, *args, **kwargs):
        found = [(socket.AF_INET6 if ":" in answers[host] else socket.AF_INET,
                  socket.SOCK_STREAM, 6, "", (answers[host], port))]
        if host == "mixed.example":  # one good address and one bad: refused
            found.append((socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port)))
        return found
    monkeypatch.setattr(hosts.socket, "getaddrinfo", resolve)
    for host, address in (("rebind.example", "169.254.169.254"), ("loop.example", "127.0.0.1"),
                          ("v6.example", "::ffff:a9fe:a9fe"),
                          ("mixed.example", "127.0.0.2")):
        text = refused({"type": CSV, "filepath": f"https://{host}/x.csv"})
        assert f"a name that resolves to {address}" in text


def test_a_name_that_does_not_resolve_here_passes_the_check():
    check_entry("web", {"type": CSV, "filepath": "https://nowhere.invalid/x.csv"}, HTTPS)


def test_resolution_uses_the_port_of_the_url(monkeypatch):
    seen = []

    def resolve(host, port, *args, **kwargs):
        seen.append((host, port))
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port))]
    monkeypatch.setattr(hosts.socket, "getaddrinfo", resolve)
    for url in ("https://a.example/x", "http://a.example/x", "https://a.example:8443/x"):
        check_entry("web", {"type": CSV, "filepath": url}, HTTPS)
    assert seen == [("a.example", 443), ("a.example", 80), ("a.example", 8443)]


@pytest.mark.parametrize("headers", [{"Metadata-Flavor": "Google"}, {"metadata-flavor": "x"},
                                     {"X-Google-Metadata-Request": "True"}, {"Metadata": "true"},
                                     {"X-aws-ec2-metadata-token": "t"}])
def test_metadata_request_headers_are_refused_wherever_they_are(headers):
    for config, key in (
        ({"type": CSV, "filepath": "https://example.com/x.csv", "fs_args": {"headers": headers}},
         "fs_args.headers."),
        ({"type": CSV, "filepath": "https://example.com/x.csv",
          "fs_args": {"client_kwargs": {"headers": headers}}}, "fs_args.client_kwargs.headers."),
        ({"type": CSV, "filepath": "gs://b/x.csv", "load_args": {"storage_options": {
            "headers": headers}}}, "load_args.storage_options.headers."),
    ):
        text = refused(config)
        assert f"key '{key}{next(iter(headers))}'" in text
        assert "only needed to ask a cloud metadata server" in text


def test_ordinary_headers_pass():
    check_entry("web", {"type": CSV, "filepath": "https://example.com/x.csv",
                        "fs_args": {"headers": {"Authorization": "Bearer x", "Accept": "*/*"}}},
                HTTPS)


def test_factory_patterns_may_not_put_a_placeholder_in_the_host():
    with pytest.raises(CatalogSpecError, match="placeholder in its host"):
        check_entry("{name}_web", {"type": CSV, "filepath": "https://{name}.example/x.csv"},
                    HTTPS, pattern=True)
    with pytest.raises(CatalogSpecError, match="link-local"):
        check_entry("{name}_web", {"type": CSV, "filepath": "http://169.254.169.254/{name}"},
                    HTTPS, pattern=True)
    check_entry("{name}_web", {"type": CSV, "filepath": "https://example.com/{name}.csv"},
                HTTPS, pattern=True)


@pytest.mark.parametrize(("address", "internal"), [
    ("127.0.0.1", True), ("127.255.255.254", True), ("0.0.0.0", True),  # noqa: S104
    ("0.1.2.3", True),
    ("169.254.169.254", True), ("169.254.170.2", True), ("100.100.100.200", True),
    ("::1", True), ("::", True), ("fe80::1", True), ("fd00:ec2::254", True),
    ("fd20:ce::254", True), ("::ffff:127.0.0.1", True), ("2002:7f00:1::", True),
    ("10.0.0.1", False), ("192.168.1.1", False), ("8.8.8.8", False),
    ("2001:4860:4860::8888", False), ("::ffff:8.8.8.8", False), ("fd00::1", False),
])
def test_address_classes(address, internal):
    import ipaddress

    assert (hosts.address_problem(ipaddress.ip_address(address)) is not None) is internal
