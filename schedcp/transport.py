"""What can go wrong talking to the API server, for loops that must outlive an outage.

The kubernetes client raises ApiException only for an answer it got; a refused or reset
connection (the API server restarting) is urllib3's MaxRetryError or ProtocolError, which
a loop catching ApiException alone dies of.
"""

from __future__ import annotations

import urllib3
from kubernetes import client

API_ERRORS = (client.ApiException, urllib3.exceptions.HTTPError)

# (connect, read) seconds for a call. Without a read timeout a call on a connection that
# went silent (a half-open stream: a dropped NAT entry, a VM's relay that stalled) waits
# forever and the loop that made it stops reporting; with one it fails like an outage
# (urllib3's ReadTimeoutError is an HTTPError) and the loop tries again.
RequestTimeout = tuple[float, float]
REQUEST_TIMEOUT: RequestTimeout = (10.0, 60.0)


def describe(error: Exception) -> str:
    """One line for a log or a condition (an ApiException's own text has headers and body)."""
    if isinstance(error, client.ApiException):
        return f"{error.status} {error.reason}"
    return f"API server unreachable: {error}"
