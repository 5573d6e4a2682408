#!/usr/bin/env node
// Reads an EIP-1459 tree from a DNS server with @ethereumjs/devp2p's DNS discovery client (a
// third-party implementation) and prints one JSON line:
//   {"root_verified": true, "seq": N, "wrong_key_rejected": true,
//    "leaves": [{"id": "<node id hex>", "accepted": true} | {"id": ..., "accepted": false,
//                "error": "..."}],
//    "peers": [{"address": "127.0.0.1", "udpPort": 30303, "tcpPort": 30303}]}
// or {"error": "..."} (exit 1).
//
//   node dns_client.mjs --url enrtree://KEY@DOMAIN --server 127.0.0.1:PORT [--want N]
//                       [--max-seconds S]
//
// The root is fetched once and checked with ENR.parseAndVerifyRoot against the URL's key (and
// against another key, which must fail). Then the whole ENR subtree is walked with the
// library's parsers (ENR.parseBranch; ENR.parseAndVerifyRecord for each leaf, whose verdict is
// reported per leaf: the library refuses records without a `tcp` entry), and DNS.getPeers
// walks it the library's way (random descent) until `want` distinct peers were read or the
// rounds run out. Queries go only to --server.

import { promises as dnsp } from "node:dns";

import { DNS, ENR } from "@ethereumjs/devp2p";
import { RLP } from "@ethereumjs/rlp";
import { keccak256 } from "ethereum-cryptography/keccak.js";
import { secp256k1 } from "ethereum-cryptography/secp256k1.js";

function arg(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const url = arg("--url");
const server = arg("--server");
const want = Number(arg("--want", "1"));
const maxSeconds = Number(arg("--max-seconds", "30"));
setTimeout(() => {
  console.log(JSON.stringify({ error: `no result within ${maxSeconds}s` }));
  process.exit(1);
}, maxSeconds * 1000).unref();

function hex(b) {
  return Buffer.from(b).toString("hex");
}

async function main() {
  if (!url || !server) throw new Error("--url and --server are required");
  const { publicKey, domain } = ENR.parseTree(url);
  const resolver = new dnsp.Resolver();
  resolver.setServers([server]);
  const txt = await resolver.resolveTxt(domain);
  const root = txt.map((parts) => parts.join("")).find((t) => t.startsWith(ENR.ROOT_PREFIX));
  if (!root) throw new Error(`no ${ENR.ROOT_PREFIX} TXT record at ${domain}`);
  ENR.parseAndVerifyRoot(root, publicKey); // throws when the signature does not verify
  const seq = Number(/ seq=(\d+) /.exec(root)[1]);
  // The same root against another list's key must be refused.
  const otherKey = "AKA3AM6LPBYEUDMVNU3BSVQJ5AD45Y7YPOHJLEF6W26QOE4VTUDPE"; // EIP-1459's example key
  let wrongKeyRejected = false;
  try {
    ENR.parseAndVerifyRoot(root, otherKey);
  } catch {
    wrongKeyRejected = true;
  }

  // Every leaf, depth first, each hash once.
  const eroot = / e=([A-Z2-7]+) /.exec(root)[1];
  const leaves = [];
  const seen = new Set();
  const stack = [eroot];
  while (stack.length > 0 && seen.size < 10000) {
    const hash = stack.pop();
    if (seen.has(hash)) continue;
    seen.add(hash);
    const parts = await resolver.resolveTxt(`${hash}.${domain}`);
    const entry = parts.map((p) => p.join("")).find((t) => t.startsWith("enr"));
    if (entry === undefined) throw new Error(`no tree entry at ${hash}.${domain}`);
    if (entry.startsWith(ENR.BRANCH_PREFIX)) {
      stack.push(...ENR.parseBranch(entry));
      continue;
    }
    // The node id, for the report: keccak256 of the uncompressed key in the record.
    const fields = RLP.decode(Buffer.from(entry.slice(4), "base64url"));
    let id;
    for (let i = 2; i + 1 < fields.length; i += 2) {
      if (Buffer.from(fields[i]).toString() === "secp256k1") {
        const point = secp256k1.ProjectivePoint.fromHex(fields[i + 1]).toRawBytes(false);
        id = hex(keccak256(point.slice(1)));
      }
    }
    try {
      ENR.parseAndVerifyRecord(entry);
      leaves.push({ id, accepted: true });
    } catch (e) {
      leaves.push({ id, accepted: false, error: String(e?.message ?? e) });
    }
  }

  const client = new DNS({ dnsServerAddress: server });
  const peers = new Map();
  for (let round = 0; round < 20 && peers.size < want; round++) {
    for (const p of await client.getPeers(want, [url])) {
      peers.set(`${p.address}:${p.udpPort}`, p);
    }
  }
  console.log(
    JSON.stringify({
      root_verified: true,
      seq,
      wrong_key_rejected: wrongKeyRejected,
      leaves,
      peers: [...peers.values()].map((p) => ({
        address: p.address,
        udpPort: p.udpPort,
        tcpPort: p.tcpPort,
      })),
    }),
  );
}

main().then(
  () => process.exit(0),
  (e) => {
    console.log(JSON.stringify({ error: String(e?.message ?? e) }));
    process.exit(1);
  },
);
