-- Checkpoints of background readers that tail baton.events (e.g. the OpenTelemetry trace exporter): the last
-- position each one has fully processed. Not a projection: losing a row only makes its reader start from the end.
create table baton.telemetry_checkpoints (
  name       text primary key,
  position   bigint not null,
  updated_at timestamptz not null default now()
);
comment on table baton.telemetry_checkpoints is 'Last processed baton.events position of each event-tailing exporter (name = exporter).';
