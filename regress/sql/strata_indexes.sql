-- Every index access method on strata, checked against a sequential scan.
CREATE EXTENSION IF NOT EXISTS amcheck;
CREATE TABLE ix (id int, p point, b box, txt text, arr int[], tsv tsvector, ts timestamp);
INSERT INTO ix
SELECT g, point(g % 100, g / 100), box(point(g % 50, g % 70), point(g % 50 + 2, g % 70 + 3)),
       'key' || (g % 500), ARRAY[g % 13, g % 17], to_tsvector('simple', 'word' || (g % 31) || ' common'),
       '2020-01-01'::timestamp + g * interval '1 minute'
  FROM generate_series(1, 20000) g;

CREATE INDEX ix_btree ON ix (id);
CREATE INDEX ix_hash ON ix USING hash (txt);
CREATE INDEX ix_gist ON ix USING gist (b);
CREATE INDEX ix_spgist ON ix USING spgist (p);
CREATE INDEX ix_gin ON ix USING gin (arr);
CREATE INDEX ix_gin_ts ON ix USING gin (tsv);
CREATE INDEX ix_brin ON ix USING brin (ts);

SET enable_seqscan = off;
SET enable_bitmapscan = on;
SELECT count(*) FROM ix WHERE id BETWEEN 100 AND 5099;
SELECT count(*) FROM ix WHERE txt = 'key42';
SELECT count(*) FROM ix WHERE b && box(point(10, 10), point(12, 12));
SELECT count(*) FROM ix WHERE p <@ box(point(0, 0), point(10, 10));
SELECT count(*) FROM ix WHERE arr @> ARRAY[5];
SELECT count(*) FROM ix WHERE tsv @@ to_tsquery('simple', 'word7');
SELECT count(*) FROM ix WHERE ts < '2020-01-02';
RESET enable_seqscan;
SET enable_indexscan = off;
SET enable_bitmapscan = off;
SELECT count(*) FROM ix WHERE id BETWEEN 100 AND 5099;
SELECT count(*) FROM ix WHERE txt = 'key42';
SELECT count(*) FROM ix WHERE b && box(point(10, 10), point(12, 12));
SELECT count(*) FROM ix WHERE p <@ box(point(0, 0), point(10, 10));
SELECT count(*) FROM ix WHERE arr @> ARRAY[5];
SELECT count(*) FROM ix WHERE tsv @@ to_tsquery('simple', 'word7');
SELECT count(*) FROM ix WHERE ts < '2020-01-02';
RESET enable_indexscan;
RESET enable_bitmapscan;

-- index pages round-trip intact
SELECT bt_index_check('ix_btree', true);
UPDATE ix SET id = id + 100000 WHERE id % 3 = 0;
DELETE FROM ix WHERE id % 5 = 0;
VACUUM ix;
SELECT bt_index_check('ix_btree', true);
SET enable_seqscan = off;
SELECT count(*) FROM ix WHERE id > 100000;
RESET enable_seqscan;
SELECT count(*) FROM ix WHERE id > 100000;
REINDEX TABLE ix;
SELECT bt_index_parent_check('ix_btree', true);
CREATE INDEX CONCURRENTLY ix_btree2 ON ix (txt, id);
SELECT bt_index_check('ix_btree2', true);
DROP TABLE ix;
