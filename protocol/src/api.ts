import { type Static, type TSchema, Type } from '@sinclair/typebox';

// Shapes of the cloud's HTTP API and SSE stream that the console (and integrations) read.
// The cloud uses these schemas for its routes and OpenAPI document; the console imports
// their types. See docs/contracts.md.

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Time = Type.String({ format: 'date-time' });

export const ALARM_STATUSES = ['open', 'claimed', 'closed'] as const;
export type AlarmStatus = (typeof ALARM_STATUSES)[number];

/** How an operator closes an alarm. */
export const DISPOSITIONS = [
  'real',
  'false_user_error',
  'false_equipment',
  'test',
  'weather',
  'cancelled_by_subscriber',
  'other',
] as const;
export type Disposition = (typeof DISPOSITIONS)[number];
export const DispositionSchema = Type.Union(DISPOSITIONS.map((d) => Type.Literal(d)));

/** A monitoring alarm: the signals of one premises and partition, grouped until closed. */
export const AlarmSchema = Type.Object({
  id: Type.Integer(),
  gateway_id: Type.String(),
  partition: Type.Integer(),
  status: Type.Union(ALARM_STATUSES.map((s) => Type.Literal(s))),
  priority: Type.Integer(),
  event_class: Type.String(),
  code: Type.String(),
  zone: Nullable(Type.Integer()),
  text: Type.String(),
  event_count: Type.Integer(),
  first_event_at: Time,
  last_event_at: Time,
  opened_at: Time,
  claimed_by: Nullable(Type.String()),
  claimed_at: Nullable(Time),
  closed_by: Nullable(Type.String()),
  closed_at: Nullable(Time),
  disposition: Nullable(Type.String()),
  notes: Nullable(Type.String()),
});
export type Alarm = Static<typeof AlarmSchema>;
