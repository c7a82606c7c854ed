/*-------------------------------------------------------------------------
 *
 * lsntime.c
 *	  The LSN-by-time map of a timeline (lsntime.h).
 *
 *-------------------------------------------------------------------------
 */
#include "lsntime.h"

#include <string.h>

#include "strata_err.h"

void
lsntime_init(struct lsntime *m)
{
	m->n = 0;
	m->spacing = 1;
}

/* Full: keep every other sample (the newest always), double the spacing. */
static void
thin(struct lsntime *m)
{
	uint32_t	k = 0;

	for (uint32_t i = m->n % 2 == 0 ? 1 : 0; i < m->n; i += 2)
		m->s[k++] = m->s[i];
	m->n = k;
	/* a spacing past 68 years is a loaded one gone strange: keep it */
	if (m->spacing <= UINT32_MAX / 2)
		m->spacing *= 2;
}

void
lsntime_note(struct lsntime *m, int64_t t, lsn_t lsn)
{
	struct lsntime_sample *last = m->n > 0 ? &m->s[m->n - 1] : NULL;

	/* LSNs only grow; a clock that stepped back adds nothing */
	if (lsn == LSN_INVALID || (last && (lsn <= last->lsn || t < last->t)))
		return;
	if (last && t == last->t)
	{
		last->lsn = lsn;
		return;
	}
	/*
	 * Within the spacing of the previous sample the newest one moves up to
	 * (t, lsn): still true (the timeline had reached lsn at t), and the
	 * map stays exact near now, where lookups happen.
	 */
	if (last && m->n > 1 && t - m->s[m->n - 2].t < (int64_t) m->spacing)
	{
		last->t = t;
		last->lsn = lsn;
		return;
	}
	if (m->n == LSNTIME_MAX)
		thin(m);
	m->s[m->n].t = t;
	m->s[m->n].lsn = lsn;
	m->n++;
}

lsn_t
lsntime_lsn_at(const struct lsntime *m, int64_t t)
{
	uint32_t	lo = 0,
				hi = m->n;

	/* the first sample younger than t */
	while (lo < hi)
	{
		uint32_t	mid = lo + (hi - lo) / 2;

		if (m->s[mid].t <= t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo == 0 ? LSN_INVALID : m->s[lo - 1].lsn;
}

json_t *
lsntime_to_json(const struct lsntime *m, lsn_t max_lsn)
{
	json_t	   *a = json_array();

	if (a == NULL)
		return NULL;
	for (uint32_t i = 0; i < m->n && m->s[i].lsn <= max_lsn; i++)
	{
		char		buf[LSN_STRLEN];

		if (json_array_append_new(a, json_pack("[I, s]", (json_int_t) m->s[i].t,
											   lsn_format(m->s[i].lsn, buf))) != 0)
		{
			json_decref(a);
			return NULL;
		}
	}
	return a;
}

int
lsntime_from_json(struct lsntime *m, const json_t *a)
{
	size_t		n;

	lsntime_init(m);
	if (a == NULL)
		return 0;
	if (!json_is_array(a) || (n = json_array_size(a)) > LSNTIME_MAX)
		return STRATA_ECORRUPT;
	for (size_t i = 0; i < n; i++)
	{
		const json_t *e = json_array_get(a, i);
		const char *ls = json_string_value(json_array_get(e, 1));
		lsn_t		lsn;

		/*
		 * Times are unix seconds noted from the clock, never before 1970:
		 * refusing negative ones keeps every difference of two samples
		 * (here and in lsntime_note) within int64_t.
		 */
		if (!json_is_array(e) || json_array_size(e) != 2 ||
			!json_is_integer(json_array_get(e, 0)) || json_integer_value(json_array_get(e, 0)) < 0 ||
			ls == NULL || lsn_parse(ls, &lsn) != 0)
			goto bad;
		m->s[i].t = json_integer_value(json_array_get(e, 0));
		m->s[i].lsn = lsn;
		if (i > 0 && (m->s[i].t <= m->s[i - 1].t || m->s[i].lsn <= m->s[i - 1].lsn))
			goto bad;
		m->n = (uint32_t) i + 1;
	}
	/*
	 * The spacing is not saved: it is at least what the saved density
	 * shows.  It is a uint32_t: doubling it past UINT32_MAX / 2 would wrap
	 * to 0, and 0 <= any gap would loop for ever (a manifest whose samples
	 * lie 2^32 seconds apart did).
	 */
	while (m->n > 1 && m->spacing <= UINT32_MAX / 2 && (int64_t) m->spacing * 2 <=
		   (m->s[m->n - 1].t - m->s[0].t) / (int64_t) (m->n - 1))
		m->spacing *= 2;
	return 0;
bad:
	lsntime_init(m);
	return STRATA_ECORRUPT;
}
