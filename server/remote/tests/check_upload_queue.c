/*
 * check_upload_queue.c: the upload queue (server/remote/upload_queue.c),
 * one test per ordering rule, coalescing, both index checks, the states,
 * and a model test: random operations, completed in random order, checked
 * against a reference ordering checker written apart from the queue.
 *
 *	STRATA_UPLOAD_MODEL_SEEDS=N   run N seeds (default 100)
 *	STRATA_UPLOAD_MODEL_SEED=S    run only seed S (to replay a failure)
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerfile.h"
#include "manifest.h"
#include "strata_err.h"
#include "suites.h"
#include "upload_queue.h"

#define GEN 5

static const uint8_t tenant_id[16] = {0x11, 1};
static const uint8_t timeline_id[16] = {0x22, 2};

/* Layer name number i: a delta [i*16, i*16+16) of generation gen. */
static void
lname_gen(int i, uint32_t gen, char *buf)
{
	struct layer_desc d = {.kind = LAYER_DELTA};

	memset(d.key_end, 0xff, KEY_SIZE);
	d.key_end[0] = 0x7f;
	d.lsn_start = (lsn_t) (i + 1) * 16;
	d.lsn_end = d.lsn_start + 16;
	d.generation = gen;
	ck_assert_int_eq(layer_format_name(&d, buf, UPLOAD_NAME_MAX), 0);
}

static const char *
lname(int i)
{
	static char names[64][UPLOAD_NAME_MAX];

	lname_gen(i, GEN, names[i]);
	return names[i];
}

#define LSN_ALL ((lsn_t) 100000)

/* A valid index of the given layers (indices into lname). */
static struct manifest
index_of(const int *layers, int n)
{
	struct manifest m = {0};

	memcpy(m.tenant, tenant_id, 16);
	memcpy(m.timeline, timeline_id, 16);
	m.generation = GEN;
	m.disk_consistent_lsn = n > 0 ? LSN_ALL : 0;
	m.nlayers = (uint32_t) n;
	m.layers = calloc((size_t) n + 1, sizeof(struct manifest_layer));
	for (int i = 0; i < n; i++)
		strcpy(m.layers[i].name, lname(layers[i]));
	return m;
}

static struct upload_queue *
new_queue(uint32_t concurrency, const int *remote_layers, int nremote)
{
	struct upload_queue_config cfg = {.concurrency = concurrency, .generation = GEN};
	struct upload_queue *q;

	memcpy(cfg.tenant, tenant_id, 16);
	memcpy(cfg.timeline, timeline_id, 16);
	if (remote_layers)
	{
		struct manifest m = index_of(remote_layers, nremote);

		ck_assert_int_eq(upload_queue_new(&cfg, &m, &q), 0);
		manifest_free(&m);
	}
	else
		ck_assert_int_eq(upload_queue_new(&cfg, NULL, &q), 0);
	return q;
}

static void
sched_index(struct upload_queue *q, const int *layers, int n)
{
	struct manifest m = index_of(layers, n);

	ck_assert_int_eq(upload_schedule_index(q, &m), 0);
	ck_assert_ptr_null(m.layers);
}

static void
sched_delete(struct upload_queue *q, int layer)
{
	const char *names[1] = {lname(layer)};

	ck_assert_int_eq(upload_schedule_delete(q, names, 1), 0);
}

static struct upload_op *
next_kind(struct upload_queue *q, enum upload_op_kind kind)
{
	struct upload_op *op = upload_next(q);

	ck_assert_ptr_nonnull(op);
	ck_assert_int_eq(op->kind, kind);
	return op;
}

START_TEST(layers_start_in_parallel_up_to_the_limit)
{
	struct upload_queue *q = new_queue(3, NULL, 0);
	struct upload_op *ops[5];
	struct upload_queue_stats st;

	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(upload_schedule_layer(q, lname(i), 100), 0);
	for (int i = 0; i < 3; i++)
	{
		ops[i] = next_kind(q, UPLOAD_OP_LAYER);
		ck_assert_str_eq(ops[i]->name, lname(i));
	}
	ck_assert_ptr_null(upload_next(q));
	upload_queue_stats(q, &st);
	ck_assert_uint_eq(st.inflight, 3);
	ck_assert_uint_eq(st.queued, 2);
	upload_complete(q, ops[1], 0);
	ops[3] = next_kind(q, UPLOAD_OP_LAYER);
	ck_assert_str_eq(ops[3]->name, lname(3));
	ck_assert_ptr_null(upload_next(q));
	ck_assert(upload_queue_is_remote(q, lname(1)));
	ck_assert(!upload_queue_is_remote(q, lname(0)));
	upload_queue_free(q);
}
END_TEST

START_TEST(default_limit_is_100)
{
	struct upload_queue *q = new_queue(0, NULL, 0);
	int			n = 0;

	for (int i = 0; i < 120; i++)
	{
		struct layer_desc d = {.kind = LAYER_IMAGE, .lsn_start = (lsn_t) i + 1, .generation = 1};
		char		name[UPLOAD_NAME_MAX];

		d.lsn_end = d.lsn_start + 1;
		memset(d.key_end, 0xff, KEY_SIZE);
		ck_assert_int_eq(layer_format_name(&d, name, sizeof(name)), 0);
		ck_assert_int_eq(upload_schedule_layer(q, name, 1), 0);
	}
	while (upload_next(q) != NULL)
		n++;
	ck_assert_int_eq(n, UPLOAD_CONCURRENCY_DEFAULT);
	upload_queue_free(q);
}
END_TEST

START_TEST(same_name_never_passes_itself)
{
	struct upload_queue *q = new_queue(10, NULL, 0);
	struct upload_op *a,
			   *b;

	ck_assert_int_eq(upload_schedule_layer(q, lname(0), 1), 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(0), 1), 0);	/* re-upload */
	sched_delete(q, 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), 0);
	a = next_kind(q, UPLOAD_OP_LAYER);
	b = next_kind(q, UPLOAD_OP_LAYER);
	ck_assert_str_eq(b->name, lname(1));	/* another name passes */
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, a, 0);
	a = next_kind(q, UPLOAD_OP_LAYER);	/* the second upload of 0 */
	ck_assert_str_eq(a->name, lname(0));
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, a, 0);
	a = next_kind(q, UPLOAD_OP_DELETE);
	upload_complete(q, a, 0);
	upload_complete(q, b, 0);
	ck_assert(!upload_queue_is_remote(q, lname(0)));
	ck_assert(upload_queue_is_remote(q, lname(1)));
	upload_queue_free(q);
}
END_TEST

START_TEST(index_waits_for_uploads_of_its_layers)
{
	struct upload_queue *q = new_queue(10, NULL, 0);
	int			both[] = {0, 1};
	struct upload_op *a,
			   *b,
			   *c,
			   *i;

	ck_assert_int_eq(upload_schedule_layer(q, lname(0), 1), 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), 0);
	sched_index(q, both, 2);
	ck_assert_int_eq(upload_schedule_layer(q, lname(2), 1), 0);	/* not named: passes */
	a = next_kind(q, UPLOAD_OP_LAYER);
	b = next_kind(q, UPLOAD_OP_LAYER);
	c = next_kind(q, UPLOAD_OP_LAYER);
	ck_assert_str_eq(c->name, lname(2));
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, a, 0);
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, b, 0);
	i = next_kind(q, UPLOAD_OP_INDEX);
	ck_assert_uint_eq(i->index.nlayers, 2);
	upload_complete(q, i, 0);
	upload_complete(q, c, 0);
	upload_queue_free(q);
}
END_TEST

START_TEST(layer_ops_never_pass_an_index_naming_or_unnaming_them)
{
	int			zero[] = {0};
	int			one[] = {1};
	struct upload_queue *q = new_queue(10, zero, 1);	/* remote: index {0} */
	struct upload_op *i,
			   *u;

	/* an index that drops 0, then the delete of 0: the delete waits */
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), 0);
	u = next_kind(q, UPLOAD_OP_LAYER);
	sched_index(q, one, 1);
	sched_delete(q, 0);
	/* an upload of a layer the pending index names waits too */
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), 0);
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, u, 0);
	i = next_kind(q, UPLOAD_OP_INDEX);
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, i, 0);
	u = next_kind(q, UPLOAD_OP_DELETE);
	ck_assert_str_eq(u->delete_names[0], lname(0));
	i = next_kind(q, UPLOAD_OP_LAYER);
	upload_complete(q, u, 0);
	upload_complete(q, i, 0);
	ck_assert(!upload_queue_is_remote(q, lname(0)));
	upload_queue_free(q);
}
END_TEST

START_TEST(deleting_a_layer_the_newest_index_names_is_refused)
{
	int			zero[] = {0};
	struct upload_queue *q = new_queue(10, zero, 1);
	const char *names[1] = {lname(0)};
	const char *bad[1] = {"not-a-layer"};

	ck_assert_int_eq(upload_schedule_delete(q, names, 1), STRATA_EINVAL);
	ck_assert_int_eq(upload_schedule_delete(q, bad, 1), STRATA_EINVAL);
	ck_assert_int_eq(upload_schedule_layer(q, "not-a-layer", 1), STRATA_EINVAL);
	ck_assert_int_eq(upload_queue_state(q), UPLOAD_ACTIVE);
	upload_queue_free(q);
}
END_TEST

START_TEST(deletes_commute_with_uploads_of_others)
{
	int			zero[] = {0};
	struct upload_queue *q = new_queue(10, zero, 1);
	struct upload_op *a,
			   *b,
			   *c;

	sched_index(q, NULL, 0);	/* drop 0 */
	a = next_kind(q, UPLOAD_OP_INDEX);
	upload_complete(q, a, 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), 0);
	sched_delete(q, 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(2), 1), 0);
	a = next_kind(q, UPLOAD_OP_LAYER);
	b = next_kind(q, UPLOAD_OP_DELETE);
	c = next_kind(q, UPLOAD_OP_LAYER);
	ck_assert_str_eq(c->name, lname(2));
	upload_complete(q, c, 0);
	upload_complete(q, b, 0);
	upload_complete(q, a, 0);
	upload_queue_free(q);
}
END_TEST

START_TEST(nothing_passes_a_barrier)
{
	struct upload_queue *q = new_queue(10, NULL, 0);
	struct upload_op *a,
			   *b;
	uint64_t	id;

	ck_assert_int_eq(upload_schedule_layer(q, lname(0), 1), 0);
	ck_assert_int_eq(upload_schedule_barrier(q, &id), 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), 0);
	a = next_kind(q, UPLOAD_OP_LAYER);
	ck_assert_ptr_null(upload_next(q));	/* the barrier waits for 0, 1 for the barrier */
	upload_complete(q, a, 0);
	b = next_kind(q, UPLOAD_OP_BARRIER);
	ck_assert_uint_eq(b->id, id);
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, b, 0);
	a = next_kind(q, UPLOAD_OP_LAYER);
	ck_assert_str_eq(a->name, lname(1));
	upload_complete(q, a, 0);
	upload_queue_free(q);
}
END_TEST

START_TEST(shutdown_runs_last_and_stops_the_queue)
{
	struct upload_queue *q = new_queue(10, NULL, 0);
	struct upload_op *a,
			   *s;
	uint64_t	id;

	ck_assert_int_eq(upload_schedule_layer(q, lname(0), 1), 0);
	ck_assert_int_eq(upload_schedule_shutdown(q), 0);
	ck_assert_int_eq(upload_queue_state(q), UPLOAD_STOPPING);
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), STRATA_ESHUTDOWN);
	ck_assert_int_eq(upload_schedule_barrier(q, &id), STRATA_ESHUTDOWN);
	a = next_kind(q, UPLOAD_OP_LAYER);
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, a, 0);
	s = next_kind(q, UPLOAD_OP_SHUTDOWN);
	upload_complete(q, s, 0);
	ck_assert_int_eq(upload_queue_state(q), UPLOAD_STOPPED);
	ck_assert_str_eq(upload_state_name(upload_queue_state(q)), "stopped");
	ck_assert_ptr_null(upload_next(q));
	upload_queue_free(q);
}
END_TEST

START_TEST(ready_indexes_coalesce_to_the_newest)
{
	int			zero[] = {0};
	int			zo[] = {0, 1};
	struct upload_queue *q = new_queue(10, zero, 1);
	struct upload_op *i;
	struct upload_queue_stats st;

	sched_index(q, zero, 1);
	sched_index(q, zero, 1);
	sched_index(q, NULL, 0);
	i = next_kind(q, UPLOAD_OP_INDEX);
	ck_assert_uint_eq(i->index.nlayers, 0);	/* the newest */
	ck_assert_uint_eq(i->coalesced, 2);
	ck_assert_uint_eq(i->id, 3);
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, i, 0);
	upload_queue_stats(q, &st);
	ck_assert_uint_eq(st.coalesced, 2);
	ck_assert_uint_eq(st.completed, 3);
	ck_assert_uint_eq(st.queued + st.inflight, 0);

	/* an index that is not ready does not swallow the one before it */
	ck_assert_int_eq(upload_schedule_layer(q, lname(0), 1), 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), 0);
	i = next_kind(q, UPLOAD_OP_LAYER);	/* 0 */
	upload_complete(q, i, 0);
	sched_index(q, zero, 1);
	sched_index(q, zo, 2);		/* waits for 1 */
	i = next_kind(q, UPLOAD_OP_LAYER);	/* 1 */
	ck_assert_str_eq(i->name, lname(1));
	upload_complete(q, i, 0);
	i = next_kind(q, UPLOAD_OP_INDEX);
	ck_assert_uint_eq(i->coalesced, 1);	/* by now both are ready */
	upload_complete(q, i, 0);
	upload_queue_free(q);
}
END_TEST

START_TEST(coalesced_index_keeps_what_it_unnamed_blocked)
{
	int			zero[] = {0};
	struct upload_queue *q = new_queue(10, zero, 1);
	struct upload_op *i,
			   *d;

	sched_index(q, NULL, 0);	/* unnames 0 */
	sched_index(q, NULL, 0);	/* names nothing, unnames nothing by itself */
	sched_delete(q, 0);
	i = next_kind(q, UPLOAD_OP_INDEX);
	ck_assert_uint_eq(i->coalesced, 1);
	/* the remote index still names 0 until i is up: the delete must wait */
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, i, 0);
	d = next_kind(q, UPLOAD_OP_DELETE);
	upload_complete(q, d, 0);
	upload_queue_free(q);
}
END_TEST

START_TEST(remote_consistent_lsn_follows_uploaded_indexes)
{
	int			zero[] = {0};
	struct upload_queue *q = new_queue(10, NULL, 0);
	struct upload_queue_stats st;
	struct upload_op *op;
	struct manifest m;

	ck_assert_int_eq(upload_schedule_layer(q, lname(0), 1), 0);
	m = index_of(zero, 1);
	m.disk_consistent_lsn = 4242;
	ck_assert_int_eq(upload_schedule_index(q, &m), 0);
	upload_queue_stats(q, &st);
	ck_assert_uint_eq(st.remote_consistent_lsn, 0);
	ck_assert_uint_eq(st.projected_consistent_lsn, 4242);
	op = next_kind(q, UPLOAD_OP_LAYER);
	upload_complete(q, op, 0);
	op = next_kind(q, UPLOAD_OP_INDEX);
	upload_queue_stats(q, &st);
	ck_assert_uint_eq(st.remote_consistent_lsn, 0);
	upload_complete(q, op, 0);
	upload_queue_stats(q, &st);
	ck_assert_uint_eq(st.remote_consistent_lsn, 4242);
	upload_queue_free(q);
}
END_TEST

/* Schedule m on a fresh queue (remote: layers 0 and 1 uploaded, plus layer 2 queued). */
static void
index_refused(struct manifest m, const char *reason)
{
	int			remote[] = {0, 1};
	struct upload_queue *q = new_queue(10, remote, 2);
	uint64_t	id;

	ck_assert_int_eq(upload_schedule_layer(q, lname(2), 1), 0);
	ck_assert_int_eq(upload_schedule_index(q, &m), STRATA_EINVAL);
	ck_assert_int_eq(upload_queue_state(q), UPLOAD_BROKEN);
	ck_assert_msg(strstr(upload_queue_error(q), reason) != NULL, "error \"%s\" lacks \"%s\"",
				  upload_queue_error(q), reason);
	/* stopped, visibly: nothing starts, nothing more is accepted */
	ck_assert_ptr_null(upload_next(q));
	ck_assert_int_eq(upload_schedule_barrier(q, &id), STRATA_ESHUTDOWN);
	upload_queue_free(q);
}

START_TEST(invalid_index_is_refused_when_scheduled)
{
	int			ok[] = {0, 2};
	int			dup[] = {0, 1, 0};
	int			missing[] = {0, 3};
	struct manifest m;

	m = index_of(ok, 2);
	strcpy(m.layers[1].name, "garbage__0000");
	index_refused(m, "\"garbage__0000\" is not well formed");

	m = index_of(ok, 2);
	m.disk_consistent_lsn = 40;
	index_refused(m, "reaches past disk_consistent_lsn");

	m = index_of(dup, 3);
	index_refused(m, "is listed twice");

	m = index_of(ok, 2);
	m.generation = GEN + 1;
	index_refused(m, "from the future");

	m = index_of(ok, 2);
	lname_gen(2, GEN + 1, m.layers[1].name);
	index_refused(m, "has generation 00000006, from the future");

	m = index_of(missing, 2);
	index_refused(m, "neither uploaded nor scheduled for upload");

	m = index_of(ok, 2);
	m.timeline[0] ^= 1;
	index_refused(m, "another tenant or timeline");

	m = index_of(NULL, 0);
	m.disk_consistent_lsn = 7;
	index_refused(m, "no ancestor and no layers");
}
END_TEST

START_TEST(index_naming_a_layer_scheduled_for_deletion_is_refused)
{
	int			zero[] = {0};
	struct upload_queue *q = new_queue(10, zero, 1);
	struct manifest m;

	sched_index(q, NULL, 0);
	sched_delete(q, 0);
	m = index_of(zero, 1);		/* 0 is still uploaded, but its delete is ahead */
	ck_assert_int_eq(upload_schedule_index(q, &m), STRATA_EINVAL);
	ck_assert_ptr_nonnull(strstr(upload_queue_error(q), "neither uploaded nor scheduled"));
	upload_queue_free(q);
}
END_TEST

START_TEST(invalid_index_is_caught_again_before_upload)
{
	int			zero[] = {0};
	struct upload_queue *q = new_queue(10, zero, 1);
	struct upload_queue_stats st;

	sched_index(q, zero, 1);
	upload_queue_test_forget(q, lname(0));	/* the remote side lost layer 0 */
	ck_assert_ptr_null(upload_next(q));
	ck_assert_int_eq(upload_queue_state(q), UPLOAD_BROKEN);
	ck_assert_ptr_nonnull(strstr(upload_queue_error(q), "failed its check before upload"));
	ck_assert_ptr_nonnull(strstr(upload_queue_error(q), lname(0)));
	ck_assert_ptr_nonnull(strstr(upload_queue_error(q), "is not uploaded"));
	upload_queue_stats(q, &st);
	ck_assert_uint_eq(st.inflight, 0);
	ck_assert_uint_eq(st.remote_consistent_lsn, LSN_ALL);	/* the old index stays */
	upload_queue_free(q);
}
END_TEST

START_TEST(failed_operation_breaks_the_queue)
{
	struct upload_queue *q = new_queue(10, NULL, 0);
	struct upload_op *a,
			   *b;

	ck_assert_int_eq(upload_schedule_layer(q, lname(0), 1), 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(1), 1), 0);
	ck_assert_int_eq(upload_schedule_layer(q, lname(2), 1), 0);
	a = next_kind(q, UPLOAD_OP_LAYER);
	b = next_kind(q, UPLOAD_OP_LAYER);
	upload_complete(q, a, STRATA_EREMOTE);
	ck_assert_int_eq(upload_queue_state(q), UPLOAD_BROKEN);
	ck_assert_ptr_nonnull(strstr(upload_queue_error(q), lname(0)));
	ck_assert_ptr_nonnull(strstr(upload_queue_error(q), "refused"));
	ck_assert_ptr_null(upload_next(q));
	upload_complete(q, b, 0);	/* what was in flight still completes */
	ck_assert(upload_queue_is_remote(q, lname(1)));
	ck_assert_int_eq(upload_schedule_layer(q, lname(3), 1), STRATA_ESHUTDOWN);
	upload_queue_free(q);		/* frees the queued upload of 2 */
}
END_TEST

/* ---------- model test ---------- */

/*
 * The reference: layers are the pool's numbers, sets are bit masks.  Every
 * operation the queue accepts is recorded with what the reference thinks it
 * touches; the queue's choices are then checked against the rules.
 */
#define POOL	24
#define MAXOPS	4096

enum ref_state
{
	REF_QUEUED,
	REF_INFLIGHT,
	REF_DONE,
	REF_COALESCED,				/* dropped; done once `into` is done */
};

struct ref_op
{
	enum upload_op_kind kind;
	uint32_t	names;			/* LAYER: one bit; DELETE: its bits; INDEX: its layers */
	uint32_t	touched;		/* INDEX: names | the previous index's names */
	enum ref_state state;
	int			into;
	struct upload_op *op;
};

struct model
{
	unsigned	seed0;			/* the seed, for messages */
	unsigned	seed;			/* rand_r state */
	struct upload_queue *q;
	uint32_t	limit;
	struct ref_op ops[MAXOPS + 1];	/* by queue id */
	int			nops;
	uint32_t	proj_index;		/* newest scheduled index */
	uint32_t	projected;		/* layers there once all is done */
	uint32_t	remote;			/* layers there now */
	uint32_t	remote_index;	/* the newest uploaded index */
	int			ninflight;
	int			inflight[MAXOPS];
	int			nstarted;
};

#define MFAIL(m, ...) ck_abort_msg("seed %u (STRATA_UPLOAD_MODEL_SEED): %s", (m)->seed0, (snprintf(mbuf, sizeof(mbuf), __VA_ARGS__), mbuf))
static char mbuf[512];

static unsigned
rnd(struct model *m, unsigned n)
{
	return (unsigned) rand_r(&m->seed) % n;
}

static int
ref_finished(const struct model *m, int id)
{
	const struct ref_op *r = &m->ops[id];

	if (r->state == REF_DONE)
		return 1;
	return r->state == REF_COALESCED && m->ops[r->into].state == REF_DONE;
}

static int
is_fence_kind(enum upload_op_kind k)
{
	return k == UPLOAD_OP_BARRIER || k == UPLOAD_OP_SHUTDOWN;
}

static int
ref_conflict(const struct ref_op *a, const struct ref_op *b)
{
	if (is_fence_kind(a->kind) || is_fence_kind(b->kind))
		return 1;
	if (a->kind == UPLOAD_OP_INDEX && b->kind == UPLOAD_OP_INDEX)
		return 1;
	if (a->kind == UPLOAD_OP_INDEX)
		return (a->touched & b->names) != 0;
	if (b->kind == UPLOAD_OP_INDEX)
		return (b->touched & a->names) != 0;
	return (a->names & b->names) != 0;
}

/* Whether reference op id may start now (ignoring the limit). */
static int
ref_may_start(const struct model *m, int id)
{
	for (int a = 1; a < id; a++)
	{
		if (ref_finished(m, a))
			continue;
		if (ref_conflict(&m->ops[a], &m->ops[id]))
			return 0;
	}
	return 1;
}

static void
record(struct model *m, enum upload_op_kind kind, uint32_t names, uint32_t touched)
{
	struct ref_op *r = &m->ops[++m->nops];

	ck_assert_int_le(m->nops, MAXOPS);
	r->kind = kind;
	r->names = names;
	r->touched = touched;
	r->state = REF_QUEUED;
}

static void
m_schedule(struct model *m)
{
	unsigned	what = rnd(m, 100);

	if (what < 40)
	{
		int			l = (int) rnd(m, POOL);

		ck_assert_int_eq(upload_schedule_layer(m->q, lname(l), 1), 0);
		record(m, UPLOAD_OP_LAYER, 1u << l, 0);
		m->projected |= 1u << l;
	}
	else if (what < 70)
	{
		int			layers[POOL];
		int			n = 0;
		uint32_t	set = 0;
		struct manifest mf;

		for (int l = 0; l < POOL; l++)
			if ((m->projected & (1u << l)) && rnd(m, 3) != 0)
			{
				layers[n++] = l;
				set |= 1u << l;
			}
		mf = index_of(layers, n);
		ck_assert_int_eq(upload_schedule_index(m->q, &mf), 0);
		record(m, UPLOAD_OP_INDEX, set, set | m->proj_index);
		m->proj_index = set;
	}
	else if (what < 92)
	{
		const char *names[3];
		uint32_t	set = 0;
		int			n = 0;

		for (int tries = 0; tries < 6 && n < 3; tries++)
		{
			int			l = (int) rnd(m, POOL);

			if ((m->proj_index & (1u << l)) || (set & (1u << l)))
				continue;
			names[n++] = lname(l);
			set |= 1u << l;
		}
		if (n == 0)
			return;
		ck_assert_int_eq(upload_schedule_delete(m->q, names, (uint32_t) n), 0);
		record(m, UPLOAD_OP_DELETE, set, 0);
		m->projected &= ~set;
	}
	else
	{
		uint64_t	id;

		ck_assert_int_eq(upload_schedule_barrier(m->q, &id), 0);
		record(m, UPLOAD_OP_BARRIER, 0, 0);
		ck_assert_uint_eq(id, (uint64_t) m->nops);
	}
}

/* The queue started op: check it against the reference. */
static void
m_started(struct model *m, struct upload_op *op)
{
	int			id = (int) op->id;
	struct ref_op *r;

	if (id < 1 || id > m->nops || m->ops[id].state != REF_QUEUED)
		MFAIL(m, "queue started unknown or non-queued op %d", id);
	r = &m->ops[id];
	if ((int) op->kind != (int) r->kind)
		MFAIL(m, "op %d has kind %d, scheduled as %d", id, op->kind, r->kind);
	if (m->ninflight + 1 > (int) m->limit)
		MFAIL(m, "op %d starts with %d in flight, limit %u", id, m->ninflight, m->limit);
	if (op->kind == UPLOAD_OP_INDEX)
	{
		/*
		 * The indexes it replaced: the nearest unfinished ops before it,
		 * each a queued index.
		 */
		uint64_t	left = op->coalesced;

		for (int a = id - 1; a >= 1 && left > 0; a--)
		{
			if (ref_finished(m, a))
				continue;
			if (m->ops[a].kind != UPLOAD_OP_INDEX || m->ops[a].state != REF_QUEUED)
				MFAIL(m, "index %d coalesced over op %d, not a queued index", id, a);
			m->ops[a].state = REF_COALESCED;
			m->ops[a].into = id;
			left--;
		}
		if (left > 0)
			MFAIL(m, "index %d claims %llu more coalesced indexes than exist", id,
				  (unsigned long long) left);
		if ((uint32_t) op->index.nlayers != (uint32_t) __builtin_popcount(r->names))
			MFAIL(m, "index %d has %u layers, scheduled with %d", id, op->index.nlayers,
				  __builtin_popcount(r->names));
	}
	/* it, and each index it replaced, conflicts with nothing unfinished before it */
	for (int b = 1; b <= id; b++)
	{
		if (b != id && !(m->ops[b].state == REF_COALESCED && m->ops[b].into == id))
			continue;
		for (int a = 1; a < b; a++)
		{
			if (ref_finished(m, a) || (m->ops[a].state == REF_COALESCED && m->ops[a].into == id))
				continue;
			if (ref_conflict(&m->ops[a], &m->ops[b]))
				MFAIL(m, "op %d (kind %d%s) started while op %d (kind %d) conflicts and is "
					  "unfinished", b, m->ops[b].kind, b == id ? "" : ", coalesced", a,
					  m->ops[a].kind);
		}
	}
	r->state = REF_INFLIGHT;
	r->op = op;
	m->inflight[m->ninflight++] = id;
	m->nstarted++;
}

static void
m_start_all(struct model *m)
{
	struct upload_op *op;

	while ((op = upload_next(m->q)) != NULL)
		m_started(m, op);
	if (upload_queue_state(m->q) == UPLOAD_BROKEN)
		MFAIL(m, "queue broke: %s", upload_queue_error(m->q));
	/* eager: nothing that may start is held back */
	if (m->ninflight >= (int) m->limit)
		return;
	for (int id = 1; id <= m->nops; id++)
	{
		if (m->ops[id].state != REF_QUEUED)
			continue;
		if (ref_may_start(m, id))
			MFAIL(m, "op %d (kind %d) could start but the queue holds it back", id,
				  m->ops[id].kind);
	}
}

static void
m_check_remote(struct model *m)
{
	if ((m->remote_index & ~m->remote) != 0)
		MFAIL(m, "the uploaded index names layers %#x that are not on the remote side",
			  m->remote_index & ~m->remote);
	for (int l = 0; l < POOL; l++)
		if (upload_queue_is_remote(m->q, lname(l)) != !!(m->remote & (1u << l)))
			MFAIL(m, "queue and reference disagree whether layer %d is remote", l);
}

static void
m_complete_one(struct model *m)
{
	int			k = (int) rnd(m, (unsigned) m->ninflight);
	int			id = m->inflight[k];
	struct ref_op *r = &m->ops[id];

	m->inflight[k] = m->inflight[--m->ninflight];
	switch (r->kind)
	{
		case UPLOAD_OP_LAYER:
			m->remote |= r->names;
			break;
		case UPLOAD_OP_DELETE:
			m->remote &= ~r->names;
			break;
		case UPLOAD_OP_INDEX:
			m->remote_index = r->names;
			break;
		default:
			break;
	}
	upload_complete(m->q, r->op, 0);
	r->state = REF_DONE;
	r->op = NULL;
	m_check_remote(m);
}

static void
run_model(unsigned seed, int steps)
{
	struct model *m = calloc(1, sizeof(*m));
	static const uint32_t limits[] = {1, 2, 3, 8, 100};
	struct upload_queue_stats st;
	uint32_t	seq_remote = 0;
	uint32_t	seq_index = 0;

	m->seed0 = m->seed = seed;
	m->limit = limits[rnd(m, 5)];
	m->q = new_queue(m->limit, NULL, 0);
	for (int s = 0; s < steps && m->nops < MAXOPS - 2; s++)
	{
		unsigned	what = rnd(m, 10);

		if (what < 5)
			m_schedule(m);
		else if (m->ninflight > 0 && what < 9)
			m_complete_one(m);
		m_start_all(m);
	}
	ck_assert_int_eq(upload_schedule_shutdown(m->q), 0);
	record(m, UPLOAD_OP_SHUTDOWN, 0, 0);
	for (;;)
	{
		m_start_all(m);
		if (m->ninflight == 0)
			break;
		m_complete_one(m);
	}
	if (upload_queue_state(m->q) != UPLOAD_STOPPED)
		MFAIL(m, "queue stuck in state %s", upload_state_name(upload_queue_state(m->q)));
	/* every op finished; the result is that of running them in order */
	for (int id = 1; id <= m->nops; id++)
	{
		struct ref_op *r = &m->ops[id];

		if (!ref_finished(m, id))
			MFAIL(m, "op %d never finished", id);
		if (r->kind == UPLOAD_OP_LAYER)
			seq_remote |= r->names;
		else if (r->kind == UPLOAD_OP_DELETE)
			seq_remote &= ~r->names;
		else if (r->kind == UPLOAD_OP_INDEX)
			seq_index = r->names;
	}
	if (seq_remote != m->remote || seq_index != m->remote_index)
		MFAIL(m, "end state differs from running the ops in order: remote %#x vs %#x, "
			  "index %#x vs %#x", m->remote, seq_remote, m->remote_index, seq_index);
	upload_queue_stats(m->q, &st);
	ck_assert_uint_eq(st.completed, (uint64_t) m->nops);
	ck_assert_uint_eq(st.queued + st.inflight, 0);
	upload_queue_free(m->q);
	free(m);
}

START_TEST(model_random_schedules_and_completion_orders)
{
	const char *one = getenv("STRATA_UPLOAD_MODEL_SEED");
	const char *n = getenv("STRATA_UPLOAD_MODEL_SEEDS");
	int			seeds = n ? atoi(n) : 100;

	if (one)
	{
		run_model((unsigned) strtoul(one, NULL, 10), 600);
		return;
	}
	for (int s = 1; s <= seeds; s++)
		run_model((unsigned) s, 600);
}
END_TEST

Suite *
check_upload_queue_suite(void)
{
	Suite	   *s = suite_create("upload_queue");
	TCase	   *tc = tcase_create("core");

	tcase_set_timeout(tc, 600);
	tcase_add_test(tc, layers_start_in_parallel_up_to_the_limit);
	tcase_add_test(tc, default_limit_is_100);
	tcase_add_test(tc, same_name_never_passes_itself);
	tcase_add_test(tc, index_waits_for_uploads_of_its_layers);
	tcase_add_test(tc, layer_ops_never_pass_an_index_naming_or_unnaming_them);
	tcase_add_test(tc, deleting_a_layer_the_newest_index_names_is_refused);
	tcase_add_test(tc, deletes_commute_with_uploads_of_others);
	tcase_add_test(tc, nothing_passes_a_barrier);
	tcase_add_test(tc, shutdown_runs_last_and_stops_the_queue);
	tcase_add_test(tc, ready_indexes_coalesce_to_the_newest);
	tcase_add_test(tc, coalesced_index_keeps_what_it_unnamed_blocked);
	tcase_add_test(tc, remote_consistent_lsn_follows_uploaded_indexes);
	tcase_add_test(tc, invalid_index_is_refused_when_scheduled);
	tcase_add_test(tc, index_naming_a_layer_scheduled_for_deletion_is_refused);
	tcase_add_test(tc, invalid_index_is_caught_again_before_upload);
	tcase_add_test(tc, failed_operation_breaks_the_queue);
	tcase_add_test(tc, model_random_schedules_and_completion_orders);
	suite_add_tcase(s, tc);
	return s;
}
