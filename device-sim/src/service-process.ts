import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';

export interface ServiceOptions {
  name: string;
  command: string;
  args: string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Append the child's stdout and stderr here. */
  logFile?: string;
  readyTimeoutMs?: number;
  /** Called with every JSON log line the child prints. */
  onLine?: (line: Record<string, unknown>) => void;
}

export interface ReadyLine {
  msg: 'ready';
  [k: string]: unknown;
}

/**
 * A Mertah process (cloud or gateway) started as a child: resolves once it prints its
 * `"msg":"ready"` line (see docs/contracts.md), so callers learn the ports it bound.
 */
export class ServiceProcess {
  child: ChildProcess | null = null;
  ready: ReadyLine | null = null;
  private log: WriteStream | null = null;
  exits = 0;

  constructor(readonly opts: ServiceOptions) {}

  start(): Promise<ReadyLine> {
    const o = this.opts;
    if (o.logFile && !this.log) {
      mkdirSync(dirname(o.logFile), { recursive: true });
      this.log = createWriteStream(o.logFile, { flags: 'a' });
      this.log.on('error', () => {}); // a log we cannot write must not take the service down
    }
    const child = spawn(o.command, o.args, {
      cwd: o.cwd,
      env: { ...process.env, ...o.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    this.ready = null;
    live.add(child);
    child.once('exit', () => live.delete(child));
    child.stdout?.pipe(this.log ?? devNull(), { end: false });
    child.stderr?.pipe(this.log ?? devNull(), { end: false });
    const stderrTail: string[] = [];
    child.stderr?.on('data', (b: Buffer) => {
      stderrTail.push(b.toString());
      if (stderrTail.length > 20) stderrTail.shift();
    });
    return new Promise<ReadyLine>((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(
          new Error(
            `${o.name} not ready after ${o.readyTimeoutMs ?? 30_000} ms; stderr: ${stderrTail.join('')}`,
          ),
        );
      }, o.readyTimeoutMs ?? 30_000);
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (line) => {
        if (!line.startsWith('{')) return;
        let obj: Record<string, unknown>;
        try {
          obj = JSON.parse(line);
        } catch {
          return;
        }
        o.onLine?.(obj);
        if (obj.msg === 'ready' && !this.ready) {
          this.ready = obj as ReadyLine;
          clearTimeout(timer);
          resolve(this.ready);
        }
      });
      child.once('exit', (code, signal) => {
        this.exits++;
        clearTimeout(timer);
        if (!this.ready)
          reject(
            new Error(`${o.name} exited (${code ?? signal}) before ready; stderr: ${stderrTail.join('')}`),
          );
      });
    });
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  /** SIGKILL: the process gets no chance to flush or say goodbye. */
  async kill(): Promise<void> {
    await this.signal('SIGKILL');
  }

  /** SIGTERM, then SIGKILL after the grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    const t = setTimeout(() => this.child?.kill('SIGKILL'), graceMs);
    await this.signal('SIGTERM');
    clearTimeout(t);
  }

  async close(): Promise<void> {
    await this.stop();
    this.log?.end();
    this.log = null;
  }

  private signal(sig: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve();
    return new Promise((resolve) => {
      c.once('exit', () => resolve());
      c.kill(sig);
    });
  }
}

// A child must not outlive whoever started it (a crashed test run, a killed npm start).
const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

let sink: WriteStream | null = null;
function devNull(): WriteStream {
  sink ??= createWriteStream('/dev/null');
  return sink;
}
