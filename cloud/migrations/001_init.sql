-- Mertah cloud schema, version 1. Forward only: never edit a released migration, add a new file.

CREATE TABLE gateways (
  id              text PRIMARY KEY,
  name            text NOT NULL DEFAULT '',
  secret_hash     text NOT NULL,
  online          boolean NOT NULL DEFAULT false,
  last_seen_at    timestamptz,
  last_seq        bigint NOT NULL DEFAULT 0,
  acked_seq       bigint NOT NULL DEFAULT 0,
  last_status     jsonb,
  status_ts       bigint NOT NULL DEFAULT 0,
  last_heartbeat  jsonb,
  config_applied  jsonb,
  created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alarms (
  id              bigserial PRIMARY KEY,
  gateway_id      text NOT NULL REFERENCES gateways(id),
  partition       integer NOT NULL,
  status          text NOT NULL CHECK (status IN ('open', 'claimed', 'closed')),
  priority        integer NOT NULL,
  event_class     text NOT NULL,
  code            text NOT NULL,
  zone            integer,
  text            text NOT NULL DEFAULT '',
  event_count     integer NOT NULL DEFAULT 0,
  first_event_at  timestamptz NOT NULL,
  last_event_at   timestamptz NOT NULL,
  opened_at       timestamptz NOT NULL DEFAULT now(),
  claimed_by      text,
  claimed_at      timestamptz,
  closed_by       text,
  closed_at       timestamptz,
  disposition     text,
  notes           text
);
-- One open or claimed alarm per (gateway, partition) until it is closed.
CREATE UNIQUE INDEX alarms_one_active ON alarms (gateway_id, partition) WHERE status <> 'closed';
CREATE INDEX alarms_status ON alarms (status, priority, opened_at);

CREATE TABLE events (
  id          bigserial PRIMARY KEY,
  gateway_id  text NOT NULL REFERENCES gateways(id),
  seq         bigint NOT NULL,
  event_id    uuid NOT NULL,
  ts          bigint NOT NULL,
  partition   integer NOT NULL,
  zone        integer,
  device      text,
  code        text NOT NULL,
  qualifier   text NOT NULL,
  priority    integer NOT NULL,
  text        text NOT NULL,
  data        jsonb,
  received_at timestamptz NOT NULL DEFAULT now(),
  alarm_id    bigint REFERENCES alarms(id),
  UNIQUE (gateway_id, event_id),
  UNIQUE (gateway_id, seq)
);
CREATE INDEX events_alarm ON events (alarm_id) WHERE alarm_id IS NOT NULL;

CREATE TABLE telemetry (
  gateway_id  text NOT NULL REFERENCES gateways(id),
  tseq        bigint NOT NULL,
  idx         integer NOT NULL,
  ts          bigint NOT NULL,
  device      text NOT NULL,
  metric      text NOT NULL,
  value       double precision NOT NULL,
  PRIMARY KEY (gateway_id, tseq, idx)
);

-- Every change of an alarm, in order; the id is the SSE event id.
CREATE TABLE alarm_changes (
  id          bigserial PRIMARY KEY,
  alarm_id    bigint NOT NULL REFERENCES alarms(id),
  at          timestamptz NOT NULL DEFAULT now(),
  snapshot    jsonb NOT NULL
);

CREATE TABLE users (
  id            bigserial PRIMARY KEY,
  username      text NOT NULL UNIQUE,
  display_name  text NOT NULL,
  role          text NOT NULL CHECK (role IN ('operator', 'supervisor', 'admin')),
  password_hash text NOT NULL,
  disabled      boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
  token_hash  text PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  csrf_token  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);

CREATE TABLE api_tokens (
  token_hash  text PRIMARY KEY,
  user_id     bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
  name        text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE commands (
  id          text PRIMARY KEY,
  gateway_id  text NOT NULL REFERENCES gateways(id),
  type        text NOT NULL,
  body        jsonb NOT NULL,
  status      text NOT NULL CHECK (status IN ('sent', 'ok', 'failed')),
  result      jsonb,
  issued_by   text NOT NULL,
  issued_at   timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL,
  completed_at timestamptz
);

-- Append-only: each row carries the hash of the previous one.
CREATE TABLE audit_log (
  id          bigserial PRIMARY KEY,
  at          timestamptz NOT NULL DEFAULT now(),
  actor       text NOT NULL,
  action      text NOT NULL,
  target_type text NOT NULL,
  target_id   text NOT NULL,
  details     jsonb NOT NULL DEFAULT '{}'::jsonb,
  prev_hash   text NOT NULL,
  hash        text NOT NULL
);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
