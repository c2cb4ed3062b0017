-- Payloads and metadata as `json`, the text as written, instead of `jsonb`: jsonb refuses a
-- `\u0000` in a string, which the other backends store, so one event got two answers. The
-- store never queries inside payloads, and json's input is a syntax check (cheaper than
-- jsonb's conversion on every append).
alter table allframe_events
    alter column payload type json using payload::json,
    alter column metadata type json using metadata::json;
