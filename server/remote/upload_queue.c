/*-------------------------------------------------------------------------
 *
 * upload_queue.c
 *	  The per-timeline upload queue (see upload_queue.h).
 *
 * Every unfinished operation sits on one list in schedule order, queued or
 * in flight; completion unlinks it.  Two name sets describe the remote
 * side: `remote` (what completed operations left there) and `projected`
 * (what it will hold once everything scheduled has completed).  An index
 * carries the sorted set of layer names it touches (names, plus the names
 * of the index scheduled before it), which is what conflicts are checked
 * against.
 *
 *-------------------------------------------------------------------------
 */
#include "upload_queue.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "layerfile.h"
#include "strata_err.h"

#define LSN_ARGS(l) (unsigned) ((l) >> 32), (unsigned) (l)

/* ---------- a set of names (open addressing, power-of-two table) ---------- */

struct nameset
{
	char	  **slot;			/* NULL, TOMBSTONE or an owned string */
	size_t		cap;
	size_t		used;			/* live + tombstones */
	size_t		live;
};

static char tombstone_mark;

#define TOMBSTONE (&tombstone_mark)

static uint64_t
name_hash(const char *s)
{
	uint64_t	h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 1099511628211ULL;
	return h;
}

static size_t
ns_find(const struct nameset *ns, const char *name)
{
	size_t		i = (size_t) name_hash(name) & (ns->cap - 1);

	for (;; i = (i + 1) & (ns->cap - 1))
	{
		char	   *s = ns->slot[i];

		if (s == NULL)
			return SIZE_MAX;
		if (s != TOMBSTONE && strcmp(s, name) == 0)
			return i;
	}
}

static int
ns_has(const struct nameset *ns, const char *name)
{
	return ns->cap > 0 && ns_find(ns, name) != SIZE_MAX;
}

static int
ns_grow(struct nameset *ns)
{
	struct nameset bigger = {0};

	bigger.cap = ns->cap ? ns->cap * 2 : 64;
	while (bigger.cap < 2 * (ns->live + 1))
		bigger.cap *= 2;
	if ((bigger.slot = calloc(bigger.cap, sizeof(char *))) == NULL)
		return STRATA_ENOMEM;
	for (size_t i = 0; i < ns->cap; i++)
	{
		char	   *s = ns->slot[i];

		if (s != NULL && s != TOMBSTONE)
		{
			size_t		j = (size_t) name_hash(s) & (bigger.cap - 1);

			while (bigger.slot[j] != NULL)
				j = (j + 1) & (bigger.cap - 1);
			bigger.slot[j] = s;
			bigger.used++;
			bigger.live++;
		}
	}
	free(ns->slot);
	*ns = bigger;
	return 0;
}

static int
ns_add(struct nameset *ns, const char *name)
{
	size_t		i;
	char	   *s;

	if (ns_has(ns, name))
		return 0;
	if ((ns->used + 1) * 4 > ns->cap * 3 && ns_grow(ns) != 0)
		return STRATA_ENOMEM;
	i = (size_t) name_hash(name) & (ns->cap - 1);
	while (ns->slot[i] != NULL && ns->slot[i] != TOMBSTONE)
		i = (i + 1) & (ns->cap - 1);
	if ((s = strdup(name)) == NULL)
		return STRATA_ENOMEM;
	if (ns->slot[i] == NULL)
		ns->used++;
	ns->slot[i] = s;
	ns->live++;
	return 0;
}

static void
ns_del(struct nameset *ns, const char *name)
{
	size_t		i = ns->cap ? ns_find(ns, name) : SIZE_MAX;

	if (i == SIZE_MAX)
		return;
	free(ns->slot[i]);
	ns->slot[i] = TOMBSTONE;
	ns->live--;
}

static void
ns_free(struct nameset *ns)
{
	for (size_t i = 0; i < ns->cap; i++)
		if (ns->slot[i] != TOMBSTONE)
			free(ns->slot[i]);
	free(ns->slot);
	memset(ns, 0, sizeof(*ns));
}

/* ---------- sorted name arrays (an index's names and touched set) ---------- */

typedef char name_t[UPLOAD_NAME_MAX];

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(a, b);
}

static int
sorted_has(const name_t *v, uint32_t n, const char *name)
{
	return n > 0 && bsearch(name, v, n, sizeof(name_t), name_cmp) != NULL;
}

/* The sorted union of two sorted arrays; malloc'd (NULL if both empty or no memory). */
static int
sorted_union(const name_t *a, uint32_t na, const name_t *b, uint32_t nb, name_t **out,
			 uint32_t *nout)
{
	name_t	   *u = NULL;
	uint32_t	i = 0,
				j = 0,
				k = 0;

	if (na + nb > 0 && (u = malloc((size_t) (na + nb) * sizeof(name_t))) == NULL)
		return STRATA_ENOMEM;
	while (i < na || j < nb)
	{
		int			c = i == na ? 1 : j == nb ? -1 : strcmp(a[i], b[j]);

		memcpy(u[k++], c <= 0 ? a[i] : b[j], sizeof(name_t));
		i += c <= 0;
		j += c >= 0;
	}
	*out = u;
	*nout = k;
	return 0;
}

/* ---------- the queue ---------- */

struct upload_op_private
{
	int			inflight;
	name_t	   *names;			/* INDEX: its layer names, sorted */
	uint32_t	nnames;
	name_t	   *touched;		/* INDEX: names it and its predecessor name, sorted */
	uint32_t	ntouched;
	struct upload_op *prev;
	struct upload_op *next;
};

struct upload_queue
{
	struct upload_queue_config cfg;
	enum upload_state state;
	char		error[UPLOAD_ERROR_MAX];
	struct upload_op *head;		/* unfinished operations, schedule order */
	struct upload_op *tail;
	uint32_t	nqueued;
	uint32_t	ninflight;
	uint64_t	next_id;
	uint64_t	completed;
	uint64_t	coalesced;
	struct nameset remote;		/* layers on the remote side now */
	struct nameset projected;	/* ... once everything scheduled is done */
	name_t	   *proj_names;		/* the newest scheduled index's names, sorted */
	uint32_t	proj_nnames;
	lsn_t		proj_lsn;
	lsn_t		remote_lsn;
};

static void
set_broken(struct upload_queue *q, const char *fmt,...)
__attribute__((format(printf, 2, 3)));

static void
set_broken(struct upload_queue *q, const char *fmt,...)
{
	va_list		ap;

	if (q->state == UPLOAD_BROKEN)
		return;					/* keep the first reason */
	va_start(ap, fmt);
	vsnprintf(q->error, sizeof(q->error), fmt, ap);
	va_end(ap);
	q->state = UPLOAD_BROKEN;
}

void
upload_index_object_name(uint32_t generation, char buf[UPLOAD_NAME_MAX])
{
	snprintf(buf, UPLOAD_NAME_MAX, "index_part-%08X", generation);
}

static int
layer_name_ok(const char *name, struct layer_desc *d)
{
	return strnlen(name, UPLOAD_NAME_MAX) < UPLOAD_NAME_MAX && layer_parse_name(name, d) == 0;
}

/* The index's names, sorted; NULL for none. */
static int
sorted_names(const struct manifest *m, name_t **out)
{
	name_t	   *v = NULL;

	if (m->nlayers > 0 && (v = malloc((size_t) m->nlayers * sizeof(name_t))) == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < m->nlayers; i++)
	{
		snprintf(v[i], sizeof(name_t), "%s", m->layers[i].name);
	}
	if (m->nlayers > 1)
		qsort(v, m->nlayers, sizeof(name_t), name_cmp);
	*out = v;
	return 0;
}

/*
 * The checks of upload_queue.h on index m (names sorted in `sorted`).
 * before_upload: its layers must be uploaded; else uploaded or scheduled
 * for upload, and not scheduled for deletion (the projected set).
 */
static int
validate_index(const struct upload_queue *q, const struct manifest *m, const name_t *sorted,
			   int before_upload, char *why, size_t whylen)
{
	if (memcmp(m->tenant, q->cfg.tenant, 16) != 0 || memcmp(m->timeline, q->cfg.timeline, 16) != 0)
	{
		snprintf(why, whylen, "it belongs to another tenant or timeline");
		return STRATA_EINVAL;
	}
	if (m->generation > q->cfg.generation)
	{
		snprintf(why, whylen, "its generation %08X is from the future (ours is %08X)",
				 m->generation, q->cfg.generation);
		return STRATA_EINVAL;
	}
	if (!m->has_ancestor && m->nlayers == 0 && m->disk_consistent_lsn != 0)
	{
		snprintf(why, whylen, "it has no ancestor and no layers but disk_consistent_lsn %X/%X",
				 LSN_ARGS(m->disk_consistent_lsn));
		return STRATA_EINVAL;
	}
	for (uint32_t i = 0; i < m->nlayers; i++)
	{
		const char *name = m->layers[i].name;
		struct layer_desc d;

		if (!layer_name_ok(name, &d))
		{
			snprintf(why, whylen, "layer name \"%.*s\" is not well formed", UPLOAD_NAME_MAX, name);
			return STRATA_EINVAL;
		}
		if (d.lsn_end > m->disk_consistent_lsn)
		{
			snprintf(why, whylen, "layer \"%s\" reaches past disk_consistent_lsn %X/%X", name,
					 LSN_ARGS(m->disk_consistent_lsn));
			return STRATA_EINVAL;
		}
		if (d.generation > q->cfg.generation)
		{
			snprintf(why, whylen, "layer \"%s\" has generation %08X, from the future (ours is %08X)",
					 name, d.generation, q->cfg.generation);
			return STRATA_EINVAL;
		}
		if (!ns_has(before_upload ? &q->remote : &q->projected, name))
		{
			snprintf(why, whylen, before_upload ? "layer \"%s\" is not uploaded" :
					 "layer \"%s\" is neither uploaded nor scheduled for upload", name);
			return STRATA_EINVAL;
		}
	}
	for (uint32_t i = 1; i < m->nlayers; i++)
	{
		if (strcmp(sorted[i - 1], sorted[i]) == 0)
		{
			snprintf(why, whylen, "layer \"%s\" is listed twice", sorted[i]);
			return STRATA_EINVAL;
		}
	}
	return 0;
}

int
upload_queue_new(const struct upload_queue_config *cfg, const struct manifest *remote,
				 struct upload_queue **out)
{
	struct upload_queue *q = calloc(1, sizeof(*q));
	int			err = 0;

	if (q == NULL)
		return STRATA_ENOMEM;
	q->cfg = *cfg;
	if (q->cfg.concurrency == 0)
		q->cfg.concurrency = UPLOAD_CONCURRENCY_DEFAULT;
	q->state = UPLOAD_ACTIVE;
	q->next_id = 1;
	if (remote != NULL)
	{
		struct layer_desc d;

		for (uint32_t i = 0; i < remote->nlayers && err == 0; i++)
		{
			if (!layer_name_ok(remote->layers[i].name, &d))
				err = STRATA_EINVAL;
			else if ((err = ns_add(&q->remote, remote->layers[i].name)) == 0)
				err = ns_add(&q->projected, remote->layers[i].name);
		}
		if (err == 0)
			err = sorted_names(remote, &q->proj_names);
		q->proj_nnames = remote->nlayers;
		q->proj_lsn = q->remote_lsn = remote->disk_consistent_lsn;
	}
	if (err != 0)
	{
		upload_queue_free(q);
		return err;
	}
	*out = q;
	return 0;
}

static void
op_free(struct upload_op *op)
{
	if (op->kind == UPLOAD_OP_INDEX)
		manifest_free(&op->index);
	free(op->delete_names);
	if (op->priv)
	{
		free(op->priv->names);
		free(op->priv->touched);
	}
	free(op->priv);
	free(op);
}

void
upload_queue_free(struct upload_queue *q)
{
	if (q == NULL)
		return;
	while (q->head)
	{
		struct upload_op *next = q->head->priv->next;

		op_free(q->head);
		q->head = next;
	}
	ns_free(&q->remote);
	ns_free(&q->projected);
	free(q->proj_names);
	free(q);
}

static struct upload_op *
op_new(enum upload_op_kind kind)
{
	struct upload_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	if ((op->priv = calloc(1, sizeof(*op->priv))) == NULL)
	{
		free(op);
		return NULL;
	}
	op->kind = kind;
	return op;
}

static void
op_append(struct upload_queue *q, struct upload_op *op)
{
	op->id = q->next_id++;
	op->priv->prev = q->tail;
	if (q->tail)
		q->tail->priv->next = op;
	else
		q->head = op;
	q->tail = op;
	q->nqueued++;
}

static void
op_unlink(struct upload_queue *q, struct upload_op *op)
{
	struct upload_op_private *p = op->priv;

	if (p->prev)
		p->prev->priv->next = p->next;
	else
		q->head = p->next;
	if (p->next)
		p->next->priv->prev = p->prev;
	else
		q->tail = p->prev;
	p->prev = p->next = NULL;
}

static int
schedulable(const struct upload_queue *q)
{
	return q->state == UPLOAD_ACTIVE ? 0 : STRATA_ESHUTDOWN;
}

int
upload_schedule_layer(struct upload_queue *q, const char *name, uint64_t size)
{
	struct layer_desc d;
	struct upload_op *op;
	int			err;

	if ((err = schedulable(q)) != 0)
		return err;
	if (!layer_name_ok(name, &d) || d.generation > q->cfg.generation)
		return STRATA_EINVAL;
	if ((op = op_new(UPLOAD_OP_LAYER)) == NULL || ns_add(&q->projected, name) != 0)
	{
		if (op)
			op_free(op);
		return STRATA_ENOMEM;
	}
	strcpy(op->name, name);
	op->size = size;
	op_append(q, op);
	return 0;
}

int
upload_schedule_index(struct upload_queue *q, struct manifest *m)
{
	struct upload_op *op = op_new(UPLOAD_OP_INDEX);
	char		why[UPLOAD_ERROR_MAX - 64];
	int			err;

	if (op == NULL)
	{
		manifest_free(m);
		return STRATA_ENOMEM;
	}
	op->index = *m;
	memset(m, 0, sizeof(*m));
	upload_index_object_name(op->index.generation, op->name);
	if ((err = schedulable(q)) != 0 ||
		(err = sorted_names(&op->index, &op->priv->names)) != 0)
		goto fail;
	op->priv->nnames = op->index.nlayers;
	if ((err = validate_index(q, &op->index, op->priv->names, 0, why, sizeof(why))) != 0)
	{
		set_broken(q, "index scheduled after operation %llu is invalid: %s",
				   (unsigned long long) (q->next_id - 1), why);
		goto fail;
	}
	if ((err = sorted_union(op->priv->names, op->priv->nnames, q->proj_names, q->proj_nnames,
							&op->priv->touched, &op->priv->ntouched)) != 0)
		goto fail;
	free(q->proj_names);
	if ((err = sorted_names(&op->index, &q->proj_names)) != 0)
	{
		q->proj_names = NULL;
		q->proj_nnames = 0;
		set_broken(q, "out of memory scheduling an index");
		goto fail;
	}
	q->proj_nnames = op->index.nlayers;
	q->proj_lsn = op->index.disk_consistent_lsn;
	op_append(q, op);
	return 0;

fail:
	op_free(op);
	return err;
}

int
upload_schedule_delete(struct upload_queue *q, const char *const *names, uint32_t n)
{
	struct upload_op *op;
	struct layer_desc d;
	int			err;

	if ((err = schedulable(q)) != 0)
		return err;
	if (n == 0)
		return STRATA_EINVAL;
	for (uint32_t i = 0; i < n; i++)
		if (!layer_name_ok(names[i], &d) || sorted_has(q->proj_names, q->proj_nnames, names[i]))
			return STRATA_EINVAL;
	if ((op = op_new(UPLOAD_OP_DELETE)) == NULL ||
		(op->delete_names = calloc(n, sizeof(name_t))) == NULL)
	{
		if (op)
			op_free(op);
		return STRATA_ENOMEM;
	}
	op->ndelete = n;
	for (uint32_t i = 0; i < n; i++)
	{
		strcpy(op->delete_names[i], names[i]);
		ns_del(&q->projected, names[i]);
	}
	op_append(q, op);
	return 0;
}

int
upload_schedule_barrier(struct upload_queue *q, uint64_t *id)
{
	struct upload_op *op;
	int			err;

	if ((err = schedulable(q)) != 0)
		return err;
	if ((op = op_new(UPLOAD_OP_BARRIER)) == NULL)
		return STRATA_ENOMEM;
	op_append(q, op);
	*id = op->id;
	return 0;
}

int
upload_schedule_shutdown(struct upload_queue *q)
{
	struct upload_op *op;
	int			err;

	if ((err = schedulable(q)) != 0)
		return err;
	if ((op = op_new(UPLOAD_OP_SHUTDOWN)) == NULL)
		return STRATA_ENOMEM;
	op_append(q, op);
	q->state = UPLOAD_STOPPING;
	return 0;
}

/* ---------- ordering ---------- */

static int
is_fence(const struct upload_op *op)
{
	return op->kind == UPLOAD_OP_BARRIER || op->kind == UPLOAD_OP_SHUTDOWN;
}

/* Whether a layer operation (LAYER or DELETE) touches name. */
static int
layer_op_has(const struct upload_op *op, const char *name)
{
	if (op->kind == UPLOAD_OP_LAYER)
		return strcmp(op->name, name) == 0;
	for (uint32_t i = 0; i < op->ndelete; i++)
		if (strcmp(op->delete_names[i], name) == 0)
			return 1;
	return 0;
}

/* Whether index x and layer operation y touch a common layer. */
static int
index_touches(const struct upload_op *x, const struct upload_op *y)
{
	const struct upload_op_private *p = x->priv;

	if (y->kind == UPLOAD_OP_LAYER)
		return sorted_has(p->touched, p->ntouched, y->name);
	for (uint32_t i = 0; i < y->ndelete; i++)
		if (sorted_has(p->touched, p->ntouched, y->delete_names[i]))
			return 1;
	return 0;
}

/* The conflict relation of upload_queue.h; symmetric. */
static int
conflicts(const struct upload_op *a, const struct upload_op *b)
{
	if (is_fence(a) || is_fence(b))
		return 1;
	if (a->kind == UPLOAD_OP_INDEX && b->kind == UPLOAD_OP_INDEX)
		return 1;
	if (a->kind == UPLOAD_OP_INDEX)
		return index_touches(a, b);
	if (b->kind == UPLOAD_OP_INDEX)
		return index_touches(b, a);
	if (a->kind == UPLOAD_OP_LAYER)
		return layer_op_has(b, a->name);
	for (uint32_t i = 0; i < a->ndelete; i++)
		if (layer_op_has(b, a->delete_names[i]))
			return 1;
	return 0;
}

/* Whether op conflicts with an unfinished operation before `until` (exclusive). */
static int
blocked_before(const struct upload_op *op, const struct upload_op *until,
			   const struct upload_queue *q)
{
	for (const struct upload_op *a = q->head; a != until; a = a->priv->next)
		if (conflicts(a, op))
			return 1;
	return 0;
}

/*
 * op (an index that may start) and the index right after it: drop op
 * if the next one could start were op gone; the survivor takes op's
 * touched set, so what op unnamed still waits for the survivor.
 */
static struct upload_op *
coalesce(struct upload_queue *q, struct upload_op *op)
{
	for (;;)
	{
		struct upload_op *next = op->priv->next;
		name_t	   *u;
		uint32_t	nu;

		if (next == NULL || next->kind != UPLOAD_OP_INDEX || next->priv->inflight ||
			blocked_before(next, op, q))
			return op;
		if (sorted_union(next->priv->touched, next->priv->ntouched, op->priv->touched,
						 op->priv->ntouched, &u, &nu) != 0)
			return op;			/* no memory: upload op as it is */
		free(next->priv->touched);
		next->priv->touched = u;
		next->priv->ntouched = nu;
		next->coalesced += op->coalesced + 1;
		q->coalesced++;
		q->completed++;
		q->nqueued--;
		op_unlink(q, op);
		op_free(op);
		op = next;
	}
}

struct upload_op *
upload_next(struct upload_queue *q)
{
	if (q->state == UPLOAD_BROKEN || q->state == UPLOAD_STOPPED ||
		q->ninflight >= q->cfg.concurrency)
		return NULL;
	for (struct upload_op *op = q->head; op != NULL; op = op->priv->next)
	{
		char		why[UPLOAD_ERROR_MAX - 64];

		if (op->priv->inflight)
			continue;
		if (blocked_before(op, op, q))
		{
			if (is_fence(op))
				return NULL;	/* nothing after it may start either */
			continue;
		}
		if (op->kind == UPLOAD_OP_INDEX)
		{
			op = coalesce(q, op);
			if (validate_index(q, &op->index, op->priv->names, 1, why, sizeof(why)) != 0)
			{
				set_broken(q, "index of operation %llu (disk_consistent_lsn %X/%X) failed its "
						   "check before upload: %s", (unsigned long long) op->id,
						   LSN_ARGS(op->index.disk_consistent_lsn), why);
				return NULL;
			}
		}
		op->priv->inflight = 1;
		q->nqueued--;
		q->ninflight++;
		return op;
	}
	return NULL;
}

void
upload_complete(struct upload_queue *q, struct upload_op *op, int err)
{
	op_unlink(q, op);
	q->ninflight--;
	q->completed++;
	if (err != 0)
		set_broken(q, "operation %llu (%s%s%s) failed: %s", (unsigned long long) op->id,
				   op->kind == UPLOAD_OP_LAYER ? "upload of " :
				   op->kind == UPLOAD_OP_INDEX ? "upload of " :
				   op->kind == UPLOAD_OP_DELETE ? "delete of " : "barrier",
				   op->kind == UPLOAD_OP_DELETE ? op->delete_names[0] : op->name,
				   op->kind == UPLOAD_OP_DELETE && op->ndelete > 1 ? " and more" : "",
				   strata_strerror(err));
	else if (op->kind == UPLOAD_OP_LAYER)
	{
		if (ns_add(&q->remote, op->name) != 0)
			set_broken(q, "out of memory recording the upload of \"%s\"", op->name);
	}
	else if (op->kind == UPLOAD_OP_DELETE)
	{
		for (uint32_t i = 0; i < op->ndelete; i++)
			ns_del(&q->remote, op->delete_names[i]);
	}
	else if (op->kind == UPLOAD_OP_INDEX)
		q->remote_lsn = op->index.disk_consistent_lsn;
	else if (op->kind == UPLOAD_OP_SHUTDOWN && q->state == UPLOAD_STOPPING)
		q->state = UPLOAD_STOPPED;
	op_free(op);
}

enum upload_state
upload_queue_state(const struct upload_queue *q)
{
	return q->state;
}

const char *
upload_state_name(enum upload_state s)
{
	switch (s)
	{
		case UPLOAD_ACTIVE:
			return "active";
		case UPLOAD_STOPPING:
			return "stopping";
		case UPLOAD_STOPPED:
			return "stopped";
		case UPLOAD_BROKEN:
			return "broken";
	}
	return "unknown";
}

const char *
upload_queue_error(const struct upload_queue *q)
{
	return q->error;
}

void
upload_queue_stats(const struct upload_queue *q, struct upload_queue_stats *out)
{
	out->queued = q->nqueued;
	out->inflight = q->ninflight;
	out->scheduled = q->next_id - 1;
	out->completed = q->completed;
	out->coalesced = q->coalesced;
	out->remote_consistent_lsn = q->remote_lsn;
	out->projected_consistent_lsn = q->proj_lsn;
}

int
upload_queue_is_remote(const struct upload_queue *q, const char *name)
{
	return ns_has(&q->remote, name);
}

#ifdef STRATA_TEST_HOOKS
void
upload_queue_test_forget(struct upload_queue *q, const char *name)
{
	ns_del(&q->remote, name);
}
#endif
