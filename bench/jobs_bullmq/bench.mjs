// BullMQ peer of bench/jobs (same workload as bench/jobs_sluice.py), run with node 20:
//   node bench/jobs_bullmq/bench.mjs [--jobs N] [--workers W] [--runs R] [--durable]
//                                    [--procs P] [--redis-port PORT]
// Each run gets a fresh redis-server (own temp dir, free port; --durable adds
// --appendonly yes --appendfsync always), or FLUSHALL on --redis-port's server, which is then
// used as it is configured. P worker processes (default min(W, cores)) run a BullMQ Worker
// each, with concurrency split so the total is W; the task returns its payload.
// Measures, after a 100-job warm-up that is not counted:
//   accept_s           one queue.addBulk of N jobs {n: i}, until Redis has acknowledged it all
//   throughput_jobs_s  N / (first enqueue -> the N-th completion, polled every 10 ms)
//   overhead_ms        W / throughput * 1000 (time one worker slot spends per job)
// One JSON line per run and one with the medians go to stdout; logs go to stderr.
// Every wait is bounded (300 s); only processes started here are stopped, by PID.
import { spawn, fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const LIMIT_MS = 300_000;
const QUEUE = 'sluice-bench';
const log = (...a) => console.error('jobs_bullmq:', ...a);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let stopping = false; // set when giving up: connection errors after that are expected

let bullmq, IORedis;
try {
  bullmq = await import('bullmq');
  IORedis = (await import('ioredis')).default;
} catch (e) {
  console.error('jobs_bullmq: bullmq/ioredis not installed (run bench/jobs_peers_setup):', e.message);
  process.exit(2);
}
const redisClient = (port, extra = {}) =>
  new IORedis({ host: '127.0.0.1', port, maxRetriesPerRequest: null, ...extra });

// ---- worker child: `bench.mjs --child-worker PORT CONCURRENCY` --------------------------
if (process.argv[2] === '--child-worker') {
  const port = Number(process.argv[3]);
  const conn = redisClient(port); // ours, not BullMQ's: disconnected here after close()
  const worker = new bullmq.Worker(QUEUE, async (job) => job.data, {
    connection: conn,
    concurrency: Number(process.argv[4]),
  });
  let closing = false;
  worker.on('error', (e) => closing || log('worker error:', e.message));
  await worker.waitUntilReady();
  const stop = async () => {
    if (closing) return;
    closing = true;
    await Promise.race([worker.close(), sleep(10_000)]);
    conn.disconnect();
    process.exit(0);
  };
  process.on('message', (m) => m === 'stop' && stop());
  process.on('disconnect', stop); // the parent went away: never outlive it
  process.send('ready');
} else {
  await main();
}

function parseArgs(argv) {
  const a = { jobs: 10000, workers: 4, runs: 3, durable: false, procs: 0, redisPort: 0 };
  for (let i = 0; i < argv.length; i++) {
    const k = argv[i];
    const num = () => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v < 0) usage();
      return v;
    };
    if (k === '--jobs') a.jobs = num();
    else if (k === '--workers') a.workers = num();
    else if (k === '--runs') a.runs = num();
    else if (k === '--procs') a.procs = num();
    else if (k === '--redis-port') a.redisPort = num();
    else if (k === '--durable') a.durable = true;
    else usage();
  }
  if (a.jobs < 1 || a.workers < 1 || a.runs < 1) usage();
  if (!a.procs) a.procs = Math.min(a.workers, cpus().length);
  a.procs = Math.min(a.procs, a.workers);
  return a;
}

function usage() {
  console.error('usage: bench.mjs [--jobs N] [--workers W] [--runs R] [--durable] [--procs P]' +
                ' [--redis-port PORT]');
  process.exit(2);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

// Wait for a child to exit (bounded), then SIGKILL it by PID; then remove its temp dir.
async function stopChild(child, signal = 'SIGTERM', graceMs = 15_000) {
  if (child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((r) => child.once('exit', r));
    if (signal) child.kill(signal);
    if (!await Promise.race([gone.then(() => true), sleep(graceMs).then(() => false)])) {
      child.kill('SIGKILL');
      await Promise.race([gone, sleep(5_000)]);
    }
  }
  if (child.tmpDir) rmSync(child.tmpDir, { recursive: true, force: true });
}

async function startRedis(durable) {
  const dir = mkdtempSync(join(tmpdir(), 'jobs-bullmq-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '',
                '--daemonize', 'no', '--logfile', join(dir, 'redis.log'),
                ...(durable ? ['--appendonly', 'yes', '--appendfsync', 'always']
                            : ['--appendonly', 'no'])];
  const proc = spawn('redis-server', args, { stdio: 'ignore' });
  proc.tmpDir = dir; // removed by stopChild once the server is gone
  const failed = new Promise((_, rej) => proc.once('error', (e) =>
    rej(new Error(`cannot start redis-server (${e.code}); run bench/jobs_peers_setup`))));
  failed.catch(() => {});
  const probe = redisClient(port, { lazyConnect: true, retryStrategy: () => null });
  probe.on('error', () => {});
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      await Promise.race([failed, probe.connect().then(() => probe.ping())]);
      break;
    } catch (e) {
      if (e.message.startsWith('cannot start')) {
        rmSync(dir, { recursive: true, force: true });
        throw e;
      }
      if (proc.exitCode !== null || Date.now() > deadline) {
        await stopChild(proc, 'SIGTERM', 5_000);
        throw new Error('redis-server did not start in 20 s');
      }
      probe.disconnect();
      await sleep(20);
    }
  }
  probe.disconnect();
  return { proc, port, dir };
}

async function waitCount(queue, target, t0, what) {
  for (;;) {
    const { completed, failed } = await queue.getJobCounts('completed', 'failed');
    if (failed > 0) throw new Error(`${what}: ${failed} jobs failed`);
    if (completed >= target) return;
    if (Date.now() - t0 > LIMIT_MS) throw new Error(`${what}: not done in ${LIMIT_MS / 1000} s`);
    await sleep(10);
  }
}

async function oneRun(a, k, started) {
  let redis = null;
  let port = a.redisPort;
  let durable = a.durable;
  if (port) {
    // A server we did not start: empty it and report how it is really configured.
    const c = redisClient(port);
    await c.flushall();
    const aof = (await c.config('GET', 'appendonly'))[1];
    const fsync = (await c.config('GET', 'appendfsync'))[1];
    durable = aof === 'yes' && fsync === 'always';
    c.disconnect();
  } else {
    redis = await startRedis(a.durable);
    started.add(redis.proc);
    port = redis.port;
  }
  const children = [];
  let queue = null;
  const conn = redisClient(port); // the producer's; BullMQ does not close a passed client
  conn.on('error', (e) => stopping || log('producer connection:', e.message));
  try {
    // Workers first, so their start-up is not timed; the warm-up proves they poll.
    const base = Math.floor(a.workers / a.procs);
    for (let i = 0; i < a.procs; i++) {
      const conc = base + (i < a.workers % a.procs ? 1 : 0);
      const c = fork(fileURLToPath(import.meta.url), ['--child-worker', String(port), String(conc)],
                     { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      started.add(c);
      children.push(c);
    }
    await Promise.all(children.map((c) => Promise.race([
      new Promise((r) => c.once('message', r)),
      new Promise((_, rej) => c.once('exit', () => rej(new Error('a worker process exited')))),
      sleep(30_000).then(() => { throw new Error('workers did not start in 30 s'); }),
    ])));
    queue = new bullmq.Queue(QUEUE, { connection: conn });
    queue.on('error', (e) => stopping || log('queue error:', e.message));
    await queue.waitUntilReady();
    const batch = (n) => Array.from({ length: n }, (_, i) => ({ name: 'noop', data: { n: i } }));

    const warm = batch(100);
    const tw = Date.now();
    await queue.addBulk(warm);
    await waitCount(queue, 100, tw, 'warm-up');

    const jobs = batch(a.jobs); // built before the clock starts, as on the Sluice side
    const t0 = performance.now();
    const added = await queue.addBulk(jobs);
    const acceptS = (performance.now() - t0) / 1000;
    if (added.length !== a.jobs) throw new Error(`addBulk returned ${added.length} jobs`);
    await waitCount(queue, 100 + a.jobs, Date.now(), `run ${k}`);
    const totalS = (performance.now() - t0) / 1000;
    const tput = a.jobs / totalS;
    return { system: 'bullmq', durable, run: k, accept_s: +acceptS.toFixed(3),
             throughput_jobs_s: +tput.toFixed(1),
             overhead_ms: +(a.workers / tput * 1000).toFixed(3) };
  } finally {
    if (queue) await Promise.race([queue.close(), sleep(5_000)]);
    conn.disconnect();
    for (const c of children) {
      if (c.connected) c.send('stop');
    }
    await Promise.all(children.map((c) => stopChild(c, null)));
    children.forEach((c) => started.delete(c));
    if (redis) {
      await stopChild(redis.proc);
      started.delete(redis.proc);
    }
  }
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const started = new Set(); // every process this script started, for cleanup on error
  const bail = async (msg, code) => {
    if (stopping) return;
    stopping = true;
    console.error('jobs_bullmq: error:', msg);
    const servers = [...started].filter((p) => p.tmpDir); // workers first, Redis last
    await Promise.all([...started].filter((p) => !p.tmpDir).map((p) => stopChild(p, 'SIGTERM', 5_000)));
    await Promise.all(servers.map((p) => stopChild(p, 'SIGTERM', 5_000)));
    process.exit(code);
  };
  process.on('SIGINT', () => bail('interrupted', 130));
  process.on('SIGTERM', () => bail('terminated', 143));
  const rows = [];
  try {
    log(`jobs=${a.jobs} workers=${a.workers} (in ${a.procs} processes) runs=${a.runs}` +
        ` durable=${a.durable}`);
    for (let k = 1; k <= a.runs; k++) {
      const r = await oneRun(a, k, started);
      rows.push(r);
      console.log(JSON.stringify(r));
    }
  } catch (e) {
    await bail(e.message, 1);
  }
  const median = (xs) => {
    const s = [...xs].sort((x, y) => x - y);
    const m = s.length >> 1;
    return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
  };
  const med = { system: 'bullmq', durable: rows[0].durable, median: true };
  for (const key of ['accept_s', 'throughput_jobs_s', 'overhead_ms']) {
    med[key] = +median(rows.map((r) => r[key])).toFixed(3);
  }
  console.log(JSON.stringify(med));
  process.exit(0);
}
