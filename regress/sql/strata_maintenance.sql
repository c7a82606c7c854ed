-- TOAST, VACUUM with truncation, TRUNCATE, CLUSTER, VACUUM FULL, sequences.
CREATE TABLE big (id int, doc text);
ALTER TABLE big ALTER COLUMN doc SET STORAGE EXTERNAL;
INSERT INTO big SELECT g, repeat(md5(g::text), 200) FROM generate_series(1, 300) g;
SELECT count(*), sum(length(doc)) FROM big;
SELECT pg_relation_size(reltoastrelid) > 0 AS toasted FROM pg_class WHERE relname = 'big';
UPDATE big SET doc = doc || 'x' WHERE id % 2 = 0;
SELECT sum(length(doc)) FROM big;

-- VACUUM truncates the empty tail of the heap.  FREEZE makes it aggressive:
-- a plain VACUUM skips a page whose buffer another process has pinned
-- (the bgwriter or checkpointer writing it out, which on strata lasts a
-- round trip to stratad) and keeps its dead tuples, and with them the tail.
CREATE TABLE shrink (id int, pad text) WITH (autovacuum_enabled = off);
INSERT INTO shrink SELECT g, repeat('x', 500) FROM generate_series(1, 5000) g;
SELECT pg_relation_size('shrink') / 8192 AS blocks_before;
DELETE FROM shrink WHERE id > 100;
VACUUM (FREEZE) shrink;
SELECT pg_relation_size('shrink') / 8192 AS blocks_after;
SELECT count(*) FROM shrink;
INSERT INTO shrink SELECT g, 'again' FROM generate_series(101, 200) g;
SELECT count(*), count(*) FILTER (WHERE pad = 'again') FROM shrink;

-- TRUNCATE, in and out of a transaction
BEGIN;
TRUNCATE shrink;
SELECT count(*) FROM shrink;
ROLLBACK;
SELECT count(*) FROM shrink;
TRUNCATE shrink;
SELECT count(*), pg_relation_size('shrink') FROM shrink;

-- CLUSTER and VACUUM FULL rewrite into new relfilenodes
CREATE TABLE clu (id int, v text);
INSERT INTO clu SELECT g, md5(g::text) FROM generate_series(10000, 1, -1) g;
CREATE INDEX clu_id ON clu (id);
CLUSTER clu USING clu_id;
SELECT id FROM clu LIMIT 3;
SELECT count(*), sum(id) FROM clu;
VACUUM FULL clu;
SELECT count(*), sum(id) FROM clu;
VACUUM FULL big;
SELECT count(*), sum(length(doc)) FROM big;

-- sequences
CREATE SEQUENCE s START 100 CACHE 1;
SELECT nextval('s'), nextval('s');
ALTER SEQUENCE s RESTART WITH 7;
SELECT nextval('s');
CREATE TABLE serial_t (id bigserial, v int);
INSERT INTO serial_t (v) SELECT g FROM generate_series(1, 1000) g;
SELECT max(id), count(*) FROM serial_t;

DROP TABLE big, shrink, clu, serial_t;
DROP SEQUENCE s;
