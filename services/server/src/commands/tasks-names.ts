/** The graphile task names of the outbox. */
export const TASKS = {
  executeRun: "baton.execute_run",
  deliverEvent: "baton.deliver_event",
  schedule: "baton.schedule",
} as const;
