// The official @microsoft/signalr client, with its MessagePack hub protocol
// (@microsoft/signalr-protocol-msgpack), against refhub.
//
// Usage: node peer.js <hub url> <scenario>
//   negotiate  three clients with negotiate: groups, GroupExcept, OthersInGroup, user sends
//   msgpack    MessagePack and JSON clients in one group: every kind of send reaches each member
//              in its own protocol; Completion kinds (result, void, error) over MessagePack;
//              payloads of other MessagePack types than str, and binary
//   skip       skipNegotiation over WebSockets: a group round trip
//   stateful   withStatefulReconnect() through a loopback TCP proxy that cuts the socket
//              without a close frame: same connection id, groups kept, messages sent
//              meanwhile received once each and in order
//   stateful-msgpack  the same with the reconnecting client on MessagePack, the sender on JSON
//   close      an oversized message: the server's Close carries the error and allowReconnect,
//              so a client without automatic reconnect closes with that error and one with
//              withAutomaticReconnect() reconnects as a new connection (groups not kept)
//   close-msgpack  the same with the closed clients on MessagePack
//   restart    withAutomaticReconnect(); prints "ready" and the test restarts the hub: the
//              socket is dropped without a close frame (1006), the client reconnects as a new
//              connection and no membership survives
//
// Prints "ok <scenario>" and exits 0 on success; prints the failure and exits 1 otherwise.
// Every wait has a timeout, and the whole run is bounded too.
"use strict";

const net = require("net");
const signalR = require("@microsoft/signalr");
const { MessagePackHubProtocol } = require("@microsoft/signalr-protocol-msgpack");

const [, , hubUrl, scenario] = process.argv;
const WAIT_MS = 5000;
setTimeout(() => fail(`scenario ${scenario} timed out`), 30000).unref();

function fail(message) {
  console.error(`FAIL ${scenario}: ${message}`);
  process.exit(1);
}

function assertEqual(actual, expected, what) {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) fail(`${what}: expected ${e}, got ${a}`);
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), WAIT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A client with an inbox of `Receive` payloads. `http`: the withUrl options; `msgpack`: the
 * MessagePack hub protocol instead of JSON. */
async function client(url, { http = {}, stateful = false, autoReconnect = false, msgpack = false } = {}) {
  let builder = new signalR.HubConnectionBuilder()
    .withUrl(url, http)
    .configureLogging(signalR.LogLevel.Warning);
  if (msgpack) builder = builder.withHubProtocol(new MessagePackHubProtocol());
  if (stateful) builder = builder.withStatefulReconnect();
  if (autoReconnect) builder = builder.withAutomaticReconnect([0, 0, 0]);
  const connection = builder.build();
  const inbox = [];
  connection.on("Receive", (payload) => {
    inbox.push(payload);
  });
  await withTimeout(connection.start(), `start ${url}`);
  const id = await withTimeout(connection.invoke("GetConnectionId"), "GetConnectionId");
  return { connection, inbox, id };
}

/** Everything received so far: a SendToCaller barrier flushes the FIFO queue. */
async function sync(c) {
  const marker = `__sync_${Math.random()}`;
  await withTimeout(c.connection.invoke("SendToCaller", marker), "sync");
  const deadline = Date.now() + WAIT_MS;
  while (!c.inbox.includes(marker)) {
    if (Date.now() > deadline) fail("sync marker never arrived");
    await new Promise((r) => setTimeout(r, 5));
  }
  const got = c.inbox.splice(0, c.inbox.length);
  got.pop();
  return got;
}

function withQuery(url, query) {
  return url + (url.includes("?") ? "&" : "?") + query;
}

async function negotiateScenario() {
  const a = await client(withQuery(hubUrl, "user=alice"));
  const b = await client(withQuery(hubUrl, "user=alice"));
  const c = await client(withQuery(hubUrl, "user=bob"));
  assertEqual(a.id, a.connection.connectionId, "GetConnectionId is the negotiated id");
  await a.connection.invoke("AddToGroup", "g");
  await c.connection.invoke("AddConnectionToGroup", b.id, "g");
  await c.connection.invoke("SendToGroup", "g", "group");
  await c.connection.invoke("SendToGroupExcept", "g", [a.id], "except");
  await a.connection.invoke("SendToOthersInGroup", "g", "others");
  await c.connection.invoke("SendToUser", "alice", "user");
  await c.connection.invoke("SendToGroups", ["g", "nobody"], "groups");
  assertEqual(await sync(a), ["group", "user", "groups"], "a");
  assertEqual(await sync(b), ["group", "except", "others", "user", "groups"], "b");
  assertEqual(await sync(c), [], "c");
  await b.connection.invoke("RemoveFromGroup", "g");
  await c.connection.invoke("SendToGroup", "g", "after-remove");
  assertEqual(await sync(a), ["after-remove"], "a after remove");
  assertEqual(await sync(b), [], "b after remove");
  const error = await errorOf(a, "AddToGroup", null);
  if (!error.includes("ArgumentNullException")) fail(`null group: ${error}`);
  for (const x of [a, b, c]) await x.connection.stop();
}

/** The error text of an invocation that must fail. */
async function errorOf(c, method, ...args) {
  try {
    await withTimeout(c.connection.invoke(method, ...args), method);
  } catch (e) {
    return String(e.message);
  }
  fail(`${method}(${JSON.stringify(args)}) succeeded; an error was expected`);
}

/** Payload strings in each str format the MessagePack encoder picks by length (fixstr, str 8,
 * str 16), and multi-byte UTF-8. */
const STRINGS = ["fix", "é✓🙂 ünï", "8".repeat(40), "16".repeat(130)];

async function msgpackScenario() {
  const onMsgpack = { msgpack: true };
  const m1 = await client(withQuery(hubUrl, "user=mp-alice"), onMsgpack);
  const j1 = await client(withQuery(hubUrl, "user=mp-alice"));
  const m2 = await client(withQuery(hubUrl, "user=mp-bob"), onMsgpack);
  const j2 = await client(withQuery(hubUrl, "user=mp-bob"));
  const members = { m1, j1, m2, j2 };

  // The three Completion kinds over MessagePack: a result (GetConnectionId, in client()), void,
  // and an error with the same text as over JSON.
  assertEqual(m1.id, m1.connection.connectionId, "GetConnectionId's result over MessagePack");
  const added = await withTimeout(m1.connection.invoke("AddToGroup", "g"), "AddToGroup");
  if (added !== undefined) fail(`a void Completion has no result, got ${JSON.stringify(added)}`);
  const mpError = await errorOf(m2, "AddToGroup", null);
  if (!mpError.includes("ArgumentNullException")) fail(`null group over MessagePack: ${mpError}`);
  assertEqual(mpError, await errorOf(j2, "AddToGroup", null), "the error text, JSON and MessagePack");

  await j1.connection.invoke("AddToGroup", "g");
  await j2.connection.invoke("AddConnectionToGroup", m2.id, "g");
  await m2.connection.invoke("AddConnectionToGroup", j2.id, "g");

  // Each send: who sends, the method and its arguments before the payload, who receives.
  const sends = [
    [m2, "SendToGroup", ["g"], ["m1", "j1", "m2", "j2"]],
    [j2, "SendToGroup", ["g"], ["m1", "j1", "m2", "j2"]],
    [m1, "SendToGroupExcept", ["g", [j1.id, m2.id]], ["m1", "j2"]],
    [j1, "SendToGroupExcept", ["g", [m1.id]], ["j1", "m2", "j2"]],
    [j1, "SendToOthersInGroup", ["g"], ["m1", "m2", "j2"]],
    [m1, "SendToOthersInGroup", ["g"], ["j1", "m2", "j2"]],
    [j2, "SendToConnection", [m1.id], ["m1"]],
    [m2, "SendToConnection", [j1.id], ["j1"]],
    [j1, "SendToUser", ["mp-bob"], ["m2", "j2"]],
    [m2, "SendToUser", ["mp-alice"], ["m1", "j1"]],
    [m1, "SendToGroup", ["g"], ["m1", "j1", "m2", "j2"]],
  ];
  const expected = { m1: [], j1: [], m2: [], j2: [] };
  for (const [i, [sender, method, args, to]] of sends.entries()) {
    // The last send is the empty string, fixstr 0xa0.
    const payload = i === sends.length - 1 ? "" : `${i}:${method}:${STRINGS[i % STRINGS.length]}`;
    await withTimeout(sender.connection.invoke(method, ...args, payload), method);
    for (const name of to) expected[name].push(payload);
  }
  for (const [name, c] of Object.entries(members)) {
    assertEqual(await sync(c), expected[name], `${name} received every send to it, in order`);
  }

  // The contract's payload is a string (`string payload` in docs/src/aspnetcore-hub.md): any
  // other type fails to bind, in either protocol, with the same text, and nobody receives it.
  const NOT_STRINGS = [42, -7, 2 ** 40, 1.5, true, { a: { b: [1, "x"] } }, [1, "z"]];
  for (const value of NOT_STRINGS) {
    const error = await errorOf(m1, "SendToGroup", "g", value);
    if (!error.includes("Error binding arguments")) fail(`${JSON.stringify(value)}: ${error}`);
    assertEqual(error, await errorOf(j1, "SendToGroup", "g", value), `${JSON.stringify(value)}'s error`);
  }
  // A null payload: ASP.NET Core's `string payload` would bind it and send null; refhub
  // refuses it, as the model's payloads are strings (refhub/src/dispatch.rs, null_payload).
  const nullError = "The payload must be a string, not null.";
  for (const c of [m1, j1]) {
    const error = await errorOf(c, "SendToGroup", "g", null);
    if (!error.includes(nullError)) fail(`null payload: ${error}`);
  }
  for (const [name, c] of Object.entries(members)) {
    assertEqual(await sync(c), [], `${name} received no payload that failed to bind`);
  }

  // FIXME(PRO-MSGPACK-WELL-FORMED): ASP.NET Core binds a `string` parameter with
  // MessagePack-CSharp's MessagePackReader.ReadString, which accepts only str and nil, so a bin
  // (Uint8Array) or timestamp (Date) payload fails to bind there and nobody receives it.
  // refhub holds arguments as JSON values (wire/src/msgpack.rs, "Payloads"): bin becomes its
  // base64 text and a timestamp its ISO 8601 text, and that string is delivered to everyone.
  await m2.connection.invoke("SendToGroup", "g", new Uint8Array([1, 2, 255]));
  await m2.connection.invoke("SendToGroup", "g", new Date(Date.UTC(2017, 3, 11)));
  for (const [name, c] of Object.entries(members)) {
    assertEqual(await sync(c), ["AQL/", "2017-04-11T00:00:00Z"], `${name}: bin and timestamp`);
  }
  for (const c of Object.values(members)) await c.connection.stop();
}

async function skipScenario() {
  const options = { skipNegotiation: true, transport: signalR.HttpTransportType.WebSockets };
  const a = await client(hubUrl, { http: options });
  const b = await client(hubUrl, { http: options });
  if (a.connection.connectionId) fail("skipNegotiation has no connection id on the client");
  await a.connection.invoke("AddToGroup", "room");
  await b.connection.invoke("SendToGroup", "room", "hello");
  await b.connection.invoke("SendToOthers", "others");
  assertEqual(await sync(a), ["hello", "others"], "a");
  assertEqual(await sync(b), [], "b");
  for (const x of [a, b]) await x.connection.stop();
}

/** A loopback TCP proxy: `cut()` destroys every piped socket (no close frame); while held,
 * new client sockets wait unconnected until `release()`. */
function proxy(target) {
  const sockets = new Set();
  const waiting = [];
  let held = false;
  const pipe = (client) => {
    const upstream = net.connect(target.port, target.hostname);
    sockets.add(client);
    sockets.add(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", drop);
    upstream.on("error", drop);
    client.on("close", drop);
    upstream.on("close", drop);
  };
  const server = net.createServer((socket) => {
    socket.pause();
    if (held) waiting.push(socket);
    else {
      pipe(socket);
      socket.resume();
    }
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      resolve({
        port: server.address().port,
        cut() {
          held = true;
          for (const s of sockets) s.resetAndDestroy ? s.resetAndDestroy() : s.destroy();
          sockets.clear();
        },
        release() {
          held = false;
          for (const s of waiting.splice(0)) {
            pipe(s);
            s.resume();
          }
        },
        waiting: () => waiting.length,
        close: () => server.close(),
      });
    });
  });
}

/** `msgpack`: the client that reconnects speaks MessagePack (its sender still JSON). */
async function statefulScenario(msgpack = false) {
  const target = new URL(hubUrl);
  const p = await proxy(target);
  const viaProxy = `http://127.0.0.1:${p.port}${target.pathname}`;
  const http = { transport: signalR.HttpTransportType.WebSockets };
  const a = await client(viaProxy, { http, stateful: true, msgpack });
  const b = await client(hubUrl);
  await a.connection.invoke("AddToGroup", "g");
  await b.connection.invoke("SendToGroup", "g", "before");
  assertEqual(await sync(a), ["before"], "a before the cut");
  const idBefore = a.connection.connectionId;

  p.cut();
  // The client reconnects at once; its new socket waits in the proxy meanwhile.
  const deadline = Date.now() + WAIT_MS;
  while (p.waiting() === 0) {
    if (Date.now() > deadline) fail("the client never tried to reconnect");
    await new Promise((r) => setTimeout(r, 10));
  }
  for (let i = 1; i <= 3; i++) await b.connection.invoke("SendToGroup", "g", `during-${i}`);
  await b.connection.invoke("SendToConnection", a.id, "during-direct");
  p.release();

  assertEqual(
    await sync(a),
    ["during-1", "during-2", "during-3", "during-direct"],
    "a received what was sent while cut, once each, in order"
  );
  assertEqual(a.connection.connectionId, idBefore, "connection id kept");
  assertEqual(await a.connection.invoke("GetConnectionId"), idBefore, "server-side id kept");
  assertEqual(a.connection.state, signalR.HubConnectionState.Connected, "state");
  await b.connection.invoke("SendToGroup", "g", "after");
  assertEqual(await sync(a), ["after"], "groups kept after the resume");
  for (const x of [a, b]) await x.connection.stop();
  p.close();
}

/** Waits until `predicate()` holds; fails after WAIT_MS. */
async function until(predicate, what) {
  const deadline = Date.now() + WAIT_MS;
  while (!predicate()) {
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Records the reconnect callbacks of `c`: the error onreconnecting got, the new id. */
function watchReconnect(c) {
  const seen = { reconnecting: undefined, reconnectedId: undefined };
  c.connection.onreconnecting((e) => {
    seen.reconnecting = e ? String(e.message) : "no error";
  });
  c.connection.onreconnected((id) => {
    seen.reconnectedId = id;
  });
  return seen;
}

const SIZE_ERROR =
  "Server returned an error on close: Connection closed with an error. InvalidDataException: " +
  "The maximum message size of 32768B was exceeded. The message size can be configured in AddHubOptions.";

/** `msgpack`: the clients that get the Close speak MessagePack (`[7, error, allowReconnect]`). */
async function closeScenario(msgpack = false) {
  const oversize = "x".repeat(40000);
  // Without automatic reconnect the connection closes with the server's error.
  const plain = await client(hubUrl, { msgpack });
  let closedWith;
  plain.connection.onclose((e) => {
    closedWith = e ? String(e.message) : "no error";
  });
  await plain.connection.send("SendToCaller", oversize);
  await until(() => closedWith !== undefined, "onclose");
  assertEqual(closedWith, SIZE_ERROR, "onclose error");
  assertEqual(plain.connection.state, signalR.HubConnectionState.Disconnected, "state");

  // With automatic reconnect, allowReconnect makes the client come back: a new connection.
  const a = await client(hubUrl, { autoReconnect: true, msgpack });
  const b = await client(hubUrl);
  await a.connection.invoke("AddToGroup", "g");
  const seen = watchReconnect(a);
  await a.connection.send("SendToCaller", oversize);
  await until(() => seen.reconnectedId !== undefined, "onreconnected after the Close");
  assertEqual(seen.reconnecting, SIZE_ERROR, "onreconnecting error");
  if (seen.reconnectedId === a.id) fail("the reconnect kept the old connection id");
  assertEqual(await a.connection.invoke("GetConnectionId"), seen.reconnectedId, "server-side id");
  await b.connection.invoke("SendToGroup", "g", "after");
  assertEqual(await sync(a), [], "a reconnect is a new connection, without the old groups");
  for (const x of [a, b]) await x.connection.stop();
}

async function restartScenario() {
  const a = await client(hubUrl, { autoReconnect: true });
  await a.connection.invoke("AddToGroup", "g");
  const seen = watchReconnect(a);
  console.log("ready");
  await until(() => seen.reconnectedId !== undefined, "onreconnected after the restart");
  // No Close message and no close frame: the client sees an abnormal closure.
  if (!String(seen.reconnecting).includes("1006")) {
    fail(`onreconnecting error: expected a 1006 closure, got ${seen.reconnecting}`);
  }
  if (seen.reconnectedId === a.id) fail("the reconnect kept the old connection id");
  const b = await client(hubUrl);
  await b.connection.invoke("SendToGroup", "g", "after");
  assertEqual(await sync(a), [], "no membership survives the restart");
  for (const x of [a, b]) await x.connection.stop();
}

const scenarios = {
  negotiate: negotiateScenario,
  skip: skipScenario,
  msgpack: msgpackScenario,
  stateful: () => statefulScenario(false),
  "stateful-msgpack": () => statefulScenario(true),
  close: () => closeScenario(false),
  "close-msgpack": () => closeScenario(true),
  restart: restartScenario,
};
if (!scenarios[scenario]) fail(`unknown scenario (expected ${Object.keys(scenarios).join(", ")})`);
scenarios[scenario]()
  .then(() => {
    console.log(`ok ${scenario}`);
    process.exit(0);
  })
  .catch((e) => fail(e && e.stack ? e.stack : String(e)));
