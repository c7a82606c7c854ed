/*-------------------------------------------------------------------------
 *
 * loopview.c
 *	  Copies of the page-service loop's state for the API (loopview.h).
 *
 *-------------------------------------------------------------------------
 */
#include "loopview.h"

#include <string.h>

#include "loopcall.h"
#include "timeline.h"

struct take
{
	struct server *srv;
	struct timeline *const *tls;
	uint32_t	n;
	struct loopview_tl *tlv;
	struct loopview_server *sv;
};

/* On the page-service loop's thread. */
static int
take_on_loop(void *arg)
{
	struct take *t = arg;

	for (uint32_t i = 0; i < t->n; i++)
	{
		struct timeline *tl = t->tls[i];
		struct loopview_tl *v = &t->tlv[i];

		memset(v, 0, sizeof(*v));
		if (tl->open)
		{
			v->has_open = 1;
			v->open_lsn_start = tl->open->lsn_start;
			v->open_bytes = tl->open->end;
		}
		v->nforks = tl_nforks(tl);
	}
	if (t->sv)
	{
		t->sv->id = t->srv->id;
		t->sv->owner_start = t->srv->owner_start;
		t->sv->m = t->srv->m;
	}
	return 0;
}

int
loopview_take(struct server *srv, struct timeline *const *tls, uint32_t n,
			  struct loopview_tl *tlv, struct loopview_server *sv)
{
	struct take t = {srv, tls, n, tlv, sv};

	return loopcall_run(srv->calls, take_on_loop, &t);
}
