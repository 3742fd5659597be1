-- The event store: the source of truth. Every run and task transition is one immutable row.
create schema if not exists baton;

create table baton.events (
  position    bigint generated always as identity primary key,
  stream_id   text        not null,
  version     integer     not null check (version > 0),
  type        text        not null check (type ~ '^[a-z][a-z_]*(\.[a-z][a-z_]*)+$'),
  data        jsonb       not null default '{}'::jsonb,
  metadata    jsonb       not null default '{}'::jsonb,
  occurred_at timestamptz not null default now(),
  -- optimistic concurrency: two writers appending at the same expected version cannot both commit
  constraint events_stream_version_key unique (stream_id, version)
);

comment on table baton.events is 'Append-only event store. position = global order; (stream_id, version) = per-stream order. UPDATE, DELETE and TRUNCATE are rejected by triggers.';

create function baton.reject_event_mutation() returns trigger
language plpgsql as $$
begin
  raise exception 'baton.events is append-only: % is not allowed', tg_op
    using errcode = 'insufficient_privilege',
          hint = 'Events are immutable. Record a correction by appending a new event.';
end;
$$;

create trigger events_reject_update_delete
  before update or delete on baton.events
  for each row execute function baton.reject_event_mutation();

create trigger events_reject_truncate
  before truncate on baton.events
  for each statement execute function baton.reject_event_mutation();
