"""Which render links the bot fetches, and where it connects for them.

http(s) only. The backend's own origin (scheme, host and port) is trusted whatever its address
(a self-hosted backend may be private); another port or scheme of that host is another service.
Any other host must resolve to public addresses only, unless the operator allowed private ones.
The host is resolved once, here, and the connection goes to the address checked: a second
lookup could answer another address (DNS rebinding).
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address

import httpx

from bot.backend.errors import Unreachable, UnsafeUrl

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Checked:
    """A link that passed ``check_url``: the URL asked for (redirects resolve against it) and
    the address to dial, or None to dial the backend's own origin by name."""

    url: httpx.URL
    address: IPv4Address | IPv6Address | None


Origin = tuple[str, str, int | None]


def origin(url: httpx.URL) -> Origin:
    return (url.scheme, (url.host or "").lower(), url.port or DEFAULT_PORTS.get(url.scheme))


async def addresses(host: str, port: int) -> list[IPv4Address | IPv6Address]:
    """Every address ``host`` names (a literal, or what DNS answers)."""
    try:
        return [ip_address(host.strip("[]"))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise Unreachable(f"cannot resolve {host}: {exc}") from exc
    found: list[IPv4Address | IPv6Address] = []
    for info in infos:
        address = ip_address(str(info[4][0]).split("%", 1)[0])
        mapped = address.ipv4_mapped if isinstance(address, IPv6Address) else None
        found.append(mapped or address)
    return found




async def check(url: str, own_origin: Origin, *, allow_private: bool) -> Checked:
    """``url`` checked (``UnsafeUrl`` says why not), with the address to dial."""
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise UnsafeUrl(f"not a URL: {exc}") from exc
    if parsed.scheme not in {"http", "https"} or not parsed.host:
        raise UnsafeUrl(f"not an http(s) URL (scheme {parsed.scheme!r})")
    if origin(parsed) == own_origin:
        return Checked(parsed, None)
    host = parsed.host.lower()
    found = await addresses(host, parsed.port or DEFAULT_PORTS[parsed.scheme])
    if not allow_private:
        for address in found:
            if not address.is_global:
                raise UnsafeUrl(f"{host} resolves to a non-public address ({address})")
    return Checked(parsed, found[0])


def dial(
    http: httpx.AsyncClient, method: str, target: Checked, timeout: httpx.Timeout
) -> httpx.Request:
    """A request to the checked address, still naming the host (Host header, TLS name)."""
    url = target.url
    if target.address is None:
        return http.build_request(method, url, timeout=timeout)
    return http.build_request(
        method,
        url.copy_with(host=str(target.address)),
        headers={"Host": url.netloc.decode("ascii")},
        extensions={"sni_hostname": url.host} if url.scheme == "https" else {},
        timeout=timeout,
    )
