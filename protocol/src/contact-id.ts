import { CONTACT_ID_ROWS } from './contact-id.data.js';

/** Event classes, in the order a central station ranks them. */
export const EVENT_CLASSES = [
  'fire',
  'co',
  'gas',
  'panic',
  'duress',
  'medical',
  'burglary',
  'environmental',
  'tamper',
  'trouble',
  'supervision',
  'open_close',
  'bypass',
  'test',
  'other',
] as const;
export type EventClass = (typeof EVENT_CLASSES)[number];

/**
 * Default priority per class: 1 is the most urgent. Life safety above burglary above
 * environmental (water, temperature) above tamper above trouble and supervision above
 * open/close and tests. Per-premises overrides live in the cloud.
 */
export const CLASS_PRIORITY: Readonly<Record<EventClass, number>> = {
  fire: 1,
  co: 1,
  gas: 1,
  panic: 1,
  duress: 1,
  medical: 1,
  burglary: 2,
  environmental: 3,
  tamper: 4,
  trouble: 5,
  supervision: 5,
  open_close: 6,
  bypass: 6,
  test: 7,
  other: 8,
};

/** Classes whose new (not restore) events open or join a monitoring alarm. */
export const ALARM_CLASSES: ReadonlySet<EventClass> = new Set([
  'fire',
  'co',
  'gas',
  'panic',
  'duress',
  'medical',
  'burglary',
  'environmental',
  'tamper',
]);

export interface ContactIdCode {
  code: string;
  name: string;
  description: string;
  sia_new: string | null;
  sia_restore: string | null;
  class: EventClass;
  priority: number;
}

export function classOf(code: string): EventClass {
  const n = Number.parseInt(code, 10);
  if (!/^\d{3}$/.test(code) || Number.isNaN(n)) return 'other';
  if (n === 121) return 'duress';
  if (n >= 100 && n <= 109) return 'medical';
  if (n >= 110 && n <= 119) return 'fire';
  if (n >= 120 && n <= 129) return 'panic';
  if (n === 137 || n === 144 || n === 145 || n === 383) return 'tamper';
  if (n >= 130 && n <= 139) return 'burglary';
  if (n === 151) return 'gas';
  if (n === 162) return 'co';
  if (n >= 140 && n <= 149) return 'burglary';
  if (n >= 150 && n <= 169) return 'environmental';
  if (n === 381 || n === 355 || n === 382) return 'supervision';
  if (n >= 200 && n <= 399) return 'trouble';
  if (n >= 400 && n <= 499) return 'open_close';
  if (n >= 500 && n <= 599) return 'bypass';
  if (n >= 600 && n <= 615) return 'test';
  if ((n >= 616 && n <= 629) || n === 641 || n === 654) return 'trouble';
  return 'other';
}

const table = new Map<string, ContactIdCode>();
for (const [code, name, description, siaNew, siaRestore] of CONTACT_ID_ROWS) {
  const cls = classOf(code);
  table.set(code, {
    code,
    name,
    description,
    sia_new: siaNew,
    sia_restore: siaRestore,
    class: cls,
    priority: CLASS_PRIORITY[cls],
  });
}

/** Every Contact ID code Mertah knows, keyed by its three digits. */
export const CONTACT_ID: ReadonlyMap<string, ContactIdCode> = table;

export function contactId(code: string): ContactIdCode | undefined {
  return table.get(code);
}

/** The SIA DC two-letter code for a Contact ID code and qualifier, when one is defined. */
export function siaCode(code: string, qualifier: 'new' | 'restore'): string | null {
  const c = table.get(code);
  if (!c) return null;
  return qualifier === 'new' ? c.sia_new : c.sia_restore;
}

export function defaultPriority(code: string): number {
  return table.get(code)?.priority ?? CLASS_PRIORITY[classOf(code)];
}

export function isAlarmEvent(code: string, qualifier: 'new' | 'restore'): boolean {
  return qualifier === 'new' && ALARM_CLASSES.has(classOf(code));
}

/** Codes Mertah itself emits, named for readability in code. */
export const CID = {
  MEDICAL: '100',
  FIRE: '110',
  SMOKE: '111',
  PANIC: '120',
  DURESS: '121',
  SILENT_PANIC: '122',
  BURGLARY: '130',
  PERIMETER: '131',
  INTERIOR: '132',
  TAMPER: '137',
  GAS: '151',
  WATER_LEAK: '154',
  LOW_TEMP: '159',
  CO: '162',
  AC_LOSS: '301',
  LOW_SYSTEM_BATTERY: '302',
  COMM_TROUBLE: '350',
  RF_JAM: '344',
  EVENT_LOG_OVERFLOW: '624',
  RF_SUPERVISION: '381',
  SENSOR_TAMPER: '383',
  RF_LOW_BATTERY: '384',
  OPEN_CLOSE_USER: '401',
  CANCEL: '406',
  BYPASS_ZONE: '570',
  TEST_MANUAL: '601',
  TEST_PERIODIC: '602',
} as const;
