import { execFile } from 'node:child_process';
import type { Logger } from 'pino';

/**
 * systemd's notify protocol (sd_notify(3)): READY=1, WATCHDOG=1, STOPPING=1 and STATUS=
 * lines sent as one datagram to the unix socket in $NOTIFY_SOCKET.
 *
 * Node has no unix datagram sockets and the gateway takes no new dependency, so each
 * message is handed to the `systemd-notify` binary (Debian's systemd package, present on
 * every systemd host). The unit therefore says `NotifyAccess=all`: the sender is a child
 * in the service's cgroup. `--pid=<our pid>` adds MAINPID= so systemd keeps tracking the
 * node process, and systemd-notify waits (BARRIER=1) until systemd has read the message,
 * so the child's exit cannot race the manager's look-up of its cgroup.
 *
 * The watchdog ping is a timer on the gateway's own event loop: if the loop stalls (a
 * blocking call, a livelock), the pings stop and systemd kills and restarts the process.
 * Without $NOTIFY_SOCKET every call is a no-op; without $WATCHDOG_USEC there are no pings.
 */
export type SdSend = (lines: readonly string[]) => Promise<void>;

export interface SdNotifierOptions {
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /** Our pid (for MAINPID= and the $WATCHDOG_PID check). */
  pid?: number;
  /** Replaces the systemd-notify child (unit tests). */
  send?: SdSend;
  /** The helper binary; `systemd-notify` on $PATH by default. */
  binary?: string;
}

/** Watchdog interval asked for by systemd, in ms, or null when the watchdog is off for us. */
export function watchdogIntervalMs(env: NodeJS.ProcessEnv, pid: number): number | null {
  const usec = Number(env.WATCHDOG_USEC);
  if (!env.WATCHDOG_USEC || !Number.isFinite(usec) || usec <= 0) return null;
  if (env.WATCHDOG_PID && Number(env.WATCHDOG_PID) !== pid) return null; // meant for another process
  return usec / 1000;
}

export class SdNotifier {
  /** True when $NOTIFY_SOCKET is set, i.e. a service manager listens. */
  readonly enabled: boolean;
  /** The full watchdog timeout in ms (pings go at half of it), or null. */
  readonly watchdogMs: number | null;
  private readonly log: Logger;
  private readonly send: SdSend;
  private chain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private timer: NodeJS.Timeout | null = null;
  private lastStatus: string | null = null;
  private broken = false;

  constructor(opts: SdNotifierOptions) {
    const env = opts.env ?? process.env;
    const pid = opts.pid ?? process.pid;
    this.log = opts.logger.child({ component: 'sd-notify' });
    this.enabled = Boolean(env.NOTIFY_SOCKET);
    this.watchdogMs = this.enabled ? watchdogIntervalMs(env, pid) : null;
    const binary = opts.binary ?? 'systemd-notify';
    this.send =
      opts.send ??
      ((lines) =>
        new Promise<void>((resolve, reject) => {
          execFile(binary, [`--pid=${pid}`, ...lines], { env, timeout: 5000 }, (err) =>
            err ? reject(err) : resolve(),
          );
        }));
  }

  /** The service is up: READY=1 plus a first status; then starts the watchdog pings. */
  ready(status: () => string): Promise<void> {
    const s = status();
    this.lastStatus = s;
    const p = this.notify(['READY=1', `STATUS=${s}`]);
    this.startPings(status);
    return p;
  }

  /**
   * Pings at half the watchdog timeout (or refreshes STATUS= every 10 s without a watchdog).
   * Runs on the caller's event loop on purpose: a stalled loop sends nothing.
   */
  private startPings(status: () => string): void {
    if (!this.enabled || this.timer) return;
    const every = this.watchdogMs !== null ? Math.max(50, this.watchdogMs / 2) : 10_000;
    this.timer = setInterval(() => {
      if (this.inFlight >= 2) return; // the helper is slow: one queued message is enough
      const lines: string[] = [];
      if (this.watchdogMs !== null) lines.push('WATCHDOG=1');
      const s = status();
      if (s !== this.lastStatus) {
        this.lastStatus = s;
        lines.push(`STATUS=${s}`);
      }
      if (lines.length > 0) void this.notify(lines);
    }, every);
    this.timer.unref();
  }

  /** STOPPING=1 (stops the pings first); resolves once delivered or failed. */
  stopping(status = 'stopping'): Promise<void> {
    this.close();
    return this.notify(['STOPPING=1', `STATUS=${status}`]);
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Sends one message, in order after the previous ones; never rejects. */
  notify(lines: readonly string[]): Promise<void> {
    if (!this.enabled || this.broken) return Promise.resolve();
    this.inFlight++;
    this.chain = this.chain
      .then(() => this.send(lines))
      .catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') {
          this.broken = true;
          this.log.error(
            { code: 'E_SD_NOTIFY_MISSING', err: err.message },
            'systemd-notify not found: install the systemd package; readiness and watchdog pings are off',
          );
        } else {
          this.log.warn({ code: 'E_SD_NOTIFY', err: err.message, lines }, 'sd_notify failed');
        }
      })
      .finally(() => {
        this.inFlight--;
      });
    return this.chain;
  }
}
