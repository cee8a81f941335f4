-- The contact directory central IT keeps for the gateways (read by `[contacts]
-- central_sync_s`). A row with gateway_id NULL is for every gateway; a row naming a gateway
-- is for that one and wins over a shared row of the same number. Numbers may be written in
-- any usual form: each gateway turns them into E.164 with its own numbering plan.
CREATE TABLE IF NOT EXISTS pbxgw_contacts (
    gateway_id text,
    number     text        NOT NULL,
    name       text        NOT NULL,
    company    text,
    note       text,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS pbxgw_contacts_key
    ON pbxgw_contacts (COALESCE(gateway_id, ''), number);
