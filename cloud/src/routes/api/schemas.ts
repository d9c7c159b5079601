import { AlarmSchema, ArmMode, CommandType, DispositionSchema, GatewayEvent } from '@mertah/protocol';
import { type TSchema, Type } from '@sinclair/typebox';

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Time = Type.String({ format: 'date-time' });

export const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() }, { $id: 'Error' });

export const User = Type.Object({
  id: Type.Integer(),
  username: Type.String(),
  display_name: Type.String(),
  role: Type.Union([Type.Literal('operator'), Type.Literal('supervisor'), Type.Literal('admin')]),
});

export const Session = Type.Object({ user: User, csrf_token: Type.String() });

export const Gateway = Type.Object({
  gateway_id: Type.String(),
  name: Type.String(),
  online: Type.Boolean(),
  last_seen_at: Nullable(Time),
  last_seq: Type.Integer(),
  acked_seq: Type.Integer(),
});

export const Alarm = AlarmSchema;

export const StoredEvent = Type.Composite([
  GatewayEvent,
  Type.Object({ gateway_id: Type.String(), received_at: Time, alarm_id: Nullable(Type.Integer()) }),
]);

export const Disposition = DispositionSchema;

export const CommandBody = Type.Object(
  {
    type: CommandType,
    partition: Type.Optional(Type.Integer({ minimum: 1 })),
    mode: Type.Optional(ArmMode),
    zones: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), { maxItems: 256 })),
    force: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

export const CommandView = Type.Object({
  command_id: Type.String(),
  gateway_id: Type.String(),
  type: Type.String(),
  status: Type.Union([
    Type.Literal('sent'),
    Type.Literal('ok'),
    Type.Literal('failed'),
    Type.Literal('expired'),
  ]),
  result: Type.Unknown(),
  issued_by: Type.String(),
  issued_at: Time,
  expires_at: Time,
});

/** The error answers a route can give, for the OpenAPI document. */
export const GatewayConfigView = Type.Object({
  gateway_id: Type.String(),
  desired: Type.Union([
    Type.Object({
      version: Type.Integer(),
      config: Type.Unknown(),
      created_by: Type.String(),
      created_at: Type.String(),
    }),
    Type.Null(),
  ]),
  applied_version: Type.Union([Type.Integer(), Type.Null()]),
  applied: Type.Union([Type.Unknown(), Type.Null()], {
    description: 'the last ConfigApplied, with its errors',
  }),
});

export function errors(...statuses: number[]): Record<number, typeof ErrorBody> {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody]));
}
