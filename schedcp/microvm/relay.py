"""`python -m schedcp.microvm.relay PORT [HOST]`: one guest connection to the host's HOST:PORT (127.0.0.1).

QEMU's user network (restrict=on) lets the guest reach the host only through guestfwd
rules. A rule that targets a TCP chardev carries one connection at a time, so a client
with several (an API client's pool plus its watches) gets its TLS streams interleaved.
A `cmd:` rule starts this relay per connection instead, with the guest's stream on
stdin and stdout.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys

CHUNK = 65536


def relay(port: int, host: str = "127.0.0.1") -> None:
    upstream = socket.create_connection((host, port))
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(stdin, selectors.EVENT_READ)
    selector.register(upstream, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            if key.fileobj == stdin:
                data = os.read(stdin, CHUNK)
                if not data:  # the guest closed its end, or QEMU is gone
                    return
                upstream.sendall(data)
            else:
                data = upstream.recv(CHUNK)
                if not data:
                    return
                os.write(stdout, data)


if __name__ == "__main__":
    relay(int(sys.argv[1]), *sys.argv[2:3])
