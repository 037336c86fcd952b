// Microsoft's official classic SignalR 2.x client (npm signalr 2.4.3, jquery.signalR.js) with
// jQuery, under jsdom in Node, against refhub's classic endpoint.
//
// Usage: node peer.js <http://HOST:PORT> reconnect
//   Client A reaches refhub through a loopback TCP proxy; client B directly (each in its own
//   jsdom window, whose origin is the server it talks to, so jsdom's XHR needs no CORS).
//   A joins group g and gets a groups token; B's send reaches A. The proxy then cuts A's
//   socket without a close frame; B sends to g while A is away; A reconnects on its own
//   (/signalr/reconnect with groupsToken and messageId, seen by the proxy): the same
//   connection id, the missed message arrives exactly once, and A is still in g.
//
// Prints "ok reconnect" and exits 0 on success; prints the failure and exits 1 otherwise.
// Every wait has a timeout, and the whole run is bounded too.
"use strict";

const fs = require("fs");
const net = require("net");
const { JSDOM } = require("jsdom");

const [, , origin, scenario] = process.argv;
const HUB = "conformanceHub";
const WAIT_MS = 8000;
setTimeout(() => fail(`scenario ${scenario} timed out`), 25000).unref();

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

/** Polls `test` every 20 ms until it holds. */
function until(test, what) {
  return withTimeout(
    new Promise((resolve) => {
      const tick = () => (test() ? resolve() : setTimeout(tick, 20));
      tick();
    }),
    what,
  );
}

/** A jQuery deferred as a promise. */
function promise(deferred) {
  return new Promise((resolve, reject) => deferred.done(resolve).fail(reject));
}

const jquery = fs.readFileSync(require.resolve("jquery/dist/jquery.js"), "utf8");
const signalr = fs.readFileSync(require.resolve("signalr/jquery.signalR.js"), "utf8");

/** A page at `pageOrigin` with jQuery and the SignalR client loaded, and one connection. */
async function client(pageOrigin, name) {
  const dom = new JSDOM("<!doctype html><html><body></body></html>", {
    url: `${pageOrigin}/`,
    runScripts: "outside-only",
  });
  const window = dom.window;
  window.eval(jquery);
  window.eval(signalr);
  const $ = window.jQuery;
  const connection = $.hubConnection();
  const hub = connection.createHubProxy(HUB);
  const inbox = [];
  const events = [];
  hub.on("Receive", (payload) => inbox.push(payload));
  connection.reconnecting(() => events.push("reconnecting"));
  connection.reconnected(() => events.push("reconnected"));
  connection.disconnected(() => events.push("disconnected"));
  connection.error((e) => events.push(`error: ${e && e.message}`));
  await withTimeout(promise(connection.start({ transport: "webSockets" })), `${name} start`);
  const invoke = (...args) => withTimeout(promise(hub.invoke(...args)), `${name} ${args[0]}`);
  return { window, connection, hub, inbox, events, invoke };
}

/** A loopback TCP proxy to `target` that can cut every socket without a close frame. */
async function proxy(target) {
  const url = new URL(target);
  const sockets = new Set();
  const requests = [];
  const server = net.createServer((downstream) => {
    const upstream = net.connect(Number(url.port), url.hostname);
    sockets.add(downstream);
    sockets.add(upstream);
    downstream.once("data", (chunk) => requests.push(chunk.toString("latin1").split("\r\n")[0]));
    downstream.pipe(upstream);
    upstream.pipe(downstream);
    const drop = () => {
      downstream.destroy();
      upstream.destroy();
      sockets.delete(downstream);
      sockets.delete(upstream);
    };
    downstream.on("error", drop).on("close", drop);
    upstream.on("error", drop).on("close", drop);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    origin: `http://127.0.0.1:${server.address().port}`,
    requests,
    // resetAndDestroy: a TCP RST, so neither side sees a WebSocket close frame.
    cut: () => sockets.forEach((s) => (s.resetAndDestroy ? s.resetAndDestroy() : s.destroy())),
    close: () => server.close(),
  };
}

async function reconnect() {
  const cutter = await proxy(origin);
  const a = await client(cutter.origin, "A");
  const b = await client(origin, "B");
  const id = a.connection.id;
  await a.invoke("AddToGroup", "g");
  await until(() => a.connection.groupsToken, "A's groups token");
  await b.invoke("SendToGroup", "g", "before");
  await until(() => a.inbox.length === 1, "A receives the first send");
  cutter.cut();
  await until(() => a.events.includes("reconnecting"), "A notices the cut");
  await b.invoke("SendToGroup", "g", "missed");
  await until(() => a.events.includes("reconnected"), "A reconnects");
  await until(() => a.inbox.includes("missed"), "A receives what it missed");
  assertEqual(a.connection.id, id, "connection id after the reconnect");
  const reconnects = cutter.requests.filter((r) => r.includes("/signalr/reconnect?"));
  if (!reconnects.some((r) => r.includes("groupsToken=") && r.includes("messageId="))) {
    fail(`no /reconnect with groupsToken and messageId: ${JSON.stringify(cutter.requests)}`);
  }
  await b.invoke("SendToGroup", "g", "after");
  await until(() => a.inbox.includes("after"), "A is still in the group");
  // The result of a call made after the reconnect, and a barrier for stray copies.
  assertEqual(await a.invoke("GetConnectionId"), id, "GetConnectionId after the reconnect");
  await a.invoke("SendToCaller", "__sync");
  await until(() => a.inbox.includes("__sync"), "A's barrier");
  assertEqual(a.inbox, ["before", "missed", "after", "__sync"], "A's messages, each once");
  // stop() posts /abort without waiting for it; the test then sees both connections end.
  a.connection.stop();
  b.connection.stop();
  await new Promise((resolve) => setTimeout(resolve, 300));
  cutter.close();
  a.window.close();
  b.window.close();
}

const scenarios = { reconnect };
if (!scenarios[scenario]) fail(`unknown scenario ${scenario}`);
scenarios[scenario]()
  .then(() => {
    console.log(`ok ${scenario}`);
    process.exit(0);
  })
  .catch((e) => fail(e && e.stack ? e.stack : String(e)));
