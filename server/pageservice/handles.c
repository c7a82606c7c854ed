/*-------------------------------------------------------------------------
 *
 * handles.c
 *	  Weak timeline handles (see handles.h).
 *
 *-------------------------------------------------------------------------
 */
#include "handles.h"

#include <stdlib.h>
#include <string.h>

#include "timeline.h"

void
hcache_init(struct hcache *c)
{
	memset(c, 0, sizeof(*c));
}

static void
unlink_handle(struct tl_handle *h)
{
	if (h->tl == NULL)
		return;
	if (h->prev)
		h->prev->next = h->next;
	else
		h->tl->handles = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->tl = NULL;
	h->prev = h->next = NULL;
}

struct tl_handle *
hcache_get(struct hcache *c, struct timeline *tl)
{
	struct tl_handle *h;

	if (c->shut)
		return NULL;
	for (int i = 0; i < c->n; i++)
		if (c->h[i]->tl == tl)
			return c->h[i];
	/* reuse an entry whose timeline stopped */
	for (int i = 0; i < c->n; i++)
		if (c->h[i]->tl == NULL)
		{
			free(c->h[i]);
			c->h[i] = c->h[--c->n];
			break;
		}
	if (c->n == HCACHE_MAX || (h = calloc(1, sizeof(*h))) == NULL)
		return NULL;
	h->tl = tl;
	memcpy(h->tenant_id, tl->tenant_id, 16);
	memcpy(h->timeline_id, tl->id, 16);
	h->next = tl->handles;
	if (tl->handles)
		tl->handles->prev = h;
	tl->handles = h;
	c->h[c->n++] = h;
	return h;
}

int
handle_alive(const struct tl_handle *h)
{
	enum tl_state st;

	if (h == NULL || h->tl == NULL)
		return 0;
	st = atomic_load(&h->tl->state);
	return st == TL_ACTIVE || st == TL_BROKEN;
}

struct timeline *
handle_upgrade(struct tl_handle *h)
{
	if (!handle_alive(h))
		return NULL;
	tl_ref(h->tl);
	return h->tl;
}

void
hcache_shutdown(struct hcache *c)
{
	if (c->shut)
		return;
	c->shut = 1;
	for (int i = 0; i < c->n; i++)
	{
		unlink_handle(c->h[i]);
		free(c->h[i]);
	}
	c->n = 0;
}

void
handles_invalidate(struct timeline *tl)
{
	while (tl->handles)
		unlink_handle(tl->handles);
}
