import { createServer, type Server, type Socket } from 'node:net';

/** The four Modbus data tables. */
export type ModbusIoTable = 'discrete_input' | 'coil' | 'input_register' | 'holding_register';

export interface ModbusIoModuleOptions {
  host?: string;
  /** 0 (default) picks a free port; a restart after stop() reuses the port it got. */
  port?: number;
  /** Addresses per table; reading at or beyond it is exception 2 (illegal data address). */
  size?: number;
}

/** Which requests a fault applies to; omitted fields match anything. */
export interface ModbusFaultMatch {
  unit?: number;
  table?: ModbusIoTable;
  /** Matches a request whose address range includes it. */
  address?: number;
}

export interface ModbusIoRequest {
  unit: number;
  fc: number;
  address: number;
  count: number;
}

interface Fault extends ModbusFaultMatch {
  /** Exception code to answer with, or null to stay silent. */
  exception: number | null;
}

interface UnitTables {
  discrete_input: Map<number, boolean>;
  coil: Map<number, boolean>;
  input_register: Map<number, number>;
  holding_register: Map<number, number>;
}

const FC_TABLE: Readonly<Record<number, ModbusIoTable>> = {
  1: 'coil',
  2: 'discrete_input',
  3: 'holding_register',
  4: 'input_register',
  5: 'coil',
  6: 'holding_register',
  15: 'coil',
  16: 'holding_register',
};

/**
 * A Modbus TCP I/O module (a hand-written server: modbus-serial's ServerTCP cannot listen on
 * port 0). Answers every unit id with its own tables; tests set inputs and registers, read
 * coils the gateway wrote, and inject exception codes or silence per unit, table or address.
 * Supports function codes 1, 2, 3, 4, 5, 6, 15 and 16; others get exception 1.
 */
export class ModbusIoModule {
  /** Requests received (decoded MBAP + PDU), oldest first; the last 10 000 are kept. */
  readonly requests: ModbusIoRequest[] = [];
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private readonly units = new Map<number, UnitTables>();
  private faults: Fault[] = [];
  private listenPort: number;
  private readonly host: string;
  private readonly size: number;

  constructor(opts: ModbusIoModuleOptions = {}) {
    this.host = opts.host ?? '127.0.0.1';
    this.listenPort = opts.port ?? 0;
    this.size = opts.size ?? 1024;
  }

  get port(): number {
    return this.listenPort;
  }

  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((sock) => this.onConnection(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, this.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const addr = server.address();
    if (addr && typeof addr === 'object') this.listenPort = addr.port;
    this.server = server;
  }

  /** Closes the listener and drops every connection (the module "loses power"). */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  setInput(address: number, on: boolean, unit = 1): void {
    this.tables(unit).discrete_input.set(address, on);
  }

  setCoil(address: number, on: boolean, unit = 1): void {
    this.tables(unit).coil.set(address, on);
  }

  getCoil(address: number, unit = 1): boolean {
    return this.tables(unit).coil.get(address) ?? false;
  }

  /** An input register (FC 4); uint16, negative values are stored two's complement. */
  setRegister(address: number, value: number, unit = 1): void {
    this.tables(unit).input_register.set(address, value & 0xffff);
  }

  setHoldingRegister(address: number, value: number, unit = 1): void {
    this.tables(unit).holding_register.set(address, value & 0xffff);
  }

  getHoldingRegister(address: number, unit = 1): number {
    return this.tables(unit).holding_register.get(address) ?? 0;
  }

  /** Answer matching requests with a Modbus exception code (1 illegal function, 2, 3, 4, 6, 11...). */
  injectException(code: number, match: ModbusFaultMatch = {}): void {
    this.faults.push({ ...match, exception: code });
  }

  /** Never answer matching requests (a dead unit behind a gateway, a cut RS-485 line). */
  silence(match: ModbusFaultMatch = {}): void {
    this.faults.push({ ...match, exception: null });
  }

  clearFaults(): void {
    this.faults = [];
  }

  private tables(unit: number): UnitTables {
    let t = this.units.get(unit);
    if (!t) {
      t = {
        discrete_input: new Map(),
        coil: new Map(),
        input_register: new Map(),
        holding_register: new Map(),
      };
      this.units.set(unit, t);
    }
    return t;
  }

  private onConnection(sock: Socket): void {
    this.sockets.add(sock);
    sock.on('close', () => this.sockets.delete(sock));
    sock.on('error', () => sock.destroy());
    let buf = Buffer.alloc(0);
    sock.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 7) {
        const len = buf.readUInt16BE(4);
        if (buf.readUInt16BE(2) !== 0 || len < 2 || len > 254) {
          sock.destroy(); // not Modbus TCP
          return;
        }
        if (buf.length < 6 + len) break;
        const frame = buf.subarray(0, 6 + len);
        buf = buf.subarray(6 + len);
        const pdu = this.handle(frame.readUInt8(6), frame.subarray(7));
        if (!pdu) continue;
        const head = Buffer.alloc(7);
        head.writeUInt16BE(frame.readUInt16BE(0), 0);
        head.writeUInt16BE(0, 2);
        head.writeUInt16BE(pdu.length + 1, 4);
        head.writeUInt8(frame.readUInt8(6), 6);
        sock.write(Buffer.concat([head, pdu]));
      }
    });
  }

  /** One request PDU to its response PDU, or null for silence. */
  private handle(unit: number, pdu: Buffer): Buffer | null {
    const fc = pdu.readUInt8(0);
    const exception = (code: number) => Buffer.from([fc | 0x80, code]);
    const table = FC_TABLE[fc];
    if (!table || pdu.length < 5) return exception(1);
    const address = pdu.readUInt16BE(1);
    const count = fc === 5 || fc === 6 ? 1 : pdu.readUInt16BE(3);
    this.requests.push({ unit, fc, address, count });
    if (this.requests.length > 10_000) this.requests.splice(0, this.requests.length - 10_000);
    const fault = this.faults.find(
      (f) =>
        (f.unit === undefined || f.unit === unit) &&
        (f.table === undefined || f.table === table) &&
        (f.address === undefined || (f.address >= address && f.address < address + count)),
    );
    if (fault) return fault.exception === null ? null : exception(fault.exception);
    const bitsMax = fc === 1 || fc === 2 ? 2000 : 1968;
    const regsMax = fc === 3 || fc === 4 ? 125 : 123;
    const isBits = table === 'coil' || table === 'discrete_input';
    if (count < 1 || count > (isBits ? bitsMax : regsMax)) return exception(3);
    if (address + count > this.size) return exception(2);
    const t = this.tables(unit);
    switch (fc) {
      case 1:
      case 2: {
        const map = t[table as 'coil' | 'discrete_input'];
        const bytes = Buffer.alloc(Math.ceil(count / 8));
        for (let i = 0; i < count; i++) {
          if (map.get(address + i)) bytes[i >> 3]! |= 1 << (i & 7);
        }
        return Buffer.concat([Buffer.from([fc, bytes.length]), bytes]);
      }
      case 3:
      case 4: {
        const map = t[table as 'input_register' | 'holding_register'];
        const out = Buffer.alloc(2 + 2 * count);
        out.writeUInt8(fc, 0);
        out.writeUInt8(2 * count, 1);
        for (let i = 0; i < count; i++) out.writeUInt16BE(map.get(address + i) ?? 0, 2 + 2 * i);
        return out;
      }
      case 5: {
        const v = pdu.readUInt16BE(3);
        if (v !== 0xff00 && v !== 0x0000) return exception(3);
        t.coil.set(address, v === 0xff00);
        return Buffer.from(pdu.subarray(0, 5));
      }
      case 6:
        t.holding_register.set(address, pdu.readUInt16BE(3));
        return Buffer.from(pdu.subarray(0, 5));
      case 15: {
        if (pdu.length < 6 + Math.ceil(count / 8)) return exception(3);
        for (let i = 0; i < count; i++) t.coil.set(address + i, ((pdu[6 + (i >> 3)]! >> (i & 7)) & 1) === 1);
        return Buffer.from(pdu.subarray(0, 5));
      }
      default: {
        if (pdu.length < 6 + 2 * count) return exception(3);
        for (let i = 0; i < count; i++) t.holding_register.set(address + i, pdu.readUInt16BE(6 + 2 * i));
        return Buffer.from(pdu.subarray(0, 5));
      }
    }
  }
}
