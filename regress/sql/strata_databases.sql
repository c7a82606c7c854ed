-- CREATE DATABASE (WAL_LOG), DROP DATABASE, tablespaces, refused operations.
CREATE TABLE in_template (id int);
INSERT INTO in_template SELECT generate_series(1, 3000);
CREATE DATABASE strata_copy TEMPLATE contrib_regression STRATEGY wal_log;
\c strata_copy
SELECT count(*) FROM in_template;
INSERT INTO in_template SELECT generate_series(1, 10);
SELECT count(*) FROM in_template;
\c contrib_regression
SELECT count(*) FROM in_template;
SELECT pg_database_size('strata_copy') > 0 AS copy_has_size;
DROP DATABASE strata_copy;
SELECT count(*) FROM pg_database WHERE datname = 'strata_copy';

-- operations that copy files beneath the storage manager are refused
CREATE DATABASE strata_fc STRATEGY file_copy;
SELECT count(*) FROM pg_database WHERE datname = 'strata_fc';

-- tablespaces
\getenv abs_builddir PG_ABS_BUILDDIR
\set testtablespace :abs_builddir '/testtablespace'
CREATE TABLESPACE strata_ts LOCATION :'testtablespace';
CREATE TABLE in_ts (id int, v text) TABLESPACE strata_ts;
INSERT INTO in_ts SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
SELECT count(*), (pg_stat_file(pg_relation_filepath('in_ts'))).size AS stub_size FROM in_ts;
ALTER TABLE in_template SET TABLESPACE strata_ts;
SELECT count(*) FROM in_template;
ALTER TABLE in_ts SET TABLESPACE pg_default;
SELECT count(*), sum(length(v)) FROM in_ts;
CREATE DATABASE strata_tsdb TABLESPACE strata_ts;
ALTER DATABASE strata_tsdb SET TABLESPACE pg_default;
DROP DATABASE strata_tsdb;
DROP TABLE in_template;
DROP TABLE in_ts;
DROP TABLESPACE strata_ts;
-- DROP DATABASE reached stratad
SELECT value > 0 AS dropdb_sent FROM strata_stats WHERE counter = 'dropdb';
