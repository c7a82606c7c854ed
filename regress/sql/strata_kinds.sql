-- Unlogged tables live in stratad, temp tables stay in local md files.
CREATE UNLOGGED TABLE ul (id int PRIMARY KEY, v text);
INSERT INTO ul SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
SELECT count(*), count(DISTINCT v) FROM ul;
SELECT (pg_stat_file(pg_relation_filepath('ul'))).size AS stub_size;
SELECT pg_relation_size('ul') > 0 AS has_pages;

CREATE TEMP TABLE tt (id int, v text);
INSERT INTO tt SELECT g, md5(g::text) FROM generate_series(1, 5000) g;
CREATE INDEX ON tt (id);
SELECT count(*) FROM tt WHERE id < 100;
-- a temp relation's local file holds its data
SELECT (pg_stat_file(pg_relation_filepath('tt'))).size = pg_relation_size('tt') AS local_data;
SELECT pg_relation_size('tt') > 0 AS has_pages;
DROP TABLE ul;
DROP TABLE tt;

-- large objects
SELECT lo_from_bytea(4242, convert_to(repeat('strata', 5000), 'UTF8')) AS loid;
SELECT length(lo_get(4242)), md5(lo_get(4242)) = md5(convert_to(repeat('strata', 5000), 'UTF8')) AS same;
SELECT lo_unlink(4242);

-- prepared transactions
CREATE TABLE p2 (id int);
BEGIN;
INSERT INTO p2 SELECT generate_series(1, 1000);
PREPARE TRANSACTION 'strata_p2';
SELECT count(*) FROM p2;
COMMIT PREPARED 'strata_p2';
SELECT count(*) FROM p2;
BEGIN;
INSERT INTO p2 SELECT generate_series(1, 10);
PREPARE TRANSACTION 'strata_p2b';
ROLLBACK PREPARED 'strata_p2b';
SELECT count(*) FROM p2;
DROP TABLE p2;
