-- Projections: current state derived from baton.events by pure reducers, written in the same transaction as the
-- events that change them. `version` columns hold the last applied version of the row's stream.

create table baton.environments (
  id           text primary key,
  slug         text not null unique,
  type         text not null check (type in ('DEVELOPMENT', 'PRODUCTION', 'STAGING', 'PREVIEW')),
  api_key_hash text not null unique,
  api_key_hint text not null,
  api_key_ciphertext text not null,
  created_at   timestamptz not null default now()
);
comment on table baton.environments is 'Configuration, not a projection: environments and the sha256 of their private API key.';

create table baton.endpoints (
  id               text primary key,
  environment_id   text not null references baton.environments (id),
  slug             text not null,
  url              text not null,
  index_status     text not null,
  indexed_at       timestamptz,
  index_error      text,
  trigger_version  text,
  sdk_version      text,
  baton_protocol   integer,
  job_count        integer not null default 0,
  created_at       timestamptz not null,
  updated_at       timestamptz not null,
  version          integer not null,
  unique (environment_id, slug)
);

create table baton.jobs (
  environment_id   text not null references baton.environments (id),
  slug             text not null,
  name             text not null,
  endpoint_id      text not null,
  current_version  text not null,
  latest_version   text not null,
  trigger          jsonb not null,
  event            jsonb not null,
  enabled          boolean not null,
  internal         boolean not null default false,
  concurrency_limit integer,
  concurrency_group text,
  integrations     jsonb not null default '{}'::jsonb,
  created_at       timestamptz not null,
  updated_at       timestamptz not null,
  version          integer not null,
  primary key (environment_id, slug)
);

create table baton.job_versions (
  environment_id   text not null,
  job_slug         text not null,
  job_version      text not null,
  metadata         jsonb not null,
  first_indexed_at timestamptz not null,
  last_indexed_at  timestamptz not null,
  primary key (environment_id, job_slug, job_version)
);

create table baton.event_records (
  id             text primary key,
  environment_id text not null references baton.environments (id),
  event_id       text not null,
  name           text not null,
  source         text not null,
  payload        jsonb not null,
  context        jsonb not null,
  payload_type   text not null,
  "timestamp"    timestamptz not null,
  deliver_at     timestamptz not null,
  delivered_at   timestamptz,
  cancelled_at   timestamptz,
  is_test        boolean not null default false,
  internal       boolean not null default false,
  run_ids        text[] not null default '{}',
  created_at     timestamptz not null,
  updated_at     timestamptz not null,
  version        integer not null,
  -- dedupe of event ids per environment, safe under concurrent duplicates
  constraint event_records_environment_event_id_key unique (environment_id, event_id)
);

create table baton.runs (
  id                       text primary key,
  environment_id           text not null references baton.environments (id),
  job_slug                 text not null,
  job_version              text not null,
  endpoint_id              text not null,
  event_record_id          text not null,
  number                   integer,
  status                   text not null,
  is_test                  boolean not null default false,
  is_retry                 boolean not null default false,
  created_at               timestamptz not null,
  queued_at                timestamptz,
  started_at               timestamptz,
  completed_at             timestamptz,
  updated_at               timestamptz not null,
  output                   text,
  output_meta              jsonb,
  error                    jsonb,
  execution_count          integer not null default 0,
  execution_failure_count  integer not null default 0,
  execution_duration_ms    double precision not null default 0,
  yielded_executions       jsonb not null default '[]'::jsonb,
  executing_worker_id      text,
  execution_started_at     timestamptz,
  waiting_task_id          text,
  resume_at                timestamptz,
  concurrency_key          text,
  concurrency_limit        integer,
  task_count               integer not null default 0,
  traceparent              text,
  version                  integer not null
);
create index runs_environment_created_idx on baton.runs (environment_id, created_at desc, id desc);
create index runs_job_idx on baton.runs (environment_id, job_slug, created_at desc);
create index runs_executing_idx on baton.runs (executing_worker_id) where status = 'EXECUTING';
create index runs_concurrency_idx on baton.runs (concurrency_key) where status = 'EXECUTING';

create table baton.tasks (
  id                text primary key,
  run_id            text not null references baton.runs (id),
  idempotency_key   text not null,
  parent_id         text,
  depth             integer not null,
  seq               integer not null,
  name              text not null,
  display_key       text,
  icon              text,
  description       text,
  params            jsonb,
  properties        jsonb,
  output_properties jsonb,
  style             jsonb,
  noop              boolean not null default false,
  operation         text,
  parallel          boolean not null default false,
  status            text not null,
  delay_until       timestamptz,
  retry             jsonb,
  redact            jsonb,
  output            text,
  output_meta       jsonb,
  error             jsonb,
  attempts          integer not null default 1,
  attempt_log       jsonb not null default '[]'::jsonb,
  created_at        timestamptz not null,
  started_at        timestamptz,
  completed_at      timestamptz,
  updated_at        timestamptz not null,
  -- task creation is idempotent on (run, idempotency key), also under concurrent duplicates
  constraint tasks_run_idempotency_key unique (run_id, idempotency_key)
);
create index tasks_run_seq_idx on baton.tasks (run_id, seq);

-- Liveness of server processes: a run EXECUTING on a worker whose heartbeat is stale is recovered.
create table baton.workers (
  id           text primary key,
  hostname     text not null,
  pid          integer not null,
  started_at   timestamptz not null default now(),
  heartbeat_at timestamptz not null default now()
);
comment on column baton.environments.api_key_ciphertext is 'AES-256-GCM ciphertext of the private key (the server sends it to endpoints as v2); the secret is BATON_SECRET or .baton/secret, never in the database.';
