"""pysignalr (PyPI) with its MessagePack hub protocol against refhub, in one group with a JSON
client (pysignalr's JSON protocol).

Usage: python peer_msgpack.py <hub url>

Both clients join one group. Each sends to the group, to the others in the group, to the other
connection by id and to the other's user; each receives every send meant for it, in order, in
its own protocol. Over MessagePack, GetConnectionId completes with a result (result kind 3),
AddToGroup with void (kind 2) and AddToGroup(None) with an error (kind 1) whose text is the one
the JSON client gets. Prints "ok pysignalr" and exits 0, or prints the failure and exits 1.
Every wait has a timeout, and so has the whole run.
"""

import asyncio
import sys
import uuid

from pysignalr.client import SignalRClient
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol

WAIT = 5.0
RUN = 30.0

COMPLETION, ERROR_KIND, VOID_KIND, RESULT_KIND = 3, 1, 2, 3


class Failure(Exception):
    """A check that did not hold; main() prints it."""


def fail(message):
    raise Failure(message)


class KindRecordingMessagepack(MessagepackProtocol):
    """pysignalr's MessagePack protocol, recording each Completion's result kind by invocation
    id: its CompletionMessage keeps only result and error, so void and a nil result look alike."""

    def __init__(self):
        super().__init__()
        self.kinds = {}

    def parse_message(self, seq_message):
        if seq_message[0] == COMPLETION:
            self.kinds[seq_message[2]] = seq_message[3]
        return MessagepackProtocol.parse_message(seq_message)


class Member:
    """One connection with an inbox of `Receive` payloads."""

    def __init__(self, name, url, protocol):
        self.name = name
        self.protocol = protocol
        self.client = SignalRClient(url, protocol=protocol)
        self.inbox = asyncio.Queue()
        self.opened = asyncio.Event()
        self.task = None
        self.id = None

        async def on_open():
            self.opened.set()

        async def on_receive(args):
            await self.inbox.put(args[0])

        async def on_error(_completion):
            # Without an error callback pysignalr raises on an error Completion; the
            # invocation's own callback still gets it.
            pass

        self.client.on_open(on_open)
        self.client.on("Receive", on_receive)
        self.client.on_error(on_error)

    async def start(self):
        self.task = asyncio.create_task(self.client.run())
        try:
            await asyncio.wait_for(self.opened.wait(), WAIT)
        except asyncio.TimeoutError:
            fail(f"{self.name}: no handshake")
        self.id = await self.invoke("GetConnectionId")
        if not isinstance(self.id, str) or not self.id:
            fail(f"{self.name}: GetConnectionId returned {self.id!r}")

    async def call(self, method, *args):
        """Invokes and waits for the Completion."""
        done = asyncio.get_running_loop().create_future()

        async def on_completion(completion):
            if not done.done():
                done.set_result(completion)

        await self.client.send(method, list(args), on_completion)
        try:
            return await asyncio.wait_for(done, WAIT)
        except asyncio.TimeoutError:
            fail(f"{self.name}: no Completion for {method}")

    async def invoke(self, method, *args):
        """Invokes a method that must succeed; returns its result."""
        completion = await self.call(method, *args)
        if completion.error:
            fail(f"{self.name}: {method} failed: {completion.error}")
        return completion.result

    async def sync(self):
        """Everything received so far: a SendToCaller barrier flushes the FIFO queue."""
        marker = f"__sync_{uuid.uuid4()}"
        await self.invoke("SendToCaller", marker)
        got = []
        while True:
            try:
                payload = await asyncio.wait_for(self.inbox.get(), WAIT)
            except asyncio.TimeoutError:
                fail(f"{self.name}: the sync marker never arrived; received {got}")
            if payload == marker:
                return got
            got.append(payload)

    async def stop(self):
        if self.task is None:
            return
        self.task.cancel()
        try:
            await self.task
        except asyncio.CancelledError:
            pass


def with_query(url, query):
    return f"{url}{'&' if '?' in url else '?'}{query}"


async def result_kinds(m):
    """The three Completion kinds over MessagePack, read from the wire."""
    kinds = m.protocol.kinds
    got_id = await m.call("GetConnectionId")
    added = await m.call("AddToGroup", "py-kinds")
    refused = await m.call("AddToGroup", None)
    seen = [kinds.get(c.invocation_id) for c in (got_id, added, refused)]
    if seen != [RESULT_KIND, VOID_KIND, ERROR_KIND]:
        fail(f"result kinds of GetConnectionId, AddToGroup, AddToGroup(None): {seen}")
    if got_id.result != m.id:
        fail(f"GetConnectionId over MessagePack: {got_id.result!r}, expected {m.id!r}")
    if "ArgumentNullException" not in str(refused.error):
        fail(f"AddToGroup(None) over MessagePack: {refused.error!r}")
    return refused.error


async def scenario(url):
    m = Member("messagepack", with_query(url, "user=py-m"), KindRecordingMessagepack())
    j = Member("json", with_query(url, "user=py-j"), JSONProtocol())
    try:
        await m.start()
        await j.start()
        await mixed_group(m, j)
    finally:
        for member in (m, j):
            await member.stop()


async def mixed_group(m, j):
    mp_error = await result_kinds(m)
    json_error = (await j.call("AddToGroup", None)).error
    if mp_error != json_error:
        fail(f"AddToGroup(None) error, MessagePack {mp_error!r}, JSON {json_error!r}")

    await m.invoke("AddToGroup", "py-room")
    await j.invoke("AddToGroup", "py-room")
    expected = {m.name: [], j.name: []}
    for sender, other, user in ((m, j, "py-j"), (j, m, "py-m")):
        sends = [
            ("SendToGroup", ["py-room"], [m, j]),
            ("SendToOthersInGroup", ["py-room"], [other]),
            ("SendToConnection", [other.id], [other]),
            ("SendToUser", [user], [other]),
        ]
        for method, args, to in sends:
            payload = f"{sender.name}:{method}:é✓"
            await sender.invoke(method, *args, payload)
            for member in to:
                expected[member.name].append(payload)
    for member in (m, j):
        got = await member.sync()
        if got != expected[member.name]:
            fail(f"{member.name} received {got}, expected {expected[member.name]}")

    await m.invoke("RemoveFromGroup", "py-room")
    await j.invoke("SendToGroup", "py-room", "not for m")
    if await m.sync() != []:
        fail("a removed member still received a group send")


def main():
    try:
        asyncio.run(asyncio.wait_for(scenario(sys.argv[1]), RUN))
    except asyncio.TimeoutError:
        failure = f"the run took longer than {RUN} s"
    except Failure as e:
        failure = str(e)
    else:
        failure = None
    if failure is not None:
        print(f"FAIL pysignalr: {failure}", file=sys.stderr)
        sys.exit(1)
    print("ok pysignalr")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
