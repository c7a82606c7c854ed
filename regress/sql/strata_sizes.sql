-- The size functions return strata's sizes, not the stubs' zeros.
CREATE TABLE sz (id int PRIMARY KEY, doc text);
ALTER TABLE sz ALTER COLUMN doc SET STORAGE EXTERNAL;
INSERT INTO sz SELECT g, repeat('y', 3000) FROM generate_series(1, 1000) g;
VACUUM sz;
SELECT pg_relation_size('sz') / 8192 AS main_blocks,
       pg_relation_size('sz', 'fsm') > 0 AS has_fsm,
       pg_relation_size('sz', 'vm') > 0 AS has_vm,
       pg_relation_size('sz', 'init') AS init;
SELECT pg_table_size('sz') > pg_relation_size('sz') AS table_includes_toast;
SELECT pg_indexes_size('sz') = pg_relation_size('sz_pkey') AS indexes;
SELECT pg_total_relation_size('sz') = pg_table_size('sz') + pg_indexes_size('sz') AS total;
SELECT pg_relation_size(0) IS NULL AS missing_is_null;
-- a view has no storage
CREATE VIEW szv AS SELECT 1;
SELECT pg_relation_size('szv');
-- the same answers under JIT, which calls built-ins by their C symbol
SET jit = on;
SET jit_above_cost = 0;
SELECT pg_relation_size('sz') / 8192 AS main_blocks_jit;
RESET jit_above_cost;
RESET jit;
SELECT pg_database_size(current_database()) > 8 * 1024 * 1024 AS db_size_counts_stratad,
       pg_database_size(current_database()) = pg_database_size((SELECT oid FROM pg_database WHERE datname = current_database())) AS by_oid_and_name;
SELECT pg_size_pretty(pg_relation_size('sz')) AS pretty;
DROP VIEW szv;
DROP TABLE sz;
