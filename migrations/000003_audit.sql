-- Schema for audit views (the views grow with the product) and a read-only role that can read them and nothing else.
create schema if not exists audit;

do $$
begin
  if not exists (select 1 from pg_roles where rolname = 'baton_auditor') then
    create role baton_auditor nologin;
  end if;
end
$$;

revoke all on schema baton from baton_auditor;
grant usage on schema audit to baton_auditor;
alter default privileges in schema audit grant select on tables to baton_auditor;

create view audit.events as
  select position, stream_id, version, type, data, metadata, occurred_at from baton.events;
comment on view audit.events is 'Every event, in global order (read-only).';
grant select on all tables in schema audit to baton_auditor;
