// postinstall: patch @chainsafe/enr 5.0.0 so that bytesToBigint(empty) == 0n.
//
// Why: enr 5.0.0's util.bytesToBigint(b) is BigInt(`0x${hex(b)}`), which throws
// "SyntaxError: Cannot convert 0x to a BigInt" for a zero-length byte string.
// RLP encodes the integer 0 as an empty string, so enr 5.0.0 cannot decode an
// ENR whose seq is 0, and @chainsafe/discv5 (which imports bytesToBigint from
// enr) also throws on a PING/PONG with enr-seq 0 or an empty request-id.
// Upstream fixed this in ChainSafe/discv5#308 (released as enr 5.0.1), which is
// not available from the registry reachable here, so we pin enr 5.0.0 and patch
// the one function. Idempotent; fails loudly (exit 1) if the code is not found.
import { readFileSync, writeFileSync, existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const here = dirname(fileURLToPath(import.meta.url));
const file = join(here, "node_modules", "@chainsafe", "enr", "lib", "util.js");
const MARK = "/* discplane-patch: empty bytes -> 0n */";
const ORIG = "export function bytesToBigint(bytes) {\n    return BigInt(`0x${bytesToHex(bytes)}`);\n}";
const NEW =
  "export function bytesToBigint(bytes) {\n    " + MARK +
  "\n    if (bytes.length === 0)\n        return 0n;\n    return BigInt(`0x${bytesToHex(bytes)}`);\n}";

if (!existsSync(file)) {
  console.error(`patch-enr: ${file} not found (is @chainsafe/enr 5.0.0 installed?)`);
  process.exit(1);
}
const src = readFileSync(file, "utf8");
if (src.includes(MARK)) {
  console.log("patch-enr: @chainsafe/enr already patched");
} else if (src.includes(ORIG)) {
  writeFileSync(file, src.replace(ORIG, NEW));
  console.log("patch-enr: patched @chainsafe/enr bytesToBigint (empty -> 0n)");
} else {
  console.error("patch-enr: expected bytesToBigint body not found in " + file +
    "; the @chainsafe/enr version changed, review patch-enr.mjs");
  process.exit(1);
}
// self-check
const { bytesToBigint } = await import(file + "?check=" + Date.now());
if (bytesToBigint(new Uint8Array(0)) !== 0n || bytesToBigint(Uint8Array.of(1, 0)) !== 256n) {
  console.error("patch-enr: self-check failed");
  process.exit(1);
}
