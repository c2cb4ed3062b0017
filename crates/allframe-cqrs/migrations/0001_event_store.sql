-- The event store of allframe-cqrs' PostgreSQL backend. Table names are unqualified: the
-- schema is the first of the connection's search_path.

create table allframe_events (
    position bigint primary key,
    stream_id text not null,
    version bigint not null,
    event_type text not null,
    schema_version integer not null,
    timestamp_ms bigint not null,
    -- null when the event has no correlation or causation id
    metadata jsonb,
    payload jsonb not null,
    -- optimistic concurrency: two writers cannot both add version n to a stream
    unique (stream_id, version)
);

-- The last allocated position, in a single row. Every append updates it, so its row lock
-- makes appends commit in position order (see src/postgres.rs).
create table allframe_head (
    id boolean primary key default true check (id),
    position bigint not null
);
insert into allframe_head (position) values (0);

create table allframe_snapshots (
    stream_id text primary key,
    version bigint not null,
    data bytea not null
);
