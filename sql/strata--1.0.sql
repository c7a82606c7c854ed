/* strata--1.0.sql: what the compute is doing with its storage */

\echo Use "CREATE EXTENSION strata" to load this file. \quit

-- Cluster-wide counters since the server started.
CREATE FUNCTION strata_stats(OUT counter text, OUT value bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

-- Where this compute's pages live, seen from the calling backend.
CREATE FUNCTION strata_status(OUT mode text, OUT target text,
                              OUT tenant_id text, OUT timeline_id text,
                              OUT connected boolean, OUT in_flight integer,
                              OUT stratad_pid integer, OUT stratad_starts integer)
RETURNS record
AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

CREATE VIEW strata_stats AS SELECT * FROM strata_stats();
CREATE VIEW strata_status AS SELECT * FROM strata_status();

REVOKE ALL ON FUNCTION strata_status() FROM PUBLIC;

-- The local file cache: configuration, occupancy and its counters.
CREATE FUNCTION strata_file_cache(OUT enabled boolean, OUT path text,
                                  OUT size_bytes bigint, OUT limit_bytes bigint,
                                  OUT chunks_used bigint, OUT used_bytes bigint,
                                  OUT file_allocated_bytes bigint,
                                  OUT hits bigint, OUT misses bigint,
                                  OUT writes bigint, OUT stores bigint,
                                  OUT evictions bigint)
RETURNS record
AS 'MODULE_PATHNAME' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE VIEW strata_file_cache AS SELECT * FROM strata_file_cache();
REVOKE ALL ON FUNCTION strata_file_cache() FROM PUBLIC;

-- Working-set estimate (HyperLogLog over the pages that reached the storage
-- manager): distinct pages in the last N seconds, or since the last reset.
CREATE FUNCTION approximate_working_set_size_seconds(seconds integer)
RETURNS bigint
AS 'MODULE_PATHNAME', 'strata_working_set_seconds' LANGUAGE C STRICT VOLATILE PARALLEL SAFE;

CREATE FUNCTION approximate_working_set_size(reset boolean)
RETURNS bigint
AS 'MODULE_PATHNAME', 'strata_working_set' LANGUAGE C STRICT VOLATILE PARALLEL RESTRICTED;

REVOKE ALL ON FUNCTION approximate_working_set_size(boolean) FROM PUBLIC;
