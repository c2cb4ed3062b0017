-- A batch of appends in one call, one transaction and one commit: the group commit of
-- src/postgres/commit.rs. The head row is locked first, so each append's version check,
-- a statement of its own, sees every event committed before it and every earlier append
-- of the batch; an append whose check fails writes nothing and moves no position, and the
-- others go on. One row per append, in order: the stream's version after it and its last
-- position (both null when its check failed), and the version it found.
create function allframe_append(
    streams text[],
    expected bigint[],
    counts integer[],
    timestamps bigint[],
    event_types text[],
    schema_versions integer[],
    metadata text[],
    payloads text[],
    channel text
) returns table (appended_version bigint, appended_position bigint, found_version bigint)
language plpgsql as $$
declare
    start bigint;
    head bigint;
    found bigint;
    -- events of the batch's earlier appends: where this append's are in the arrays
    done integer := 0;
begin
    select h.position into start from allframe_head h for update;
    head := start;
    for i in 1 .. coalesce(cardinality(streams), 0) loop
        select coalesce(max(e.version), 0) into found
            from allframe_events e where e.stream_id = streams[i];
        found_version := found;
        if expected[i] is null or expected[i] = found then
            insert into allframe_events (position, stream_id, version, event_type,
                schema_version, timestamp_ms, metadata, payload)
            select head + k, streams[i], found + k, event_types[done + k],
                schema_versions[done + k], timestamps[i], metadata[done + k]::json,
                payloads[done + k]::json
            from generate_series(1, counts[i]) as k;
            head := head + counts[i];
            appended_version := found + counts[i];
            appended_position := head;
        else
            appended_version := null;
            appended_position := null;
        end if;
        done := done + counts[i];
        return next;
    end loop;
    if head > start then
        update allframe_head set position = head;
        -- Delivered at the commit, and only then (src/postgres/notify.rs reads it).
        perform pg_notify(channel, head || ' ' || current_schema());
    end if;
    return;
end
$$;
