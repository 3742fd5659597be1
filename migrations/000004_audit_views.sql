-- Audit views over baton.events (the source of truth), for operators and auditors (docs/AUDIT.md).
-- Views run with their owner's rights, so baton_auditor reads them without any grant on schema baton.

-- Who caused an event, flattened: 'api_key' (environment + key hint), 'worker' (process id), 'endpoint', 'system'.
create function audit.actor_of(metadata jsonb) returns text
language sql immutable as $$
  select case metadata->'actor'->>'type'
    when 'api_key' then 'api_key:' || (metadata->'actor'->>'keyHint')
    when 'worker' then 'worker:' || (metadata->'actor'->>'id')
    when 'endpoint' then 'endpoint:' || (metadata->'actor'->>'environmentId')
    when 'system' then 'system' || coalesce(':' || (metadata->'actor'->>'reason'), '')
    else null
  end
$$;
comment on function audit.actor_of(jsonb) is 'The actor of an event as text: api_key:<key hint>, worker:<worker id>, endpoint:<environment id>, system[:reason].';

create view audit.run_timeline as
  select
    e.stream_id                                   as run_id,
    e.version                                     as run_version,
    e.position,
    e.occurred_at,
    e.type,
    case e.type
      when 'run.created' then 'PENDING'
      when 'run.queued' then 'QUEUED'
      when 'run.continued' then 'QUEUED'
      when 'run.started' then 'EXECUTING'
      when 'run.waiting' then 'WAITING_TO_CONTINUE'
      when 'run.resumed' then 'WAITING_TO_EXECUTE'
      when 'run.yielded' then 'WAITING_TO_EXECUTE'
      when 'run.execution_failed' then 'WAITING_TO_EXECUTE'
      when 'run.succeeded' then 'SUCCESS'
      when 'run.failed' then 'FAILURE'
      when 'run.timed_out' then 'TIMED_OUT'
      when 'run.canceled' then 'CANCELED'
      when 'run.invalid_payload' then 'INVALID_PAYLOAD'
    end                                           as status,
    audit.actor_of(e.metadata)                    as actor,
    e.metadata->'actor'->>'environmentId'         as environment_id,
    e.metadata->>'route'                          as route,
    coalesce(e.data->>'reason', e.data->'error'->>'message') as detail,
    e.data
  from baton.events e
  where e.type like 'run.%';
comment on view audit.run_timeline is 'Every transition of every run: the run event, the status it led to, when, and who caused it (actor, route).';

create view audit.task_attempts as
  with ends as (
    -- an attempt ends with completion, failure, a scheduled retry (the attempt failed), cancel, or a wait coming due
    select e.stream_id as run_id, e.data->>'taskId' as task_id, e.position, e.occurred_at, e.type, e.data, e.metadata
    from baton.events e
    where e.type in ('task.completed', 'task.failed', 'task.retry_scheduled', 'task.canceled')
       or (e.type = 'task.resumed' and e.data->>'status' = 'COMPLETED')
  )
  select
    ends.run_id,
    ends.task_id,
    created.data->>'name'                                         as task_name,
    coalesce(created.data->>'displayKey', created.data->>'idempotencyKey') as task_key,
    created.data->>'idempotencyKey'                               as idempotency_key,
    row_number() over (partition by ends.task_id order by ends.position)::int as attempt,
    case ends.type
      when 'task.completed' then 'COMPLETED'
      when 'task.resumed' then 'COMPLETED'
      when 'task.canceled' then 'CANCELED'
      else 'ERRORED'
    end                                                           as outcome,
    ends.type = 'task.retry_scheduled'                            as will_retry,
    (ends.data->>'retryAt')::timestamptz                          as retry_at,
    ends.data->'error'->>'message'                                as error_message,
    ends.data->'error'                                            as error,
    started.occurred_at                                           as started_at,
    ends.occurred_at                                              as ended_at,
    extract(epoch from ends.occurred_at - started.occurred_at) * 1000 as duration_ms,
    audit.actor_of(ends.metadata)                                 as actor
  from ends
  join baton.events created
    on created.stream_id = ends.run_id and created.type = 'task.created' and created.data->>'taskId' = ends.task_id
  -- the attempt began at the latest start of the task before its end: created, resumed (wait/retry came due) or reset
  cross join lateral (
    select s.occurred_at from baton.events s
    where s.stream_id = ends.run_id and s.position < ends.position and s.data->>'taskId' = ends.task_id
      and s.type in ('task.created', 'task.resumed', 'task.reset')
    order by s.position desc limit 1
  ) started;
comment on view audit.task_attempts is 'Each finished attempt of each task: number, outcome (COMPLETED, ERRORED, CANCELED), whether a retry was scheduled and when, the error, start, end, duration in ms.';

create view audit.event_deliveries as
  select
    r.stream_id                                   as event_record_id,
    r.data->>'environmentId'                      as environment_id,
    r.data->>'eventId'                            as event_id,
    r.data->>'name'                               as name,
    r.data->>'source'                             as source,
    r.occurred_at                                 as received_at,
    audit.actor_of(r.metadata)                    as received_by,
    (r.data->>'deliverAt')::timestamptz           as deliver_at,
    d.delivered_at,
    coalesce(d.run_ids, '{}')                     as run_ids,
    coalesce(cardinality(d.run_ids), 0)           as run_count,
    c.canceled_at,
    coalesce(u.resends, 0)                        as dedupes,
    r.data->'payload'                             as payload
  from baton.events r
  left join lateral (
    select min(x.occurred_at) as delivered_at, array_agg(id.run_id order by x.position) filter (where id.run_id is not null) as run_ids
    from baton.events x
    left join lateral jsonb_array_elements_text(x.data->'runIds') as id(run_id) on true
    where x.stream_id = r.stream_id and x.type = 'event.delivered'
  ) d on true
  left join lateral (
    select min(x.occurred_at) as canceled_at from baton.events x where x.stream_id = r.stream_id and x.type = 'event.canceled'
  ) c on true
  left join lateral (
    select count(*)::int as resends from baton.events x where x.stream_id = r.stream_id and x.type = 'event.updated'
  ) u on true
  where r.type = 'event.received';
comment on view audit.event_deliveries is 'Each ingested event: who sent it, when it was due and delivered, the runs it started, whether it was canceled, and how many resends of the same event id were merged into it (dedupes that rescheduled it; a resend after delivery changes nothing and leaves no event).';

create view audit.api_activity as
  select
    e.position,
    e.occurred_at,
    e.metadata->'actor'->>'environmentId'         as environment_id,
    e.metadata->'actor'->>'keyHint'               as key_hint,
    e.metadata->>'route'                          as route,
    e.type,
    e.stream_id,
    e.metadata->>'traceparent'                    as traceparent
  from baton.events e
  where e.metadata->'actor'->>'type' = 'api_key';
comment on view audit.api_activity is 'Every event caused by an API key: which key (hint, never the key), which environment, which route, what it changed, when.';

grant usage on schema audit to baton_auditor;
grant select on all tables in schema audit to baton_auditor;
grant execute on function audit.actor_of(jsonb) to baton_auditor;
