// NATS JetStream peer benchmark for bench/run (npm package `nats`, installed in bench/out).
//   node bench/js_bench.mjs publish SERVER STREAM COUNT SIZE WINDOW MAXSEC
//   node bench/js_bench.mjs consume SERVER STREAM COUNT MAXSEC
// publish: creates a file-storage stream, publishes COUNT messages of SIZE bytes with js.publish,
// keeping WINDOW acknowledged publishes in flight; every ack is awaited.
// consume: reads the stream from the start with an ordered consumer.
// Prints one key=value line like kbench.
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(path.join(here, "out", "node_modules", "x.js"));
const { connect, StorageType } = require("nats");

const [mode, server, stream, countS, ...rest] = process.argv.slice(2);
const count = Number(countS);
const nc = await connect({ servers: server, maxPingOut: 100 });
const jsm = await nc.jetstreamManager();
const js = nc.jetstream();
const subj = `${stream}.data`;

if (mode === "publish") {
  const size = Number(rest[0]), window = Number(rest[1]), maxsec = Number(rest[2]);
  try { await jsm.streams.delete(stream); } catch { /* absent */ }
  await jsm.streams.add({ name: stream, subjects: [subj], storage: StorageType.File,
    max_bytes: -1, max_msgs: -1 });
  const payload = new Uint8Array(size).fill(97);
  const t0 = performance.now(), deadline = t0 + maxsec * 1000;
  let sent = 0, acked = 0, failed = 0;
  const inflight = new Set();
  while (sent < count && performance.now() < deadline) {
    const p = js.publish(subj, payload).then(() => { acked++; }, (e) => {
      if (failed++ < 5) console.error("publish failed:", e.message);
    });
    inflight.add(p);
    p.finally(() => inflight.delete(p));
    sent++;
    if (inflight.size >= window) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const el = (performance.now() - t0) / 1000;
  console.log(`mode=publish sent=${sent} acked=${acked} failed=${failed} seconds=${el.toFixed(3)} ` +
    `rec_s=${(acked / el).toFixed(0)} mb_s=${(acked * size / el / 1048576).toFixed(2)}`);
} else if (mode === "consume") {
  const maxsec = Number(rest[0]);
  const c = await js.consumers.get(stream); // ordered consumer, from the first message
  const t0 = performance.now();
  let n = 0, bytes = 0, tl = t0;
  const msgs = await c.consume({ max_messages: 4096 });
  const timer = setTimeout(() => msgs.stop(), maxsec * 1000);
  for await (const m of msgs) {
    n++; bytes += m.data.length; tl = performance.now();
    if (n >= count) break;
  }
  clearTimeout(timer);
  const el = (tl - t0) / 1000;
  console.log(`mode=consume records=${n} bytes=${bytes} seconds=${el.toFixed(3)} ` +
    `rec_s=${(n / el).toFixed(0)} mb_s=${(bytes / el / 1048576).toFixed(2)}`);
}
await nc.close();
