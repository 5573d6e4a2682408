// Driver for selftest.sh; also a reference client of the peers.mjs line protocol
// (what the C++ tests do): spawn peers.mjs, read JSON lines, send commands.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { dirname, join } from "node:path";

const args = process.argv.slice(2);
const arg = (name, def) => {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const V5 = arg("--v5", 4), V4 = arg("--v4", 4), MIN = arg("--min-peers", 2), DEADLINE = arg("--deadline", 60);
const t0 = Date.now();
const elapsed = () => ((Date.now() - t0) / 1000).toFixed(1);

const here = dirname(fileURLToPath(import.meta.url));
const child = spawn(process.execPath, [join(here, "peers.mjs"), "--v5", String(V5), "--v4", String(V4),
  "--host", "127.0.0.1", "--base-port", "0", "--boot-first", "--lookup-interval-ms", "1000",
  "--v4-refresh-ms", "2000", "--max-seconds", String(DEADLINE + 30)], { stdio: ["pipe", "pipe", "inherit"] });

let failed = false;
function fail(msg) {
  if (failed) return;
  failed = true;
  console.error(`interop selftest: FAIL after ${elapsed()} s: ${msg}`);
  try { child.stdin.end(); } catch { /* ignore */ }
  setTimeout(() => { child.kill("SIGKILL"); process.exit(1); }, 3000).unref();
  child.on("exit", () => process.exit(1));
}
const deadline = setTimeout(() => fail(`deadline of ${DEADLINE} s reached`), DEADLINE * 1000);
child.on("exit", (code, sig) => { if (!done) fail(`peers.mjs exited early (code ${code}, signal ${sig})`); });

const nodes = [];
let nextId = 1;
const pending = new Map();
function send(cmd) {
  const id = nextId++;
  return new Promise((resolve) => {
    pending.set(id, resolve);
    child.stdin.write(JSON.stringify({ ...cmd, req: id }) + "\n");
  });
}
let readyResolve;
const ready = new Promise((r) => { readyResolve = r; });
createInterface({ input: child.stdout }).on("line", (line) => {
  let m;
  try { m = JSON.parse(line); } catch { fail(`non-JSON line from peers.mjs: ${line}`); return; }
  if (m.event === "node") nodes.push(m);
  else if (m.event === "ready") readyResolve();
  else if (m.event === "error") console.error(`peers.mjs error event: ${line}`);
  else if (m.reply !== undefined && pending.has(m.req)) { pending.get(m.req)(m); pending.delete(m.req); }
});

let done = false;
const checks = [];
async function check(name, cmd, pred) {
  const r = await send(cmd);
  const ok = r.ok && pred(r);
  checks.push({ name, ok });
  if (!ok) console.error(`interop selftest: check '${name}' failed: ${JSON.stringify(r).slice(0, 400)}`);
}

await ready;
if (nodes.length !== V5 + V4) fail(`expected ${V5 + V4} node lines, got ${nodes.length}`);
for (const n of nodes) {
  if (n.proto === "v5" && !(n.enr?.startsWith("enr:") && /^[0-9a-f]{64}$/.test(n.id))) fail(`bad v5 node line ${JSON.stringify(n)}`);
  if (n.proto === "v4" && !(n.enode?.startsWith("enode://") && /^[0-9a-f]{64}$/.test(n.id))) fail(`bad v4 node line ${JSON.stringify(n)}`);
}

// 1. wait until every table has >= MIN peers
let minSeen = 0, polls = 0;
for (;;) {
  if (failed) break;
  const r = await send({ cmd: "table" });
  polls++;
  const sizes = r.tables.map((t) => t.peers.length);
  minSeen = Math.min(...sizes);
  if (minSeen >= MIN) break;
  await new Promise((res) => setTimeout(res, 500));
}
const convergedAt = elapsed();

// 2. a few request/response round trips between JS nodes
const v5 = nodes.filter((n) => n.proto === "v5").map((n) => n.node);
const v4 = nodes.filter((n) => n.proto === "v4").map((n) => n.node);
if (!failed && v5.length >= 2) {
  const [a, b] = v5;
  await check("v5 ping", { cmd: "ping", node: b, target: nodes[a].enr }, (r) => r.enr_seq >= 1);
  await check("v5 talkreq echo", { cmd: "talkreq", node: b, target: a, protocol: "echo", payload: "0102ff" }, (r) => r.response === "0102ff");
  await check("v5 findnode", { cmd: "findnode", node: b, target: a, distances: [256, 255, 254, 253] }, (r) => Array.isArray(r.nodes));
  const u = await send({ cmd: "update_enr", node: a });
  await check("v5 enr update seen via findnode[0]", { cmd: "enr_request", node: b, target: a }, (r) => r.nodes?.[0]?.seq === u.seq);
}
if (!failed && v4.length >= 2) {
  const [a, b] = v4;
  await check("v4 ping", { cmd: "ping", node: b, target: nodes[a].enode }, (r) => r.id === nodes[a].id);
  await check("v4 findnode", { cmd: "findnode", node: b, target: a }, (r) => r.nodes.length >= 1);
}

if (!failed) {
  done = true;
  clearTimeout(deadline);
  const exited = new Promise((r) => child.on("exit", (code) => r(code)));
  child.stdin.end(); // EOF: peers.mjs must exit by itself
  const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r("timeout"), 5000))]);
  if (code === "timeout") { child.kill("SIGKILL"); console.error("interop selftest: FAIL: peers.mjs did not exit on stdin EOF"); process.exit(1); }
  const nok = checks.filter((c) => c.ok).length, nbad = checks.length - nok;
  console.log(`interop selftest: ${nbad ? "FAIL" : "PASS"}: ${V5} discv5 + ${V4} discv4 JS nodes, every table >= ${MIN} peers ` +
    `(min ${minSeen}) after ${convergedAt} s (${polls} polls); ${nok}/${checks.length} round-trip checks ok; total ${elapsed()} s`);
  process.exit(nbad ? 1 : 0);
}
