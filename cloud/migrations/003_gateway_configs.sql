-- Cloud-managed premises configs: every version ever pushed, who pushed it and when.
-- The version is assigned by the cloud, increasing per gateway; the newest row is the desired one.
CREATE TABLE gateway_configs (
  gateway_id  text NOT NULL REFERENCES gateways(id),
  version     bigint NOT NULL CHECK (version > 0),
  config      jsonb NOT NULL,
  created_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (gateway_id, version)
);
