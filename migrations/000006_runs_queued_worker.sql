-- A QUEUED run can be held by one server process's in-memory dispatch queue instead of an outbox job (the process
-- had no free execution slot when it created the run): `queued_worker_id` names that process. While it heartbeats,
-- nobody else touches the run; when it dies or stops, recovery queues the run again with an outbox job.
alter table baton.runs add column queued_worker_id text;
create index runs_queued_worker_idx on baton.runs (queued_worker_id) where queued_worker_id is not null;
comment on column baton.runs.queued_worker_id is 'Set while the run is QUEUED in this worker''s in-memory dispatch queue (no outbox job); null otherwise.';
