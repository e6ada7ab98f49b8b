"""The client's IP address for login throttling, exact behind a known number of proxies.

Each reverse proxy appends the address it received the request from to X-Forwarded-For,
so with N trusted proxies the client's address is the N-th entry from the right. Entries
further left come from the client and can be forged, so they are never used.
"""

import ipaddress
import logging

from django.conf import settings

logger = logging.getLogger(__name__)


def client_ip_address(request) -> str | None:
    """Return the address django-axes throttles logins by (AXES_CLIENT_IP_CALLABLE).

    With DUNNING_PROXY_COUNT = 0 this is REMOTE_ADDR. Otherwise it is the
    DUNNING_PROXY_COUNT-th entry from the right of the header named by
    DUNNING_CLIENT_IP_HEADER; when the header has fewer entries or the entry is not an
    address, the proxy is misconfigured, and REMOTE_ADDR is used with a warning.
    """
    remote_addr = request.META.get("REMOTE_ADDR")
    proxy_count = settings.DUNNING_PROXY_COUNT
    if proxy_count == 0:
        return remote_addr

    header = settings.DUNNING_CLIENT_IP_HEADER
    entries = [entry.strip() for entry in request.META.get(header, "").split(",") if entry.strip()]
    if len(entries) < proxy_count:
        logger.warning(
            "%s has %d entries but DUNNING_PROXY_COUNT is %d; throttling logins by REMOTE_ADDR %s. "
            "Check that every proxy in front of Django appends to this header.",
            header,
            len(entries),
            proxy_count,
            remote_addr,
        )
        return remote_addr
    candidate = entries[-proxy_count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        logger.warning(
            "%s entry %r is not an IP address; throttling logins by REMOTE_ADDR %s.",
            header,
            candidate,
            remote_addr,
        )
        return remote_addr
