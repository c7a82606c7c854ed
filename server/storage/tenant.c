/*-------------------------------------------------------------------------
 *
 * tenant.c
 *	  Tenants and the timeline registry (tenant.h).
 *
 *-------------------------------------------------------------------------
 */
#include "tenant.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fio.h"
#include "fsutil.h"
#include "handles.h"
#include "identity.h"
#include "jsonfile.h"
#include "loopcall.h"
#include "slog.h"
#include "strata_err.h"

#define CONFIG_MAGIC	"STRATATC"
#define CONFIG_VERSION	1
#define DELETED_SUFFIX	".deleted"
#define CREATING_SUFFIX	".creating"

/* ---------- tenant config ---------- */

/*
 * The config holds what belongs to the tenant itself (its generation) and
 * the settings set through the API: the GETPAGE throttle and retention
 * ("gc_horizon" bytes, "pitr_interval" seconds; absent: stratad's option).
 */
static int
save_config(struct tenant *t)
{
	char		path[PATH_MAX];
	struct throttle_conf tc;
	json_t	   *o;
	int			err;

	throttle_get_conf(&t->throttle, &tc);
	o = json_pack("{s:s, s:I, s:{s:i, s:i}}", "tenant_id", t->hex,
				  "generation", (json_int_t) t->generation,
				  "getpage_throttle", "rate_per_sec", (int) tc.rate, "burst", (int) tc.burst);
	if (o == NULL)
		return STRATA_ENOMEM;
	if (t->gc_horizon_set >= 0)
		json_object_set_new(o, "gc_horizon", json_integer(t->gc_horizon_set));
	if (t->pitr_set >= 0)
		json_object_set_new(o, "pitr_interval", json_integer(t->pitr_set));
	snprintf(path, sizeof(path), "%s/config", t->dir);
	err = jsonfile_save(path, CONFIG_MAGIC, CONFIG_VERSION, o);
	json_decref(o);
	return err;
}

/* The tenant's retention: its own settings over stratad's defaults. */
static void
apply_retention(struct registry *reg, struct tenant *t)
{
	t->conf.gc_horizon = t->gc_horizon_set >= 0 ? (uint64_t) t->gc_horizon_set :
		reg->default_conf.gc_horizon;
	t->conf.pitr_seconds = t->pitr_set >= 0 ? (uint32_t) t->pitr_set :
		reg->default_conf.pitr_seconds;
	for (uint32_t i = 0; i < t->ntl; i++)
		tl_set_retention(t->tls[i], t->conf.gc_horizon, t->conf.pitr_seconds);
}

/* An optional non-negative integer setting: -1 if absent, -2 if malformed. */
static int64_t
opt_setting(json_t *o, const char *name, int64_t max)
{
	json_t	   *v = json_object_get(o, name);

	if (v == NULL || json_is_null(v))
		return -1;
	if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > max)
		return -2;
	return json_integer_value(v);
}

static int
load_config(struct tenant *t)
{
	char		path[PATH_MAX];
	json_t	   *o;
	json_t	   *g;
	int			err;

	snprintf(path, sizeof(path), "%s/config", t->dir);
	if ((err = jsonfile_load(path, CONFIG_MAGIC, CONFIG_VERSION, &o)) != 0)
		return err;
	g = json_object_get(o, "generation");
	if (!json_is_integer(g) || json_integer_value(g) < 0 || json_integer_value(g) > UINT32_MAX - 1)
	{
		slog(SLOG_ERROR, "\"%s\": bad generation", path);
		json_decref(o);
		return STRATA_ECORRUPT;
	}
	t->generation = (uint32_t) json_integer_value(g);
	{
		json_t	   *th = json_object_get(o, "getpage_throttle");
		struct throttle_conf tc = {0, 1};

		if (json_is_object(th))
		{
			tc.rate = (uint32_t) json_integer_value(json_object_get(th, "rate_per_sec"));
			tc.burst = (uint32_t) json_integer_value(json_object_get(th, "burst"));
			throttle_configure(&t->throttle, &tc);
		}
	}
	t->gc_horizon_set = opt_setting(o, "gc_horizon", INT64_MAX);
	t->pitr_set = opt_setting(o, "pitr_interval", TENANT_PITR_MAX);
	json_decref(o);
	if (t->gc_horizon_set < -1 || t->pitr_set < -1)
	{
		slog(SLOG_ERROR, "\"%s\": bad retention settings", path);
		return STRATA_ECORRUPT;
	}
	return 0;
}

/* ---------- lookups ---------- */

/* reg->lock held, or on the changing thread. */
static struct tenant *
find_tenant(struct registry *reg, const uint8_t id[16])
{
	for (uint32_t i = 0; i < reg->ntenants; i++)
		if (memcmp(reg->tenants[i]->id, id, 16) == 0)
			return reg->tenants[i];
	return NULL;
}

struct tenant *
registry_tenant(struct registry *reg, const uint8_t id[16])
{
	struct tenant *t;

	pthread_mutex_lock(&reg->lock);
	t = find_tenant(reg, id);
	pthread_mutex_unlock(&reg->lock);
	return t;
}

static struct timeline *
tenant_timeline(struct tenant *t, const uint8_t id[16])
{
	for (uint32_t i = 0; i < t->ntl; i++)
		if (memcmp(t->tls[i]->id, id, 16) == 0)
			return t->tls[i];
	return NULL;
}

struct timeline *
registry_timeline(struct registry *reg, const uint8_t tenant[16], const uint8_t timeline[16])
{
	struct tenant *t;
	struct timeline *tl = NULL;

	pthread_mutex_lock(&reg->lock);
	t = find_tenant(reg, tenant);
	if (t && t->state == TENANT_ACTIVE)
		tl = tenant_timeline(t, timeline);
	pthread_mutex_unlock(&reg->lock);
	return tl;
}

static void
set_tenant_state(struct registry *reg, struct tenant *t, enum tenant_state state)
{
	pthread_mutex_lock(&reg->lock);
	t->state = state;
	pthread_mutex_unlock(&reg->lock);
}

static int
add_timeline(struct registry *reg, struct tenant *t, struct timeline *tl)
{
	struct timeline **a;

	pthread_mutex_lock(&reg->lock);
	a = realloc(t->tls, (t->ntl + 1) * sizeof(*a));
	if (a)
	{
		a[t->ntl++] = tl;
		t->tls = a;
	}
	pthread_mutex_unlock(&reg->lock);
	return a ? 0 : STRATA_ENOMEM;
}

/* ---------- loading ---------- */

static int
has_suffix(const char *name, const char *suffix)
{
	size_t		n = strlen(name);

	return n > strlen(suffix) && strcmp(name + n - strlen(suffix), suffix) == 0;
}

/* Leftovers of a deletion or a creation that did not finish. */
static void
remove_leftover(const char *dir, const char *name)
{
	char		path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (has_suffix(name, DELETED_SUFFIX))
		slog(SLOG_INFO, "removing \"%s\", deleted before the last stop", path);
	else if (has_suffix(name, CREATING_SUFFIX))
		slog(SLOG_INFO, "removing \"%s\", whose creation did not finish", path);
	else
		return;
	(void) fs_remove_tree(path);
}

/*
 * Versions before tenants were created by rename could stop between
 * making a tenant's directory and writing its config.  Such a tenant has
 * no timeline (one needs the config first), so nothing of it was ever
 * acknowledged: it is removed.  A tenant without a config that has
 * timelines is damage, left for load_config() to report.
 */
static int
interrupted_creation(struct tenant *t)
{
	char		path[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	int			empty = 1;

	snprintf(path, sizeof(path), "%s/config", t->dir);
	if (access(path, F_OK) == 0 || errno != ENOENT)
		return 0;
	snprintf(path, sizeof(path), "%s/timelines", t->dir);
	if ((d = opendir(path)) != NULL)
	{
		while ((de = readdir(d)) != NULL && empty)
			empty = de->d_name[0] == '.';
		closedir(d);
	}
	else if (errno != ENOENT)
		return 0;
	if (!empty)
		return 0;
	slog(SLOG_WARNING, "tenant %s has no config and no timeline: its creation was interrupted; "
		 "removing it", t->hex);
	(void) fs_remove_tree(t->dir);
	return 1;
}

static int
load_timelines(struct registry *reg, struct tenant *t)
{
	char		dir[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	uint8_t   (*ids)[16] = NULL;
	uint32_t	n = 0;
	int			progress = 1;
	int			err = 0;

	snprintf(dir, sizeof(dir), "%s/timelines", t->dir);
	if ((d = opendir(dir)) == NULL)
	{
		slog(SLOG_ERROR, "could not open \"%s\": %m", dir);
		return STRATA_EIO;
	}
	while ((de = readdir(d)) != NULL)
	{
		uint8_t		id[16];
		void	   *na;

		if (de->d_name[0] == '.')
			continue;
		if (identity_parse_hex(de->d_name, id) != 0)
		{
			remove_leftover(dir, de->d_name);
			continue;
		}
		if ((na = realloc(ids, (n + 1) * sizeof(*ids))) == NULL)
		{
			err = STRATA_ENOMEM;
			break;
		}
		ids = na;
		memcpy(ids[n++], id, 16);
	}
	closedir(d);
	/* ancestors first: load whatever has its ancestor loaded, until done */
	while (err == 0 && n > 0 && progress)
	{
		progress = 0;
		for (uint32_t i = 0; i < n && err == 0; i++)
		{
			char		path[PATH_MAX];
			char		hex[33];
			int			has_anc;
			uint8_t		anc[16];
			lsn_t		anc_lsn;
			struct timeline *parent = NULL;
			struct timeline *tl;

			identity_hex(ids[i], hex);
			snprintf(path, sizeof(path), "%s/%s", dir, hex);
			if ((err = tl_read_ancestry(path, &has_anc, anc, &anc_lsn)) != 0)
			{
				slog(SLOG_ERROR, "tenant %s: timeline %s has no readable manifest", t->hex, hex);
				break;
			}
			if (has_anc && (parent = tenant_timeline(t, anc)) == NULL)
				continue;
			if ((err = tl_load(path, t->id, ids[i], parent, t->generation, &t->conf, reg->base,
							   &tl)) != 0)
				break;
			tl->throttle = &t->throttle;
			if ((err = add_timeline(reg, t, tl)) != 0)
			{
				tl_shutdown(tl, 0);
				break;
			}
			memmove(ids[i], ids[n - 1], 16);
			n--;
			i--;
			progress = 1;
		}
	}
	if (err == 0 && n > 0)
	{
		slog(SLOG_ERROR, "tenant %s: %u timelines have a missing ancestor", t->hex, n);
		err = STRATA_ECORRUPT;
	}
	/* every branch point is registered now */
	for (uint32_t i = 0; err == 0 && i < t->ntl; i++)
		tl_allow_gc(t->tls[i]);
	free(ids);
	return err;
}

static struct tenant *
tenant_alloc(struct registry *reg, const uint8_t id[16])
{
	struct tenant *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	memcpy(t->id, id, 16);
	identity_hex(id, t->hex);
	snprintf(t->dir, sizeof(t->dir), "%s/tenants/%s", reg->datadir, t->hex);
	t->conf = reg->default_conf;
	t->gc_horizon_set = -1;
	t->pitr_set = -1;
	t->state = TENANT_ACTIVE;
	throttle_init(&t->throttle);
	return t;
}

static int
add_tenant(struct registry *reg, struct tenant *t)
{
	struct tenant **a;

	pthread_mutex_lock(&reg->lock);
	a = realloc(reg->tenants, (reg->ntenants + 1) * sizeof(*a));
	if (a)
	{
		a[reg->ntenants++] = t;
		reg->tenants = a;
	}
	pthread_mutex_unlock(&reg->lock);
	return a ? 0 : STRATA_ENOMEM;
}

int
registry_open(const char *datadir, struct event_base *base, const struct tl_conf *default_conf,
			  struct registry **out)
{
	struct registry *reg = calloc(1, sizeof(*reg));
	char		dir[PATH_MAX];
	DIR		   *d;
	struct dirent *de;
	int			err = 0;

	if (reg == NULL)
		return STRATA_ENOMEM;
	snprintf(reg->datadir, sizeof(reg->datadir), "%s", datadir);
	reg->base = base;
	reg->default_conf = *default_conf;
	pthread_mutex_init(&reg->lock, NULL);
	snprintf(dir, sizeof(dir), "%s/tenants", datadir);
	if (fio_mkdir(dir, 0700) != 0 && errno != EEXIST)
	{
		slog(SLOG_ERROR, "could not create \"%s\": %m", dir);
		free(reg);
		return STRATA_EIO;
	}
	if ((d = opendir(dir)) == NULL)
	{
		slog(SLOG_ERROR, "could not open \"%s\": %m", dir);
		free(reg);
		return STRATA_EIO;
	}
	while (err == 0 && (de = readdir(d)) != NULL)
	{
		uint8_t		id[16];
		struct tenant *t;

		if (de->d_name[0] == '.')
			continue;
		if (identity_parse_hex(de->d_name, id) != 0)
		{
			remove_leftover(dir, de->d_name);
			continue;
		}
		if ((t = tenant_alloc(reg, id)) == NULL)
		{
			err = STRATA_ENOMEM;
			break;
		}
		if (interrupted_creation(t))
		{
			free(t);
			continue;
		}
		if ((err = load_config(t)) == 0)
		{
			apply_retention(reg, t);
			/* every start is a new attachment (ARCHITECTURE.md 5.5) */
			t->generation++;
			err = save_config(t);
		}
		if (err == 0)
			err = add_tenant(reg, t);
		else
			free(t);
		if (err == 0)
			err = load_timelines(reg, t);
	}
	closedir(d);
	if (err != 0)
	{
		registry_close(reg, 1);
		return err;
	}
	*out = reg;
	return 0;
}

/* ---------- shutdown ---------- */

static int
has_children(struct tenant *t, struct timeline *tl)
{
	for (uint32_t i = 0; i < t->ntl; i++)
		if (t->tls[i]->ancestor == tl)
			return 1;
	return 0;
}

static void
remove_timeline_entry(struct registry *reg, struct tenant *t, struct timeline *tl)
{
	pthread_mutex_lock(&reg->lock);
	for (uint32_t i = 0; i < t->ntl; i++)
		if (t->tls[i] == tl)
		{
			t->tls[i] = t->tls[--t->ntl];
			break;
		}
	pthread_mutex_unlock(&reg->lock);
}

/*
 * On the page-service loop's thread (or with no loop running): its users
 * there go first, then it leaves the arrays, all in one step of the loop,
 * so a lookup on the loop never finds a timeline that is stopping.
 */
static void
stop_timeline(struct registry *reg, struct tenant *t, struct timeline *tl, int cancel, int finish)
{
	if (reg->on_tl_stop)
		reg->on_tl_stop(tl, reg->on_tl_stop_arg);
	remove_timeline_entry(reg, t, tl);
	handles_invalidate(tl);
	/* its branch point stays until its files are gone (registry_delete_timeline) */
	tl_stop_begin(tl);
	if (finish)
		tl_stop_finish(tl, cancel);
}

struct stop_call
{
	struct registry *reg;
	struct tenant *t;
	struct timeline *tl;
};

/* On the loop: the step that takes tl off it, which never waits. */
static int
stop_timeline_call(void *arg)
{
	struct stop_call *c = arg;

	stop_timeline(c->reg, c->t, c->tl, 1, 0);
	return 0;
}

/*
 * Stop and cancel tl: off its loop there, then the waiting (drain, join,
 * sync) here, on the caller's thread.  STRATA_ESHUTDOWN if that loop is
 * gone.
 */
static int
stop_timeline_on_loop(struct registry *reg, struct tenant *t, struct timeline *tl)
{
	struct stop_call c = {reg, t, tl};
	int			err;

	if (reg->loop == NULL)
		err = stop_timeline_call(&c);
	else
		err = loopcall_run(reg->loop, stop_timeline_call, &c);
	if (err == 0)
		tl_stop_finish(tl, 1);
	return err;
}

/* Children before parents. */
static void
stop_tenant_timelines(struct registry *reg, struct tenant *t, int cancel)
{
	while (t->ntl > 0)
	{
		for (uint32_t i = 0; i < t->ntl; i++)
			if (!has_children(t, t->tls[i]))
			{
				stop_timeline(reg, t, t->tls[i], cancel, 1);
				break;
			}
	}
}

void
registry_close(struct registry *reg, int cancel)
{
	for (uint32_t i = 0; i < reg->ntenants; i++)
	{
		set_tenant_state(reg, reg->tenants[i], TENANT_STOPPING);
		stop_tenant_timelines(reg, reg->tenants[i], cancel);
		free(reg->tenants[i]->tls);
		throttle_destroy(&reg->tenants[i]->throttle);
		free(reg->tenants[i]);
	}
	free(reg->tenants);
	pthread_mutex_destroy(&reg->lock);
	free(reg);
}

/* ---------- changes ---------- */

int
registry_create_tenant(struct registry *reg, const uint8_t id[16], struct tenant **out)
{
	struct tenant *t;
	char		final[PATH_MAX];
	char		tenants[PATH_MAX];
	char		dir[PATH_MAX + 16];
	int			err;

	if (find_tenant(reg, id))
		return STRATA_EEXIST;
	if ((t = tenant_alloc(reg, id)) == NULL)
		return STRATA_ENOMEM;
	t->generation = 1;

	/*
	 * Built complete under "<hex>.creating", then renamed: a crash or a
	 * failed write at any step leaves either no tenant or a whole one
	 * (a leftover .creating is removed at the next start).
	 */
	snprintf(final, sizeof(final), "%s", t->dir);
	snprintf(tenants, sizeof(tenants), "%s/tenants", reg->datadir);
	snprintf(t->dir, sizeof(t->dir), "%s%s", final, CREATING_SUFFIX);
	(void) fs_remove_tree(t->dir);
	snprintf(dir, sizeof(dir), "%s/timelines", t->dir);
	if (fio_mkdir(t->dir, 0700) != 0 || fio_mkdir(dir, 0700) != 0)
	{
		err = errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
		slog(SLOG_ERROR, "could not create tenant directory \"%s\": %m", t->dir);
		goto fail;
	}
	if ((err = save_config(t)) != 0 || (err = fs_fsync_dir(t->dir)) != 0)
		goto fail;
	if (fio_rename(t->dir, final) != 0)
	{
		err = errno == ENOSPC ? STRATA_ENOSPC : STRATA_EIO;
		slog(SLOG_ERROR, "could not rename \"%s\" to \"%s\": %m", t->dir, final);
		goto fail;
	}
	snprintf(t->dir, sizeof(t->dir), "%s", final);
	if ((err = fs_fsync_dir(tenants)) != 0 || (err = add_tenant(reg, t)) != 0)
		goto fail;
	slog(SLOG_INFO, "created tenant %s", t->hex);
	if (out)
		*out = t;
	return 0;

fail:
	(void) fs_remove_tree(t->dir);
	free(t);
	return err;
}

/* Rename a directory to "<dir>.deleted" durably, then remove it. */
static int
delete_dir(const char *dir, const char *parent)
{
	char		gone[PATH_MAX + 16];
	int			err;

	snprintf(gone, sizeof(gone), "%s%s", dir, DELETED_SUFFIX);
	if (fio_rename(dir, gone) != 0)
	{
		slog(SLOG_ERROR, "could not rename \"%s\": %m", dir);
		return STRATA_EIO;
	}
	if ((err = fs_fsync_dir(parent)) != 0)
		return err;
	if (strstr(dir, "/timelines/"))
		return tl_remove_dir(gone);
	/* a tenant: its timelines were removed already */
	{
		char		tls[PATH_MAX + 32];
		char		cfg[PATH_MAX + 32];

		snprintf(tls, sizeof(tls), "%s/timelines", gone);
		snprintf(cfg, sizeof(cfg), "%s/config", gone);
		(void) fio_rmdir(tls);
		(void) fio_unlink(cfg);
		if (fio_rmdir(gone) != 0)
		{
			slog(SLOG_WARNING, "could not remove \"%s\": %m", gone);
			return STRATA_EIO;
		}
	}
	return 0;
}

int
registry_delete_timeline(struct registry *reg, struct tenant *t, const uint8_t id[16])
{
	struct timeline *tl = tenant_timeline(t, id);
	struct timeline *anc;
	lsn_t		anc_lsn = 0;
	char		dir[PATH_MAX];
	char		parent[PATH_MAX];
	int			err;

	if (tl == NULL)
		return STRATA_ENOTFOUND;
	if (has_children(t, tl))
		return STRATA_EBUSY;
	snprintf(dir, sizeof(dir), "%s", tl->dir);
	snprintf(parent, sizeof(parent), "%s/timelines", t->dir);
	if ((anc = tl->ancestor) != NULL)
	{
		tl_ref(anc);
		anc_lsn = tl->ancestor_lsn;
	}
	if ((err = stop_timeline_on_loop(reg, t, tl)) != 0)
	{
		if (anc)
			tl_unref(anc);
		return err;
	}
	slog(SLOG_INFO, "deleted timeline %s of tenant %s", dir + strlen(parent) + 1, t->hex);
	err = delete_dir(dir, parent);
	if (anc)
	{
		/* only now may the parent's GC drop what the branch point needed */
		if (err == 0)
			tl_remove_branch(anc, anc_lsn);
		tl_unref(anc);
	}
	return err;
}

int
registry_delete_tenant(struct registry *reg, const uint8_t id[16])
{
	struct tenant *t = find_tenant(reg, id);
	char		parent[PATH_MAX];
	int			err = 0;

	if (t == NULL)
		return STRATA_ENOTFOUND;
	set_tenant_state(reg, t, TENANT_STOPPING);
	while (t->ntl > 0 && err == 0)
	{
		for (uint32_t i = 0; i < t->ntl; i++)
			if (!has_children(t, t->tls[i]))
			{
				err = registry_delete_timeline(reg, t, t->tls[i]->id);
				break;
			}
	}
	/* running timelines keep pointers into it: registry_close stops them */
	if (t->ntl > 0)
		return err;
	pthread_mutex_lock(&reg->lock);
	for (uint32_t i = 0; i < reg->ntenants; i++)
		if (reg->tenants[i] == t)
		{
			reg->tenants[i] = reg->tenants[--reg->ntenants];
			break;
		}
	pthread_mutex_unlock(&reg->lock);
	snprintf(parent, sizeof(parent), "%s/tenants", reg->datadir);
	if (err == 0)
		err = delete_dir(t->dir, parent);
	slog(SLOG_INFO, "deleted tenant %s", t->hex);
	free(t->tls);
	throttle_destroy(&t->throttle);
	free(t);
	return err;
}

int
registry_check_branch(struct registry *reg, struct tenant *t, const uint8_t id[16],
					  const uint8_t *ancestor_id, lsn_t *ancestor_lsn, struct timeline **ancestor)
{
	struct timeline *parent;
	lsn_t		last;

	(void) reg;
	*ancestor = NULL;
	if (t->state != TENANT_ACTIVE)
		return STRATA_ESHUTDOWN;
	if (tenant_timeline(t, id))
		return STRATA_EEXIST;
	if (ancestor_id == NULL)
		return 0;
	if ((parent = tenant_timeline(t, ancestor_id)) == NULL)
		return STRATA_ENOTFOUND;
	last = atomic_load(&parent->last_record_lsn);
	if (*ancestor_lsn == LSN_INVALID)
		*ancestor_lsn = last;
	if (*ancestor_lsn > last || *ancestor_lsn < tl_gc_cutoff(parent))
		return STRATA_EINVAL;
	*ancestor = parent;
	return 0;
}

int
registry_create_timeline(struct registry *reg, struct tenant *t, const uint8_t id[16],
						 const uint8_t *ancestor_id, lsn_t ancestor_lsn, struct timeline **out)
{
	struct timeline *parent;
	struct timeline *tl;
	char		dir[PATH_MAX];
	char		hex[33];
	int			err;

	if ((err = registry_check_branch(reg, t, id, ancestor_id, &ancestor_lsn, &parent)) != 0)
		return err;
	/* the branch point's history must be in the parent's layers (see tenant.h) */
	if (parent && reg->base == NULL && (err = tl_checkpoint(parent)) != 0)
		return err;
	identity_hex(id, hex);
	snprintf(dir, sizeof(dir), "%s/timelines/%s", t->dir, hex);
	if ((err = tl_create(dir, t->id, id, parent, ancestor_lsn, t->generation, &t->conf,
						 reg->base, &tl)) != 0)
		return err;
	tl->throttle = &t->throttle;
	if ((err = add_timeline(reg, t, tl)) != 0)
	{
		tl_shutdown(tl, 1);
		return err;
	}
	slog(SLOG_INFO, "created timeline %s of tenant %s%s", hex, t->hex,
		 parent ? " as a branch" : "");
	if (out)
		*out = tl;
	return 0;
}

int
registry_set_throttle(struct registry *reg, struct tenant *t, const struct throttle_conf *c)
{
	(void) reg;
	throttle_configure(&t->throttle, c);
	slog(SLOG_INFO, "tenant %s: GETPAGE throttle %s (%u/s, burst %u)", t->hex,
		 c->rate ? "on" : "off", c->rate, c->burst);
	return save_config(t);
}

int
registry_set_retention(struct registry *reg, struct tenant *t, int64_t gc_horizon,
					   int64_t pitr_seconds)
{
	t->gc_horizon_set = gc_horizon;
	t->pitr_set = pitr_seconds;
	apply_retention(reg, t);
	slog(SLOG_INFO, "tenant %s: retention gc_horizon=%llu pitr_interval=%us", t->hex,
		 (unsigned long long) t->conf.gc_horizon, t->conf.pitr_seconds);
	return save_config(t);
}

int
registry_sync_all(struct registry *reg)
{
	struct timeline **tls = NULL;
	uint32_t	n = 0;
	int			err = 0;

	/* refs under the lock; the syncs outside it */
	pthread_mutex_lock(&reg->lock);
	for (uint32_t i = 0; i < reg->ntenants; i++)
		n += reg->tenants[i]->ntl;
	tls = malloc((n ? n : 1) * sizeof(*tls));
	n = 0;
	for (uint32_t i = 0; tls && i < reg->ntenants; i++)
		for (uint32_t j = 0; j < reg->tenants[i]->ntl; j++)
		{
			tl_ref(reg->tenants[i]->tls[j]);
			tls[n++] = reg->tenants[i]->tls[j];
		}
	pthread_mutex_unlock(&reg->lock);
	if (tls == NULL)
		return STRATA_ENOMEM;
	for (uint32_t i = 0; i < n; i++)
	{
		int			e = tl_sync(tls[i]);

		if (e != 0 && err == 0)
			err = e;
		tl_unref(tls[i]);
	}
	free(tls);
	return err;
}

int
registry_ensure_timeline(struct registry *reg, const uint8_t tenant[16], const uint8_t timeline[16])
{
	struct tenant *t = find_tenant(reg, tenant);
	int			err;

	if (t == NULL && (err = registry_create_tenant(reg, tenant, &t)) != 0)
		return err;
	if (registry_timeline(reg, tenant, timeline) == NULL &&
		(err = registry_create_timeline(reg, t, timeline, NULL, LSN_INVALID, NULL)) != 0)
		return err;
	return 0;
}
