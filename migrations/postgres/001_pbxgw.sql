-- Central tables for pbxgw gateways. Many gateways may share them: every key starts with
-- gateway_id, and every insert from a gateway is idempotent.
CREATE TABLE IF NOT EXISTS pbxgw_events (
    gateway_id  text        NOT NULL,
    seq         bigint      NOT NULL,
    ts          timestamptz NOT NULL,
    source      text        NOT NULL,
    pbx         text        NOT NULL,
    kind        text        NOT NULL,
    call_id     text,
    payload     jsonb       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway_id, seq)
);
CREATE INDEX IF NOT EXISTS pbxgw_events_call ON pbxgw_events (gateway_id, call_id)
    WHERE call_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS pbxgw_events_ts ON pbxgw_events (ts);

CREATE TABLE IF NOT EXISTS pbxgw_calls (
    gateway_id      text        NOT NULL,
    call_id         text        NOT NULL,
    pbx             text        NOT NULL,
    direction       text        NOT NULL,
    caller          text,
    callee          text,
    extension       text,
    agent           text,
    queue           text,
    started_at      timestamptz NOT NULL,
    pbx_answered_at timestamptz,
    answered_at     timestamptz,
    ended_at        timestamptz NOT NULL,
    duration_s      bigint      NOT NULL,
    billsec_s       bigint      NOT NULL,
    disposition     text        NOT NULL,
    hangup_cause    text,
    ivr_digits      text,
    recording       text,
    transfers       jsonb       NOT NULL DEFAULT '[]',
    holds           integer     NOT NULL DEFAULT 0,
    caller_name     text,
    company         text,
    last_seq        bigint      NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (gateway_id, call_id)
);
CREATE INDEX IF NOT EXISTS pbxgw_calls_started ON pbxgw_calls (started_at);
