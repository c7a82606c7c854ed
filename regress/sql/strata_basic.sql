-- A compute on strata: heap DDL and DML, with a 1MB buffer pool so pages
-- really travel to stratad and back.
CREATE EXTENSION strata;
SELECT mode, connected FROM strata_status;

CREATE TABLE t (id int PRIMARY KEY, v text, n numeric);
INSERT INTO t SELECT g, repeat(md5(g::text), 3), g * 1.5 FROM generate_series(1, 20000) g;
SELECT count(*), sum(id), sum(n) FROM t;
UPDATE t SET v = 'updated' WHERE id % 10 = 0;
DELETE FROM t WHERE id % 7 = 0;
SELECT count(*), count(*) FILTER (WHERE v = 'updated') AS updated FROM t;
-- the relation is bigger than the buffer pool: reading it back needs stratad
SELECT pg_relation_size('t') > 1024 * 1024 AS bigger_than_shared_buffers;
SELECT sum(length(v)) FROM t;

-- local relation files are empty stubs
SELECT (pg_stat_file(pg_relation_filepath('t'))).size AS stub_size;
SELECT count(*) AS nonempty_local_relation_files
  FROM pg_ls_dir('base/' || (SELECT oid FROM pg_database WHERE datname = current_database())) f
 WHERE f ~ '^[0-9]+(_[a-z]+)?$'
   AND (pg_stat_file('base/' || (SELECT oid FROM pg_database WHERE datname = current_database()) || '/' || f)).size > 0;

-- reads and writes went through strata (pg_regress runs with fsync off, so
-- no SYNC is sent: the TAP suites cover syncs)
CHECKPOINT;
SELECT counter, value > 0 AS used FROM strata_stats
 WHERE counter IN ('getpage', 'write', 'extend', 'nblocks')
 ORDER BY counter;

-- ALTER TABLE rewrites, columns, constraints
ALTER TABLE t ADD COLUMN extra int DEFAULT 42;
ALTER TABLE t ALTER COLUMN n TYPE float8;
SELECT count(*), min(extra), max(extra) FROM t;
DROP TABLE t;
