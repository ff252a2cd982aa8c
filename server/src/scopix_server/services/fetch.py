"""Fetching a file from a URL a client gave (``/images/analyze`` with ``{"url": ...}``).

A server that fetches URLs for its clients must not become their way into the network it sits
in. Every host is resolved first, and private, loopback, link-local and other non-public
addresses are refused unless ``fetch_private_urls`` is set. The connection then goes to the
address that was checked (the TLS name stays the host's), so a second DNS answer cannot point it
elsewhere; each redirect is checked the same way.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import unquote

import anyio
import httpx

from ..errors import ValidationFailed

__all__ = ["fetch", "filename_of", "public_unicast"]

MAX_REDIRECTS = 5

_NAT64 = (  # IPv6 prefixes that translate to IPv4 addresses chosen by whoever asks
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
)
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # ::a.b.c.d, deprecated


def public_unicast(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether ``address`` is one public host: the one decision of what this server may fetch.

    Global unicast only (no multicast, broadcast, private, loopback, link-local, shared or
    reserved space), and an IPv6 address that carries an IPv4 one (mapped, compatible, 6to4,
    Teredo) is judged by what it carries; NAT64 prefixes are refused outright, since the
    translator would reach whatever IPv4 address, private ones included, the client wrote.
    """
    if address.is_multicast or not address.is_global:
        return False
    if isinstance(address, ipaddress.IPv4Address):
        return not address.is_reserved and address != ipaddress.IPv4Address("255.255.255.255")
    if address.is_site_local or address in _IPV4_COMPATIBLE:
        return False
    if any(address in network for network in _NAT64):
        return False
    carried = [address.ipv4_mapped, address.sixtofour, *(address.teredo or ())]
    return all(public_unicast(inner) for inner in carried if inner is not None)


def _refused(message: str) -> ValidationFailed:
    return ValidationFailed(
        f"url: {message}", details={"errors": [{"field": "url", "message": message}]}
    )


async def _address(url: httpx.URL, *, allow_private: bool) -> str:
    """The checked address to connect to for ``url``."""
    if url.scheme not in ("http", "https") or not url.host:
        raise _refused("only http and https URLs with a host can be fetched")
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        found = await anyio.getaddrinfo(url.host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise _refused(f"the host {url.host!r} could not be resolved ({error})") from None
    addresses = [ipaddress.ip_address(entry[4][0]) for entry in found]
    if not addresses:
        raise _refused(f"the host {url.host!r} has no address")
    if not allow_private:
        for address in addresses:
            if not public_unicast(address):
                raise _refused(
                    f"{url.host} resolves to the non-public address {address}; this server "
                    "fetches only public URLs (an administrator can allow others with "
                    "SCOPIX_SERVER_FETCH_PRIVATE_URLS=true)"
                )
    return str(addresses[0])


def filename_of(url: str) -> str:
    """A filename for a fetched file: the URL path's last segment."""
    name = unquote(httpx.URL(url).path.rsplit("/", 1)[-1])
    return name or "download"


@asynccontextmanager
async def fetch(url: str, *, allow_private: bool, timeout: float) -> AsyncIterator[httpx.Response]:
    """An open, successful (2xx) streaming response for ``url``, after checked redirects.

    ``timeout`` is one deadline for everything: resolving, connecting, redirects, and reading
    the body inside the ``async with`` block. A per-read timeout alone would let a server that
    drips one byte at a time hold the request for as long as it likes.
    """
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as error:
        raise _refused(f"not a valid URL ({error})") from None
    try:
        with anyio.fail_after(timeout):
            async with _fetch(target, allow_private=allow_private, timeout=timeout) as response:
                yield response
    except TimeoutError:
        raise _refused(
            f"{target.host} did not send the whole file within {timeout:g} s (the fetch "
            "deadline); host it somewhere faster, or upload the file instead"
        ) from None


@asynccontextmanager
async def _fetch(
    target: httpx.URL, *, allow_private: bool, timeout: float
) -> AsyncIterator[httpx.Response]:
    async with httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        follow_redirects=False,
        trust_env=False,  # no proxy from the environment: it would bypass the address check
    ) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            address = await _address(target, allow_private=allow_private)
            pinned = target.copy_with(host=address)
            host_header = target.netloc.decode("ascii")
            request = client.build_request(
                "GET",
                pinned,
                headers={"host": host_header, "accept": "image/*,*/*;q=0.5"},
                extensions={"sni_hostname": target.host} if target.scheme == "https" else {},
            )
            try:
                response = await client.send(request, stream=True)
            except httpx.TimeoutException:
                raise _refused(f"{target.host} did not answer within {timeout:g} s") from None
            except httpx.HTTPError as error:
                raise _refused(
                    f"{target.host} could not be fetched ({type(error).__name__})"
                ) from None
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    target = target.join(location)
                    continue
                if response.status_code >= 400:
                    raise _refused(f"fetching it answered HTTP {response.status_code}")
                yield response
                return
            finally:
                await response.aclose()
        raise _refused(f"more than {MAX_REDIRECTS} redirects")
