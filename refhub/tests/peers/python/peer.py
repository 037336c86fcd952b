"""signalrcore (PyPI) against refhub: a group round trip.

Usage: python peer.py <hub url>

Two connections with negotiate; the first joins a group and learns its id, the second sends
to the group and to the first connection by id; the first receives both, in order. Prints
"ok python" and exits 0, or prints the failure and exits 1. Every wait has a timeout.
"""

import logging
import queue
import sys
import threading

from signalrcore.hub_connection_builder import HubConnectionBuilder

WAIT = 5.0


def fail(message):
    print(f"FAIL python: {message}", file=sys.stderr)
    sys.stdout.flush()
    sys.exit(1)


def connect(url):
    connection = (
        HubConnectionBuilder()
        .with_url(url)
        .configure_logging(logging.ERROR)
        .build()
    )
    inbox = queue.Queue()
    opened = threading.Event()
    connection.on_open(opened.set)
    connection.on("Receive", lambda args: inbox.put(args[0]))
    connection.start()
    if not opened.wait(WAIT):
        fail(f"no handshake with {url}")
    return connection, inbox


def call(connection, method, args):
    """Invokes and waits for the Completion; returns its result."""
    done = queue.Queue()
    connection.send(method, args, lambda completion: done.put(completion))
    try:
        completion = done.get(timeout=WAIT)
    except queue.Empty:
        fail(f"no Completion for {method}")
    error = getattr(completion, "error", None)
    if error:
        fail(f"{method} failed: {error}")
    return getattr(completion, "result", None)


def main():
    url = sys.argv[1]
    sep = "&" if "?" in url else "?"
    a, a_inbox = connect(f"{url}{sep}user=py-a")
    b, _ = connect(f"{url}{sep}user=py-b")
    a_id = call(a, "GetConnectionId", [])
    if not isinstance(a_id, str) or not a_id:
        fail(f"GetConnectionId returned {a_id!r}")
    call(a, "AddToGroup", ["py-room"])
    call(b, "SendToGroup", ["py-room", "hello group"])
    call(b, "SendToConnection", [a_id, "hello you"])
    got = []
    for _ in range(2):
        try:
            got.append(a_inbox.get(timeout=WAIT))
        except queue.Empty:
            fail(f"received only {got}")
    if got != ["hello group", "hello you"]:
        fail(f"received {got}")
    call(a, "RemoveFromGroup", ["py-room"])
    call(b, "SendToGroup", ["py-room", "not for a"])
    call(b, "SendToConnection", [a_id, "marker"])
    try:
        after = a_inbox.get(timeout=WAIT)
    except queue.Empty:
        fail("marker never arrived")
    if after != "marker":
        fail(f"after RemoveFromGroup received {after!r}")
    # No stop(): signalrcore 1.0.2's closes the socket, then joins its receive thread, which
    # stays blocked in recv() until the server's next message (a Ping, 15 s apart), so stopping
    # two connections took 30 s. The receive threads are daemons: exiting drops both sockets.
    print("ok python")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
