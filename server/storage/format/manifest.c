/*-------------------------------------------------------------------------
 *
 * manifest.c
 *	  Loading, validating and publishing timeline manifests (manifest.h).
 *
 *-------------------------------------------------------------------------
 */
#include "manifest.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "fio.h"
#include "fsutil.h"
#include "identity.h"
#include "jsonfile.h"
#include "slog.h"
#include "strata_err.h"

#define MF_MAGIC	"STRATAMF"
#define MF_VERSION	1

static json_t *
lsn_json(lsn_t lsn)
{
	char		buf[LSN_STRLEN];

	return json_string(lsn_format(lsn, buf));
}

static int
json_lsn(json_t *o, const char *field, lsn_t *out)
{
	const char *s = json_string_value(json_object_get(o, field));

	return s && lsn_parse(s, out) == 0 ? 0 : STRATA_ECORRUPT;
}

static int
json_id(json_t *o, const char *field, uint8_t id[16])
{
	return identity_parse_hex(json_string_value(json_object_get(o, field)), id) == 0
		? 0 : STRATA_ECORRUPT;
}

void
manifest_free(struct manifest *m)
{
	free(m->layers);
	m->layers = NULL;
	m->nlayers = 0;
}

int
manifest_validate(const struct manifest *m)
{
	for (uint32_t i = 0; i < m->nlayers; i++)
	{
		struct layer_desc d;

		if (layer_parse_name(m->layers[i].name, &d) != 0)
		{
			slog(SLOG_ERROR, "manifest: \"%s\" is not a layer file name", m->layers[i].name);
			return STRATA_EINVAL;
		}
		if (d.lsn_end > m->disk_consistent_lsn)
		{
			slog(SLOG_ERROR, "manifest: layer \"%s\" reaches past disk_consistent_lsn",
				 m->layers[i].name);
			return STRATA_EINVAL;
		}
		if (d.generation > m->generation)
		{
			slog(SLOG_ERROR, "manifest: layer \"%s\" has a future generation", m->layers[i].name);
			return STRATA_EINVAL;
		}
	}
	if (!m->has_ancestor && m->nlayers == 0 && m->disk_consistent_lsn != 0)
	{
		slog(SLOG_ERROR, "manifest: no ancestor and no layers, but disk_consistent_lsn is set");
		return STRATA_EINVAL;
	}
	return 0;
}

int
manifest_save(const char *dir, const struct manifest *m)
{
	char		path[PATH_MAX];
	char		hex[IDENTITY_HEX_LEN];
	json_t	   *o;
	json_t	   *layers;
	json_t	   *a;
	int			err;

	if ((err = manifest_validate(m)) != 0)
		return err;
	if ((o = json_object()) == NULL || (layers = json_array()) == NULL)
	{
		json_decref(o);
		return STRATA_ENOMEM;
	}
	identity_hex(m->tenant, hex);
	json_object_set_new(o, "tenant_id", json_string(hex));
	identity_hex(m->timeline, hex);
	json_object_set_new(o, "timeline_id", json_string(hex));
	if (m->has_ancestor)
	{
		identity_hex(m->ancestor, hex);
		json_object_set_new(o, "ancestor_timeline_id", json_string(hex));
	}
	else
		json_object_set_new(o, "ancestor_timeline_id", json_null());
	json_object_set_new(o, "ancestor_lsn", lsn_json(m->ancestor_lsn));
	json_object_set_new(o, "disk_consistent_lsn", lsn_json(m->disk_consistent_lsn));
	json_object_set_new(o, "gc_cutoff", lsn_json(m->gc_cutoff));
	json_object_set_new(o, "generation", json_integer(m->generation));
	json_object_set_new(o, "state", json_string(m->deleting ? "deleting" : "active"));
	for (uint32_t i = 0; i < m->nlayers; i++)
		json_array_append_new(layers, json_pack("{s:s, s:I}", "name", m->layers[i].name,
												"size", (json_int_t) m->layers[i].size));
	json_object_set_new(o, "layers", layers);
	if ((a = lsntime_to_json(&m->lsntime, m->disk_consistent_lsn)) == NULL)
	{
		json_decref(o);
		return STRATA_ENOMEM;
	}
	json_object_set_new(o, "lsn_by_time", a);
	snprintf(path, sizeof(path), "%s/manifest", dir);
	fio_kill_point("manifest-write");
	err = jsonfile_save(path, MF_MAGIC, MF_VERSION, o);
	json_decref(o);
	return err;
}

int
manifest_load(const char *dir, struct manifest *m)
{
	char		path[PATH_MAX];
	json_t	   *o = NULL;
	json_t	   *layers;
	int			err;

	memset(m, 0, sizeof(*m));
	snprintf(path, sizeof(path), "%s/manifest", dir);
	if ((err = jsonfile_load(path, MF_MAGIC, MF_VERSION, &o)) != 0)
		return err;
	err = STRATA_ECORRUPT;
	if (json_id(o, "tenant_id", m->tenant) != 0 || json_id(o, "timeline_id", m->timeline) != 0 ||
		json_lsn(o, "ancestor_lsn", &m->ancestor_lsn) != 0 ||
		json_lsn(o, "disk_consistent_lsn", &m->disk_consistent_lsn) != 0 ||
		json_lsn(o, "gc_cutoff", &m->gc_cutoff) != 0 ||
		!json_is_integer(json_object_get(o, "generation")) ||
		!json_is_array(layers = json_object_get(o, "layers")))
	{
		slog(SLOG_ERROR, "manifest \"%s\": malformed content", path);
		goto out;
	}
	if (json_is_string(json_object_get(o, "ancestor_timeline_id")))
	{
		if (json_id(o, "ancestor_timeline_id", m->ancestor) != 0)
		{
			slog(SLOG_ERROR, "manifest \"%s\": bad ancestor_timeline_id", path);
			goto out;
		}
		m->has_ancestor = 1;
	}
	m->generation = (uint32_t) json_integer_value(json_object_get(o, "generation"));
	m->deleting = json_string_value(json_object_get(o, "state")) &&
		strcmp(json_string_value(json_object_get(o, "state")), "deleting") == 0;
	m->nlayers = (uint32_t) json_array_size(layers);
	m->layers = calloc(m->nlayers ? m->nlayers : 1, sizeof(*m->layers));
	if (m->layers == NULL)
	{
		err = STRATA_ENOMEM;
		goto out;
	}
	for (uint32_t i = 0; i < m->nlayers; i++)
	{
		json_t	   *l = json_array_get(layers, i);
		const char *name = json_string_value(json_object_get(l, "name"));

		if (name == NULL || strlen(name) >= MANIFEST_NAME_MAX ||
			!json_is_integer(json_object_get(l, "size")))
		{
			slog(SLOG_ERROR, "manifest \"%s\": malformed layer entry %u", path, i);
			goto out;
		}
		strcpy(m->layers[i].name, name);
		m->layers[i].size = (uint64_t) json_integer_value(json_object_get(l, "size"));
	}
	if (lsntime_from_json(&m->lsntime, json_object_get(o, "lsn_by_time")) != 0)
	{
		slog(SLOG_ERROR, "manifest \"%s\": malformed lsn_by_time", path);
		goto out;
	}
	if (manifest_validate(m) != 0)
	{
		slog(SLOG_ERROR, "manifest \"%s\" is not valid", path);
		goto out;
	}
	err = 0;
out:
	if (err != 0)
		manifest_free(m);
	json_decref(o);
	return err;
}
