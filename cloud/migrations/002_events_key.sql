-- events: keyed by (gateway_id, seq) instead of a surrogate id, so every insert maintains
-- two indexes instead of three.
ALTER TABLE events DROP COLUMN id;
ALTER TABLE events DROP CONSTRAINT events_gateway_id_seq_key, ADD CONSTRAINT events_pkey PRIMARY KEY (gateway_id, seq);
