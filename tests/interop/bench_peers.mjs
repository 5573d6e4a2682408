#!/usr/bin/env node
// Benchmark targets for `discbench --target` (scripts/side-by-side.sh): ONE discovery node per
// process, with the libraries' default settings, no event output per packet (so the
// measurement does not pay for logging), bound to a loopback address.
//
//   node bench_peers.mjs --proto v5|v4 [--host 127.0.0.1] [--port 0] [--seed-peers 12]
//                        [--key-seed S] [--max-seconds 600]
//
// Prints one line on stdout: the node's record (enr:... for v5, enode://... for v4), then
// nothing more. Exits on SIGINT/SIGTERM, or after --max-seconds (stdin is not read).
//
// v5: @chainsafe/discv5 Discv5 with enrUpdate off (no ENR changes from PONG votes) and no
//     lookups (the node only answers). No rate limiter (the library's default).
// v4: @ethereumjs/devp2p DPT with DNS discovery off. DPT adds no peer on an inbound PING, so
//     its table would stay empty and its NEIGHBORS carry no node: --seed-peers N puts N
//     synthetic peers (random keys, addresses 127.3.0.x, nothing listens there) straight into
//     its k-bucket, so that FINDNODE is answered with nodes. Default 12: DPT puts up to 16
//     nodes into ONE NEIGHBORS packet, which is over the 1280-byte limit beyond 12 nodes
//     (discplane and geth drop such packets; so does discbench's check).
import { createSocket } from "node:dgram";
import { createHash, randomBytes } from "node:crypto";
import { isIP } from "node:net";

import { Discv5 } from "@chainsafe/discv5";
import { SignableENR } from "@chainsafe/enr";
import { DPT } from "@ethereumjs/devp2p";
import { privateKeyFromRaw } from "@libp2p/crypto/keys";
import { multiaddr } from "@multiformats/multiaddr";
import { secp256k1 } from "ethereum-cryptography/secp256k1.js";

const o = { proto: null, host: "127.0.0.1", port: 0, seedPeers: 12, keySeed: null, maxSeconds: 600 };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const next = () => argv[++i];
  switch (argv[i]) {
    case "--proto": o.proto = next(); break;
    case "--host": o.host = next(); break;
    case "--port": o.port = Number(next()); break;
    case "--seed-peers": o.seedPeers = Number(next()); break;
    case "--key-seed": o.keySeed = next(); break;
    case "--max-seconds": o.maxSeconds = Number(next()); break;
    default:
      process.stderr.write(`bench_peers.mjs: unknown option ${argv[i]}\n`);
      process.exit(2);
  }
}
if (!["v4", "v5"].includes(o.proto) || !isIP(o.host) || !(o.maxSeconds > 0 && o.maxSeconds <= 3600)) {
  process.stderr.write("usage: node bench_peers.mjs --proto v5|v4 [--host IP] [--port P] [--seed-peers N] [--key-seed S] [--max-seconds S]\n");
  process.exit(2);
}

function makeKey(seed, label) {
  for (let ctr = 0; ; ctr++) {
    const k = seed === null ? randomBytes(32)
      : createHash("sha256").update(`discplane-bench:${seed}:${label}:${ctr}`).digest();
    if (secp256k1.utils.isValidPrivateKey(k)) return Uint8Array.from(k);
  }
}
async function freeUdpPort(host) {
  return await new Promise((resolve, reject) => {
    const s = createSocket(isIP(host) === 6 ? "udp6" : "udp4");
    s.once("error", reject);
    s.bind(0, host, () => { const p = s.address().port; s.close(() => resolve(p)); });
  });
}
const hex = (b) => Buffer.from(b).toString("hex");

const port = o.port > 0 ? o.port : await freeUdpPort(o.host);
const key = makeKey(o.keySeed, o.proto);
let stop = async () => {};

if (o.proto === "v5") {
  const privateKey = privateKeyFromRaw(key);
  const enr = SignableENR.createFromPrivateKey(privateKey);
  if (isIP(o.host) === 6) { enr.ip6 = o.host; enr.udp6 = port; } else { enr.ip = o.host; enr.udp = port; }
  const ma = multiaddr(`/${isIP(o.host) === 6 ? "ip6" : "ip4"}/${o.host}/udp/${port}`);
  const d = Discv5.create({ enr, privateKey, bindAddrs: isIP(o.host) === 6 ? { ip6: ma } : { ip4: ma },
    config: { enrUpdate: false } });
  await d.start();
  stop = async () => { await d.stop().catch(() => {}); };
  process.stdout.write(enr.encodeTxt() + "\n");
} else {
  const dpt = new DPT(key, {
    endpoint: { address: o.host, udpPort: port, tcpPort: port },
    shouldFindNeighbours: false, // no outbound discovery traffic: the node only answers
    shouldGetDnsPeers: false,
    dnsNetworks: [],
    dnsAddr: "127.0.0.1", // DPT always calls dns.setServers(); never a public resolver
    createSocket: () => createSocket({ type: isIP(o.host) === 6 ? "udp6" : "udp4" }),
  });
  await new Promise((resolve, reject) => {
    dpt.events.once("listening", resolve);
    dpt._server._socket.once("error", reject);
    dpt.bind(port, o.host);
  });
  dpt.events.on("error", () => {});
  for (let k = 0; k < o.seedPeers; k++) {
    const pub = secp256k1.getPublicKey(makeKey(o.keySeed ?? "seed", `peer${k}`), false).subarray(1);
    dpt._kbucket.add({ id: pub, address: `127.3.0.${1 + (k % 250)}`, udpPort: 30303, tcpPort: 30303 });
  }
  stop = async () => { try { dpt.destroy(); } catch { /* closing */ } };
  const pub = secp256k1.getPublicKey(key, false).subarray(1);
  process.stdout.write(`enode://${hex(pub)}@${o.host}:${port}\n`);
}

let done = false;
async function shutdown(code) {
  if (done) return;
  done = true;
  setTimeout(() => process.exit(code), 1000).unref();
  await stop();
  process.exit(code);
}
setTimeout(() => shutdown(3), o.maxSeconds * 1000);
process.on("SIGINT", () => shutdown(0));
process.on("SIGTERM", () => shutdown(0));
process.stdout.on("error", () => {});
