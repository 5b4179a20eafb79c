-- Who runs each sync run: the process id and host of the job that started it. A run whose job
-- died (kill -9, a power cut) stays `running`; the next sync run on the store marks it
-- `crashed` (DuckDB's file lock lets one process write the store, so a `running` row started by
-- another process is no longer running). sync_runs.status: running | ok | failed | stopped |
-- crashed. Rows written before this migration have no pid (NULL).
ALTER TABLE sync_runs ADD COLUMN pid INTEGER;
ALTER TABLE sync_runs ADD COLUMN host VARCHAR;
