#!/usr/bin/env node
// discplane interop peer runner.
//
// Starts N discv5 nodes (@chainsafe/discv5) and M discv4 nodes (@ethereumjs/devp2p
// DPT) in one process, each with its own key and UDP port, and drives them with
// line-delimited JSON: commands on stdin, replies and events on stdout (one JSON
// object per line). Diagnostics go to stderr. See README.md for the protocol.
//
// Safety: binds only to --host (default 127.0.0.1); no DNS discovery, no
// public bootnodes, no NAT/UPnP, discv5 ENR auto-update off. Exits on stdin EOF,
// on {"cmd":"quit"}, on SIGINT/SIGTERM, and unconditionally after --max-seconds.

import { createSocket } from "node:dgram";
import { createHash, randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import { isIP } from "node:net";

import { Discv5 } from "@chainsafe/discv5";
import { ENR, SignableENR } from "@chainsafe/enr";
import { DPT } from "@ethereumjs/devp2p";
import { privateKeyFromRaw } from "@libp2p/crypto/keys";
import { multiaddr } from "@multiformats/multiaddr";
import { RLP } from "@ethereumjs/rlp";
import { keccak256 } from "ethereum-cryptography/keccak.js";
import { secp256k1 } from "ethereum-cryptography/secp256k1.js";

// ---------------------------------------------------------------- output
function jsonReplacer(_k, v) {
  if (typeof v === "bigint") return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString();
  if (v instanceof Uint8Array) return hex(v);
  return v;
}
function out(obj) {
  process.stdout.write(JSON.stringify(obj, jsonReplacer) + "\n");
}
function logErr(...a) {
  process.stderr.write("[peers] " + a.join(" ") + "\n");
}
const hex = (b) => Buffer.from(b).toString("hex");
const unhex = (s) => Uint8Array.from(Buffer.from(s.replace(/^0x/, ""), "hex"));

// ---------------------------------------------------------------- options
const HELP = `usage: node peers.mjs [options]
  --v5 N                 number of discv5 nodes (default 0)
  --v4 M                 number of discv4 nodes (default 0)
  --host IP              bind/advertise address (default 127.0.0.1)
  --base-port P          node k (global index) uses UDP port P+k; 0 = pick free ports (default 0)
  --bootnode X           enr:... (given to every v5 node) or enode://... (every v4 node); repeatable
  --boot-first           nodes 1.. of each kind bootstrap from node 0 of that kind
  --lookup-interval-ms T v5: each node runs a random lookup every T ms (default 5000, 0 = never)
  --v4-refresh-ms T      v4: DPT refreshInterval (default 3000; findneighbours to 1/10 of table every T/10)
  --request-timeout-ms T v5 requestTimeout / v4 ping timeout (default 1000 / 4000)
  --talk-reply MODE      v5 TALKREQ handling: echo | empty | none (default echo)
  --key-seed S           derive keys deterministically from S (default: fresh random keys)
  --trace                also print v4 wire events (every packet received by a v4 node)
  --max-seconds S        hard lifetime, exits no matter what (default 300)
  --config FILE|JSON     JSON object with the same keys (v5, v4, host, basePort, bootnodes[], bootFirst,
                         lookupIntervalMs, v4RefreshMs, requestTimeoutMs, talkReply, keySeed, trace, maxSeconds)
`;

async function parseArgs(argv) {
  const o = {
    v5: 0, v4: 0, host: "127.0.0.1", basePort: 0, bootnodes: [], bootFirst: false,
    lookupIntervalMs: 5000, v4RefreshMs: 3000, requestTimeoutMs: null, talkReply: "echo",
    keySeed: null, trace: false, maxSeconds: 300,
  };
  const num = (v, name) => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`bad number for ${name}: ${v}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${a}`);
      return argv[++i];
    };
    switch (a) {
      case "--v5": o.v5 = num(next(), a); break;
      case "--v4": o.v4 = num(next(), a); break;
      case "--host": o.host = next(); break;
      case "--base-port": o.basePort = num(next(), a); break;
      case "--bootnode": o.bootnodes.push(next()); break;
      case "--boot-first": o.bootFirst = true; break;
      case "--lookup-interval-ms": o.lookupIntervalMs = num(next(), a); break;
      case "--v4-refresh-ms": o.v4RefreshMs = num(next(), a); break;
      case "--request-timeout-ms": o.requestTimeoutMs = num(next(), a); break;
      case "--talk-reply": o.talkReply = next(); break;
      case "--key-seed": o.keySeed = next(); break;
      case "--trace": o.trace = true; break;
      case "--max-seconds": o.maxSeconds = num(next(), a); break;
      case "--config": {
        const v = next();
        const txt = v.trim().startsWith("{") ? v : (await import("node:fs")).readFileSync(v, "utf8");
        Object.assign(o, JSON.parse(txt));
        break;
      }
      case "-h": case "--help": process.stdout.write(HELP); process.exit(0);
      default: throw new Error(`unknown option ${a}`);
    }
  }
  if (!isIP(o.host)) throw new Error(`--host must be an IP address: ${o.host}`);
  if (!["echo", "empty", "none"].includes(o.talkReply)) throw new Error("--talk-reply: echo|empty|none");
  if (o.v5 + o.v4 > 256) throw new Error("at most 256 nodes");
  if (o.maxSeconds <= 0 || o.maxSeconds > 3600) throw new Error("--max-seconds must be in (0, 3600]");
  return o;
}

// ---------------------------------------------------------------- helpers
function makeKey(seed, index) {
  for (let ctr = 0; ; ctr++) {
    const k = seed === null
      ? randomBytes(32)
      : createHash("sha256").update(`discplane-interop:${seed}:${index}:${ctr}`).digest();
    if (secp256k1.utils.isValidPrivateKey(k)) return Uint8Array.from(k);
  }
}

async function freeUdpPort(host) {
  return await new Promise((resolve, reject) => {
    const s = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
    s.once("error", reject);
    s.bind(0, host, () => {
      const p = s.address().port;
      s.close(() => resolve(p));
    });
  });
}

// enode://<128 hex>@ip:tcp?discport=udp
function parseEnode(url) {
  const m = /^enode:\/\/([0-9a-fA-F]{128})@([^?]+?):(\d+)(?:\?discport=(\d+))?$/.exec(url.trim());
  if (!m) throw new Error(`bad enode URL: ${url}`);
  let host = m[2];
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (!isIP(host)) throw new Error(`enode host must be an IP: ${host}`);
  const tcpPort = Number(m[3]);
  const udpPort = m[4] !== undefined ? Number(m[4]) : tcpPort;
  return { id: unhex(m[1]), address: host, udpPort, tcpPort };
}
function enodeUrl(pub64, host, udp, tcp) {
  const h = isIP(host) === 6 ? `[${host}]` : host;
  return `enode://${hex(pub64)}@${h}:${tcp}` + (tcp !== udp ? `?discport=${udp}` : "");
}
const v4NodeId = (pub64) => hex(keccak256(pub64));

// 16 address bytes as canonical IPv6 text ("::1"), by way of the URL parser.
function ipv6Text(b) {
  const groups = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return new URL(`http://[${groups.join(":")}]`).hostname.slice(1, -1);
}

function v5Multiaddr(host, port) {
  return multiaddr(`/${isIP(host) === 6 ? "ip6" : "ip4"}/${host}/udp/${port}`);
}

// target for v5 commands: "enr:..." or a node index
function v5Target(nodes, t) {
  if (typeof t === "number") {
    const n = nodes[t];
    if (!n || n.proto !== "v5") throw new Error(`node ${t} is not a v5 node`);
    return n.enr.toENR();
  }
  if (typeof t === "string" && t.startsWith("enr:")) return ENR.decodeTxt(t);
  throw new Error("v5 target must be an enr:... string or a v5 node index");
}
function v4Target(nodes, t) {
  if (typeof t === "number") {
    const n = nodes[t];
    if (!n || n.proto !== "v4") throw new Error(`node ${t} is not a v4 node`);
    return { id: n.pub, address: n.host, udpPort: n.port, tcpPort: n.port };
  }
  if (typeof t === "string" && t.startsWith("enode://")) return parseEnode(t);
  if (typeof t === "string" && t.startsWith("enr:")) {
    const e = ENR.decodeTxt(t);
    const ip = e.ip ?? e.ip6;
    const udp = e.udp ?? e.udp6;
    if (!ip || !udp) throw new Error("ENR has no ip/udp");
    const pub = secp256k1.ProjectivePoint.fromHex(e.publicKey).toRawBytes(false).subarray(1);
    return { id: pub, address: ip, udpPort: udp, tcpPort: e.tcp ?? udp };
  }
  throw new Error("v4 target must be an enode://... URL, an enr:... string or a v4 node index");
}

function withTimeout(p, ms, what) {
  let t;
  return Promise.race([
    p.finally(() => clearTimeout(t)),
    new Promise((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: timeout after ${ms} ms`)), ms); }),
  ]);
}

// ---------------------------------------------------------------- discv5 node
class V5Node {
  constructor(index, opts, keyRaw, port) {
    this.index = index;
    this.proto = "v5";
    this.opts = opts;
    this.keyRaw = keyRaw;
    this.privateKey = privateKeyFromRaw(keyRaw);
    this.host = opts.host;
    this.port = port;
    this.enr = SignableENR.createFromPrivateKey(this.privateKey);
    if (isIP(this.host) === 6) { this.enr.ip6 = this.host; this.enr.udp6 = port; }
    else { this.enr.ip = this.host; this.enr.udp = port; }
    this.bootnodes = [];
    this.lookupTimer = null;
    this.lookupBusy = false;
    this.d = null;
  }
  get id() { return this.enr.nodeId; }
  info() {
    return { node: this.index, proto: "v5", id: this.id, enr: this.enr.encodeTxt(),
      seq: this.enr.seq, host: this.host, port: this.port };
  }
  async start() {
    const cfg = { enrUpdate: false };
    if (this.opts.requestTimeoutMs) cfg.requestTimeout = this.opts.requestTimeoutMs;
    const bindAddrs = isIP(this.host) === 6 ? { ip6: v5Multiaddr(this.host, this.port) }
      : { ip4: v5Multiaddr(this.host, this.port) };
    // The same SignableENR object is kept across restarts (seq continues).
    const d = Discv5.create({ enr: this.enr, privateKey: this.privateKey, bindAddrs, config: cfg });
    this.d = d;
    d.on("enrAdded", (enr, replaced) => out({ event: "peer_added", node: this.index, proto: "v5",
      id: enr.nodeId, enr: enr.encodeTxt(), replaced: replaced ? replaced.nodeId : undefined }));
    d.on("discovered", (enr) => { if (this.opts.trace) out({ event: "discovered", node: this.index, proto: "v5", id: enr.nodeId }); });
    d.on("talkReqReceived", (addr, enr, msg) => {
      const from = addr.socketAddr.toString();
      out({ event: "talkreq", node: this.index, proto: "v5", from_id: addr.nodeId, from,
        protocol: Buffer.from(msg.protocol).toString("utf8"), protocol_hex: hex(msg.protocol),
        payload: hex(msg.request), request_id: hex(msg.id) });
      if (this.opts.talkReply === "none") return;
      const resp = this.opts.talkReply === "echo" ? msg.request : new Uint8Array(0);
      d.sendTalkResp(addr, msg.id, resp).catch((e) => out({ event: "error", node: this.index, where: "talkresp", error: String(e?.message ?? e) }));
    });
    d.on("talkRespReceived", (addr, enr, msg) => {
      if (this.opts.trace) out({ event: "talkresp", node: this.index, proto: "v5", from_id: addr.nodeId, payload: hex(msg.response) });
    });
    // On a port already taken, @chainsafe/discv5's start() neither resolves nor rejects: give
    // it 10 s and report it as the bind failure it is (startNode then retries on a fresh port).
    let timer;
    const hung = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(
        `EADDRINUSE suspected: discv5 start on ${this.host}:${this.port} did not finish in 10 s`)), 10000);
    });
    try { await Promise.race([d.start(), hung]); } finally { clearTimeout(timer); }
    for (const b of this.bootnodes) d.addEnr(b);
    if (this.opts.lookupIntervalMs > 0) {
      const tick = () => {
        if (!this.d || !this.d.isStarted() || this.lookupBusy) return;
        this.lookupBusy = true;
        this.d.findRandomNode().catch(() => {}).finally(() => { this.lookupBusy = false; });
      };
      setTimeout(tick, 50 + Math.floor(Math.random() * 200));
      this.lookupTimer = setInterval(tick, this.opts.lookupIntervalMs);
    }
  }
  async stop() {
    clearInterval(this.lookupTimer);
    this.lookupTimer = null;
    const d = this.d;
    this.d = null;
    if (d) { d.removeAllListeners(); await d.stop().catch(() => {}); }
  }
  table() {
    return this.d ? this.d.kadValues().map((e) => e.nodeId) : [];
  }
  tableEnrs() {
    return this.d ? this.d.kadValues().map((e) => e.encodeTxt()) : [];
  }
  need() { if (!this.d) throw new Error(`node ${this.index} is stopped`); return this.d; }
  async ping(target) {
    const t0 = Date.now();
    const pong = await this.need().sendPing(target);
    return { enr_seq: pong.enrSeq, addr: `${pong.addr.ip.type === 6 ? "[" : ""}${ipStr(pong.addr.ip)}${pong.addr.ip.type === 6 ? "]" : ""}:${pong.addr.port}`, rtt_ms: Date.now() - t0 };
  }
  async findnode(target, distances) {
    const enrs = await this.need().sendFindNode(target, distances);
    return { nodes: enrs.map((e) => ({ id: e.nodeId, enr: e.encodeTxt(), seq: e.seq })) };
  }
  async lookup(targetId) {
    const d = this.need();
    const res = targetId ? await d.findNode(targetId) : await d.findRandomNode();
    return { found: res.map((e) => e.nodeId), table: this.table() };
  }
  async talkreq(target, protocol, payloadHex) {
    const resp = await this.need().sendTalkReq(target, unhex(payloadHex ?? ""), protocol);
    return { response: hex(resp) };
  }
  async enrRequest(target) {
    // discv5 has no ENRRequest; FINDNODE [0] returns the peer's own record.
    const enrs = await this.need().sendFindNode(target, [0]);
    return { nodes: enrs.map((e) => ({ id: e.nodeId, enr: e.encodeTxt(), seq: e.seq })) };
  }
  updateEnr(key, valueHex) {
    this.enr.set(key ?? "dpx", valueHex !== undefined ? unhex(valueHex) : randomBytes(4));
    return { seq: this.enr.seq, enr: this.enr.encodeTxt() };
  }
}
function ipStr(ip) {
  // discv5 SocketAddress ip: {type: 4|6, octets: Uint8Array}
  const o = ip.octets;
  if (ip.type === 4) return Array.from(o).join(".");
  const parts = [];
  for (let i = 0; i < 16; i += 2) parts.push(((o[i] << 8) | o[i + 1]).toString(16));
  return parts.join(":");
}

// ---------------------------------------------------------------- discv4 node
const V4_ENRREQUEST = 0x05;
const V4_ENRRESPONSE = 0x06;
const V4_TYPES = { 1: "ping", 2: "pong", 3: "findnode", 4: "neighbors", 5: "enrrequest", 6: "enrresponse" };

// discv4 packet = hash || signature || packet-type || RLP(packet-data), where
// signature = sign(keccak256(packet-type || packet-data)) as r||s||v (65 bytes) and
// hash = keccak256(signature || packet-type || packet-data).
function buildV4Packet(type, data, keyRaw) {
  const typedata = Uint8Array.from([type, ...RLP.encode(data)]);
  const sig = secp256k1.sign(keccak256(typedata), keyRaw);
  const body = new Uint8Array(65 + typedata.length);
  body.set(unhex(sig.r.toString(16).padStart(64, "0")), 0);
  body.set(unhex(sig.s.toString(16).padStart(64, "0")), 32);
  body[64] = sig.recovery;
  body.set(typedata, 65);
  const pkt = new Uint8Array(32 + body.length);
  pkt.set(keccak256(body), 0);
  pkt.set(body, 32);
  return pkt;
}

class V4Node {
  constructor(index, opts, keyRaw, port) {
    this.index = index;
    this.proto = "v4";
    this.opts = opts;
    this.keyRaw = keyRaw;
    this.pub = secp256k1.getPublicKey(keyRaw, false).subarray(1);
    this.host = opts.host;
    this.port = port;
    this.bootnodes = [];
    this.dpt = null;
    this.waiters = new Set(); // {match(typename, rinfo, msg), resolve}
  }
  get id() { return v4NodeId(this.pub); }
  get enode() { return enodeUrl(this.pub, this.host, this.port, this.port); }
  info() {
    return { node: this.index, proto: "v4", id: this.id, pubkey: hex(this.pub),
      enode: this.enode, host: this.host, port: this.port };
  }
  async start() {
    const dpt = new DPT(this.keyRaw, {
      endpoint: { address: this.host, udpPort: this.port, tcpPort: this.port },
      refreshInterval: this.opts.v4RefreshMs,
      shouldFindNeighbours: true,
      onlyConfirmed: false,
      shouldGetDnsPeers: false, // EIP-1459 DNS discovery OFF
      dnsNetworks: [],
      dnsAddr: "127.0.0.1", // DPT always calls dns.setServers(); never point it at a public resolver
      timeout: this.opts.requestTimeoutMs ?? 4000,
      createSocket: () => createSocket({ type: isIP(this.host) === 6 ? "udp6" : "udp4" }),
    });
    this.dpt = dpt;
    dpt.events.on("peer:added", (p) => out({ event: "peer_added", node: this.index, proto: "v4", ...(hex(p.id) === hex(this.pub) ? { self: true } : {}),
      id: v4NodeId(p.id), enode: enodeUrl(p.id, p.address, p.udpPort, p.tcpPort ?? p.udpPort) }));
    dpt.events.on("peer:removed", (p) => out({ event: "peer_removed", node: this.index, proto: "v4", id: v4NodeId(p.id) }));
    dpt.events.on("error", (e) => { if (this.opts.trace) out({ event: "v4_error", node: this.index, error: String(e?.message ?? e) }); });
    // Wrap the server's datagram handler: observe packets, and handle ENRResponse
    // (DPT does not implement ENRRequest/ENRResponse, EIP-868).
    const server = dpt._server;
    const orig = server._handler.bind(server);
    server._handler = (msg, rinfo) => {
      const type = msg.length > 97 ? msg[97] : -1;
      const typename = V4_TYPES[type] ?? `unknown(${type})`;
      if (this.opts.trace) out({ event: "v4_recv", node: this.index, type: typename, from: `${rinfo.address}:${rinfo.port}`, len: msg.length });
      for (const w of [...this.waiters]) {
        try { if (w.match(type, rinfo, msg)) { this.waiters.delete(w); w.resolve(msg); } } catch { /* ignore */ }
      }
      if (type === V4_ENRRESPONSE) return; // consumed above (the library would throw "Invalid type")
      orig(msg, rinfo);
    };
    await new Promise((resolve, reject) => {
      dpt.events.once("listening", resolve);
      server._socket.once("error", reject);
      dpt.bind(this.port, this.host);
    });
    for (const b of this.bootnodes) {
      dpt.bootstrap(b).catch((e) => out({ event: "error", node: this.index, where: "bootstrap", error: String(e?.message ?? e) }));
    }
  }
  async stop() {
    const dpt = this.dpt;
    this.dpt = null;
    for (const w of this.waiters) w.reject?.(new Error("node stopped"));
    this.waiters.clear();
    if (dpt) {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, 500);
        dpt.events.once("close", () => { clearTimeout(t); resolve(); });
        try { dpt.destroy(); } catch { clearTimeout(t); resolve(); }
      });
    }
  }
  // DPT can insert its own record into its k-bucket (it pings itself when a
  // NEIGHBORS packet lists it); "table" leaves it out and reports it separately.
  peersNotSelf() { return this.dpt ? this.dpt.getPeers().filter((p) => hex(p.id) !== hex(this.pub)) : []; }
  selfInTable() { return !!this.dpt && this.dpt.getPeers().some((p) => hex(p.id) === hex(this.pub)); }
  table() { return this.peersNotSelf().map((p) => v4NodeId(p.id)); }
  tableEnodes() { return this.peersNotSelf().map((p) => enodeUrl(p.id, p.address, p.udpPort, p.tcpPort ?? p.udpPort)); }
  need() { if (!this.dpt) throw new Error(`node ${this.index} is stopped`); return this.dpt; }
  waitFor(match, ms, what) {
    let w;
    const p = new Promise((resolve, reject) => { w = { match, resolve, reject }; this.waiters.add(w); });
    return withTimeout(p, ms, what).finally(() => this.waiters.delete(w));
  }
  async ping(target) {
    const t0 = Date.now();
    const peer = await this.need()._server.ping(target);
    return { id: v4NodeId(peer.id), rtt_ms: Date.now() - t0 };
  }
  async findnode(target, targetIdHex, timeoutMs) {
    const dpt = this.need();
    const tid = targetIdHex ? unhex(targetIdHex) : randomBytes(64);
    if (tid.length !== 64) throw new Error("v4 findnode target id must be 64 bytes (a public key)");
    const nodes = [];
    // Collect NEIGHBORS packets from the target's address for up to timeoutMs
    // (a response may be split over several packets); decode them with the library.
    const { decode } = await import("@ethereumjs/devp2p");
    const collector = { match: (type, rinfo, msg) => {
      if (type === 4 && rinfo.address === target.address && rinfo.port === target.udpPort) {
        try {
          // ethereumjs' ipToString reads a 16-byte address through a DataView over the whole
          // packet buffer (it ignores the view's byteOffset), so its IPv6 addresses come out as
          // bytes of the packet's hash: the address is read again from the packet's RLP here,
          // the library's kept as library_address.
          const raw = RLP.decode(msg.subarray(98))[0];
          decode(msg).data.peers.forEach((p, i) => {
            const ipBytes = raw[i]?.[0];
            const address = ipBytes?.length === 16 ? ipv6Text(ipBytes) : p.endpoint.address;
            nodes.push({ id: v4NodeId(p.id), library_address: p.endpoint.address,
              enode: enodeUrl(p.id, address, p.endpoint.udpPort, p.endpoint.tcpPort ?? p.endpoint.udpPort) });
          });
        } catch (e) { nodes.push({ error: String(e.message) }); }
      }
      return false;
    }, resolve() {} };
    this.waiters.add(collector);
    dpt._server.findneighbours(target, tid);
    await new Promise((r) => setTimeout(r, timeoutMs ?? 1000));
    this.waiters.delete(collector);
    return { nodes };
  }
  async lookup() {
    const dpt = this.need();
    const tid = randomBytes(64);
    for (const p of dpt.getPeers()) dpt._server.findneighbours(p, tid);
    await new Promise((r) => setTimeout(r, 1500));
    return { table: this.table() };
  }
  async enrRequest(target, timeoutMs) {
    // EIP-868 ENRRequest: packet-data = [expiration]; reply ENRResponse = [request-hash, ENR].
    const server = this.need()._server;
    const expiration = Math.floor(Date.now() / 1000) + 20;
    const pkt = buildV4Packet(V4_ENRREQUEST, [expiration], this.keyRaw);
    const hash = pkt.subarray(0, 32);
    const resP = this.waitFor((type, rinfo) => type === V4_ENRRESPONSE && rinfo.address === target.address && rinfo.port === target.udpPort,
      timeoutMs ?? 2000, "enr_request");
    server._socket.send(pkt, 0, pkt.length, target.udpPort, target.address);
    const msg = await resP;
    const fields = RLP.decode(msg.subarray(98));
    const replyTok = fields[0];
    const enr = ENR.decode(RLP.encode(fields[1]));
    return { request_hash_ok: hex(replyTok) === hex(hash), enr: enr.encodeTxt(), id: enr.nodeId, seq: enr.seq };
  }
}

// ---------------------------------------------------------------- main
const opts = await parseArgs(process.argv.slice(2)).catch((e) => {
  process.stderr.write(`peers.mjs: ${e.message}\n${HELP}`);
  process.exit(2);
});

let shuttingDown = false;
const nodes = [];
async function shutdown(reason, code = 0) {
  if (shuttingDown) return;
  shuttingDown = true;
  const hard = setTimeout(() => process.exit(code), 2000);
  hard.unref();
  await Promise.allSettled(nodes.map((n) => n.stop()));
  out({ event: "exit", reason });
  process.exit(code);
}
// Hard maximum lifetime: not unref'd, always fires.
setTimeout(() => {
  out({ event: "exit", reason: "max-seconds" });
  process.exit(3);
}, opts.maxSeconds * 1000);
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));
process.on("unhandledRejection", (e) => out({ event: "error", where: "unhandledRejection", error: String(e?.message ?? e) }));
process.on("uncaughtException", (e) => out({ event: "error", where: "uncaughtException", error: String(e?.stack ?? e) }));
process.stdout.on("error", () => process.exit(0)); // reader went away

const total = opts.v5 + opts.v4;
for (let k = 0; k < total; k++) {
  const port = opts.basePort > 0 ? opts.basePort + k : await freeUdpPort(opts.host);
  const key = makeKey(opts.keySeed, k);
  nodes.push(k < opts.v5 ? new V5Node(k, opts, key, port) : new V4Node(k, opts, key, port));
}
const v5s = nodes.filter((n) => n.proto === "v5");
const v4s = nodes.filter((n) => n.proto === "v4");
for (const b of opts.bootnodes) {
  if (b.startsWith("enr:")) { ENR.decodeTxt(b); v5s.forEach((n) => n.bootnodes.push(b)); }
  else if (b.startsWith("enode://")) { const p = parseEnode(b); v4s.forEach((n) => n.bootnodes.push(p)); }
  else { process.stderr.write(`peers.mjs: bad --bootnode ${b}\n`); process.exit(2); }
}
// A picked port is probed, closed and then bound by its node: a process of a test running in
// parallel can take it in between. A node that meets EADDRINUSE on a picked port is made again
// on a fresh one (same key, same bootnodes), up to 5 times.
async function startNode(i) {
  for (let attempt = 0; ; attempt++) {
    try { await nodes[i].start(); return; } catch (e) {
      const busy = String(e?.message ?? e).includes("EADDRINUSE");
      if (!busy || opts.basePort > 0 || attempt >= 5) throw e;
      const old = nodes[i];
      await old.stop().catch(() => {});
      const Node = old.proto === "v5" ? V5Node : V4Node;
      nodes[i] = new Node(i, opts, old.keyRaw, await freeUdpPort(opts.host));
      nodes[i].bootnodes.push(...old.bootnodes);
    }
  }
}
// --boot-first: each later node of a protocol bootstraps from that protocol's first node, as
// started (its port is final by then).
const firstOf = {};
for (let i = 0; i < nodes.length; i++) {
  const first = firstOf[nodes[i].proto];
  if (opts.bootFirst && first) {
    nodes[i].bootnodes.push(first.proto === "v5" ? first.enr.encodeTxt()
      : { id: first.pub, address: first.host, udpPort: first.port, tcpPort: first.port });
  }
  try { await startNode(i); } catch (e) {
    out({ event: "error", node: i, where: "start", error: String(e?.message ?? e) });
    await shutdown("start-failed", 1);
  }
  firstOf[nodes[i].proto] ??= nodes[i];
  out({ event: "node", ...nodes[i].info() });
}
out({ event: "ready", v5: opts.v5, v4: opts.v4, pid: process.pid, max_seconds: opts.maxSeconds });

function nodeAt(i) {
  const n = nodes[i];
  if (!n) throw new Error(`no node ${i}`);
  return n;
}
async function handle(c) {
  const node = () => nodeAt(c.node);
  switch (c.cmd) {
    case "nodes": return { nodes: nodes.map((n) => n.info()) };
    case "table": {
      const list = c.node !== undefined ? [node()] : nodes;
      return { tables: list.map((n) => ({ node: n.index, proto: n.proto, running: !!(n.d ?? n.dpt),
        peers: n.table(), ...(n.proto === "v4" ? { self_in_table: n.selfInTable() } : {}), ...(c.full ? (n.proto === "v5" ? { enrs: n.tableEnrs() } : { enodes: n.tableEnodes() }) : {}) })) };
    }
    case "ping": {
      const n = node();
      const tgt = n.proto === "v5" ? v5Target(nodes, c.target) : v4Target(nodes, c.target);
      return await withTimeout(n.ping(tgt), c.timeout_ms ?? 5000, "ping");
    }
    case "findnode": {
      const n = node();
      if (n.proto === "v5") return await withTimeout(n.findnode(v5Target(nodes, c.target), c.distances ?? [256]), c.timeout_ms ?? 5000, "findnode");
      return await n.findnode(v4Target(nodes, c.target), c.target_id, c.timeout_ms ?? 1000);
    }
    case "lookup": {
      const n = node();
      return await withTimeout(n.lookup(c.target_id), c.timeout_ms ?? 30000, "lookup");
    }
    case "talkreq": {
      const n = node();
      if (n.proto !== "v5") throw new Error("talkreq: discv5 only");
      return await withTimeout(n.talkreq(v5Target(nodes, c.target), c.protocol ?? "echo", c.payload ?? ""), c.timeout_ms ?? 5000, "talkreq");
    }
    case "enr_request": {
      const n = node();
      if (n.proto === "v5") return await withTimeout(n.enrRequest(v5Target(nodes, c.target)), c.timeout_ms ?? 5000, "enr_request");
      return await n.enrRequest(v4Target(nodes, c.target), c.timeout_ms ?? 2000);
    }
    case "add_enr": { // v5: put a record into the table; v4: bootstrap (ping + findneighbours)
      const n = node();
      if (n.proto === "v5") { n.need().addEnr(c.target); return {}; }
      await n.need().bootstrap(v4Target(nodes, c.target));
      return {};
    }
    case "update_enr": {
      const n = node();
      if (n.proto !== "v5") throw new Error("update_enr: the discv4 library (DPT) keeps no ENR");
      return n.updateEnr(c.key, c.value);
    }
    case "restart": {
      const n = node();
      await n.stop();
      if (c.down_ms) await new Promise((r) => setTimeout(r, Math.min(c.down_ms, 30000)));
      await n.start();
      return { info: n.info() };
    }
    case "stop": { const n = node(); await n.stop(); return {}; }
    case "start": { const n = node(); if (n.d ?? n.dpt) throw new Error("already running"); await n.start(); return { info: n.info() }; }
    case "quit": setImmediate(() => shutdown("quit")); return {};
    default: throw new Error(`unknown cmd ${c.cmd}`);
  }
}

let queue = Promise.resolve();
const rl = createInterface({ input: process.stdin, terminal: false });
rl.on("line", (line) => {
  line = line.trim();
  if (!line) return;
  let c;
  try { c = JSON.parse(line); } catch (e) { out({ reply: null, ok: false, error: `bad JSON: ${e.message}` }); return; }
  const base = { reply: c.cmd ?? null, ...(c.req !== undefined ? { req: c.req } : {}), ...(c.node !== undefined ? { node: c.node } : {}) };
  const run = () => Promise.resolve().then(() => handle(c))
    .then((r) => out({ ...base, ok: true, ...r }))
    .catch((e) => out({ ...base, ok: false, error: String(e?.message ?? e) }));
  // Read-only / control commands answer at once; all others run one at a time,
  // in the order received (each is bounded by its own timeout).
  if (["table", "nodes", "quit"].includes(c.cmd)) run();
  else queue = queue.then(run);
});
rl.on("close", () => shutdown("stdin-eof"));
