/*-------------------------------------------------------------------------
 *
 * bufwriter.c
 *	  Double-buffered append writer with a background flush thread
 *	  (see bufwriter.h).
 *
 *-------------------------------------------------------------------------
 */
#include "bufwriter.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fio.h"
#include "fsutil.h"
#include "slog.h"
#include "strata_err.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	10000

struct bufwriter
{
	int			fd;
	char		name[256];
	uint8_t    *ring;			/* 2 x bufsize: the two buffers */
	size_t		ringsize;
	bw_notify_fn notify;
	void	   *arg;
	pthread_t	thread;

	/* writer thread only */
	uint64_t	base;			/* file offset of the first append */
	uint64_t	appended;		/* end of appended data */

	pthread_mutex_t mu;			/* protects the fields below */
	pthread_cond_t cv;
	uint64_t	submitted;		/* end of the range handed over (the channel) */
	int			stopping;		/* 1: drain and exit, 2: cancel */
	int			fail_n;			/* tests: fail this many attempts ... */
	int			fail_errno;		/* ... with this errno */
	int			attempts;		/* failed attempts of the current range */

	_Atomic uint64_t written;	/* in the kernel */
	_Atomic int failed;			/* strata_err of the failing range, 0 if none */
	_Atomic uint64_t appended_pub;	/* = appended, for other threads */
};

static int
map_errno(int e)
{
	return e == ENOSPC || e == EDQUOT ? STRATA_ENOSPC : STRATA_EIO;
}

/* Write [from, to) of the file from the ring; 0 or an errno. */
static int
write_range(struct bufwriter *bw, uint64_t from, uint64_t to)
{
	while (from < to)
	{
		size_t		pos = (size_t) (from % bw->ringsize);
		size_t		n = to - from;
		ssize_t		w;

		if (n > bw->ringsize - pos)
			n = bw->ringsize - pos;	/* up to the end of the ring */
		pthread_mutex_lock(&bw->mu);
		if (bw->fail_n > 0)
		{
			bw->fail_n--;
			pthread_mutex_unlock(&bw->mu);
			return bw->fail_errno;
		}
		pthread_mutex_unlock(&bw->mu);
		if (n > 1 && fio_kill_armed("mid-append"))
		{
			/* tests: a torn write, then death */
			(void) !fio_pwrite(bw->fd, bw->ring + pos, n / 2, (off_t) from);
			fio_kill_point("mid-append");
		}
		w = fio_pwrite(bw->fd, bw->ring + pos, n, (off_t) from);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? errno : ENOSPC;
		from += (uint64_t) w;
		atomic_store(&bw->written, from);
	}
	return 0;
}

static void *
flush_main(void *p)
{
	struct bufwriter *bw = p;

	pthread_mutex_lock(&bw->mu);
	for (;;)
	{
		uint64_t	from;
		uint64_t	to;
		int			e;

		/* read again after every wait: bw_retarget may have moved it */
		while ((from = atomic_load(&bw->written)) == bw->submitted && !bw->stopping)
			pthread_cond_wait(&bw->cv, &bw->mu);
		if (bw->stopping == 2 || (bw->stopping && bw->submitted == from))
			break;
		to = bw->submitted;
		pthread_mutex_unlock(&bw->mu);

		e = write_range(bw, from, to);

		pthread_mutex_lock(&bw->mu);
		if (e == 0)
		{
			bw->attempts = 0;
			atomic_store(&bw->failed, 0);
		}
		else
		{
			struct timespec ts;
			long		ms = BACKOFF_MIN_MS;

			for (int i = 0; i < bw->attempts && ms < BACKOFF_MAX_MS; i++)
				ms *= 2;
			if (ms > BACKOFF_MAX_MS)
				ms = BACKOFF_MAX_MS;
			bw->attempts++;
			atomic_store(&bw->failed, map_errno(e));
			slog(SLOG_WARNING, "bufwriter: write of \"%s\" at offset %llu failed (attempt %d): %s; "
				 "retrying in %ld ms", bw->name, (unsigned long long) atomic_load(&bw->written),
				 bw->attempts, strerror(e), ms);
			pthread_mutex_unlock(&bw->mu);
			bw->notify(bw->arg);
			pthread_mutex_lock(&bw->mu);
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += ms / 1000;
			ts.tv_nsec += (ms % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000)
			{
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			/* cancellable: bw_close wakes us */
			while (bw->stopping != 2 &&
				   pthread_cond_timedwait(&bw->cv, &bw->mu, &ts) != ETIMEDOUT)
				;
			if (bw->stopping && bw->stopping != 2 && atomic_load(&bw->failed) != 0)
				break;			/* a drain after a failure: give up */
			continue;
		}
		pthread_mutex_unlock(&bw->mu);
		bw->notify(bw->arg);
		pthread_mutex_lock(&bw->mu);
		pthread_cond_broadcast(&bw->cv);
	}
	pthread_mutex_unlock(&bw->mu);
	return NULL;
}

int
bw_open(int fd, uint64_t start_off, size_t bufsize, const char *name,
		bw_notify_fn notify, void *arg, struct bufwriter **out)
{
	struct bufwriter *bw = calloc(1, sizeof(*bw));

	if (bw == NULL || bufsize == 0)
	{
		free(bw);
		return bufsize == 0 ? STRATA_EINVAL : STRATA_ENOMEM;
	}
	bw->ringsize = 2 * bufsize;
	if ((bw->ring = malloc(bw->ringsize)) == NULL)
	{
		free(bw);
		return STRATA_ENOMEM;
	}
	bw->fd = fd;
	snprintf(bw->name, sizeof(bw->name), "%s", name);
	bw->notify = notify;
	bw->arg = arg;
	bw->base = start_off;
	bw->appended = start_off;
	bw->submitted = start_off;
	atomic_init(&bw->written, start_off);
	atomic_init(&bw->appended_pub, start_off);
	atomic_init(&bw->failed, 0);
	pthread_mutex_init(&bw->mu, NULL);
	pthread_cond_init(&bw->cv, NULL);
	if (pthread_create(&bw->thread, NULL, flush_main, bw) != 0)
	{
		free(bw->ring);
		free(bw);
		return STRATA_ENOMEM;
	}
	*out = bw;
	return 0;
}

int
bw_append(struct bufwriter *bw, const void *data, size_t len, uint64_t *off)
{
	size_t		pos;
	size_t		first;
	int			err;

	if (len > bw->ringsize)
		return STRATA_EINVAL;
	if ((err = atomic_load(&bw->failed)) != 0)
		return err;
	/* room: bytes not yet written may not be overwritten */
	if (bw->appended + len - atomic_load(&bw->written) > bw->ringsize)
		return STRATA_EBUSY;
	pos = (size_t) (bw->appended % bw->ringsize);
	first = len < bw->ringsize - pos ? len : bw->ringsize - pos;
	memcpy(bw->ring + pos, data, first);
	memcpy(bw->ring, (const uint8_t *) data + first, len - first);
	*off = bw->appended;
	bw->appended += len;
	atomic_store(&bw->appended_pub, bw->appended);
	return 0;
}

void
bw_submit(struct bufwriter *bw)
{
	pthread_mutex_lock(&bw->mu);
	if (bw->submitted != bw->appended)
	{
		/* a waiting range folds: the channel holds one contiguous range */
		bw->submitted = bw->appended;
		pthread_cond_broadcast(&bw->cv);
	}
	pthread_mutex_unlock(&bw->mu);
}

uint64_t
bw_appended(const struct bufwriter *bw)
{
	return atomic_load(&((struct bufwriter *) bw)->appended_pub);
}

int
bw_retarget(struct bufwriter *bw, int fd, uint64_t start_off, const char *name)
{
	int			err = 0;

	pthread_mutex_lock(&bw->mu);
	if (bw->submitted != bw->appended || atomic_load(&bw->written) != bw->appended ||
		atomic_load(&bw->failed) != 0 || bw->stopping)
		err = STRATA_EBUSY;
	else
	{
		/* the flush thread reads these only after taking a range under mu */
		bw->fd = fd;
		snprintf(bw->name, sizeof(bw->name), "%s", name);
		bw->base = bw->appended = bw->submitted = start_off;
		atomic_store(&bw->written, start_off);
		atomic_store(&bw->appended_pub, start_off);
	}
	pthread_mutex_unlock(&bw->mu);
	return err;
}

int
bw_grow(struct bufwriter *bw, size_t need)
{
	uint8_t    *ring;
	int			err = 0;

	if (need <= bw->ringsize)
		return 0;
	if ((ring = malloc(need)) == NULL)
		return STRATA_ENOMEM;
	pthread_mutex_lock(&bw->mu);
	if (bw->submitted != bw->appended || atomic_load(&bw->written) != bw->appended ||
		atomic_load(&bw->failed) != 0 || bw->stopping)
		err = STRATA_EBUSY;
	else
	{
		/* everything is written: the old ring holds nothing bw_read needs */
		free(bw->ring);
		bw->ring = ring;
		bw->ringsize = need;
		bw->base = bw->appended;
		ring = NULL;
	}
	pthread_mutex_unlock(&bw->mu);
	free(ring);
	return err;
}

int
bw_unappend(struct bufwriter *bw, uint64_t to)
{
	int			err = 0;

	pthread_mutex_lock(&bw->mu);
	if (to < bw->submitted || to > bw->appended)
		err = STRATA_EINVAL;
	else
	{
		bw->appended = to;
		atomic_store(&bw->appended_pub, to);
	}
	pthread_mutex_unlock(&bw->mu);
	return err;
}

size_t
bw_room(const struct bufwriter *bw)
{
	return bw->ringsize - (size_t) (bw->appended - atomic_load(&((struct bufwriter *) bw)->written));
}

size_t
bw_capacity(const struct bufwriter *bw)
{
	return bw->ringsize;
}

uint64_t
bw_written(const struct bufwriter *bw)
{
	return atomic_load(&((struct bufwriter *) bw)->written);
}

int
bw_failed(const struct bufwriter *bw, int *attempts)
{
	struct bufwriter *w = (struct bufwriter *) bw;
	int			f = atomic_load(&w->failed);

	if (attempts)
	{
		pthread_mutex_lock(&w->mu);
		*attempts = w->attempts;
		pthread_mutex_unlock(&w->mu);
	}
	return f;
}

int
bw_read(struct bufwriter *bw, uint64_t off, void *buf, size_t len)
{
	uint8_t    *out = buf;

	if (off + len > bw->appended)
		return STRATA_EINVAL;
	/* the ring holds the last ringsize bytes appended through it */
	if (off >= bw->base && off + bw->ringsize >= bw->appended)
	{
		size_t		pos = (size_t) (off % bw->ringsize);
		size_t		first = len < bw->ringsize - pos ? len : bw->ringsize - pos;

		memcpy(out, bw->ring + pos, first);
		memcpy(out + first, bw->ring, len - first);
		return 0;
	}
	while (len > 0)
	{
		ssize_t		n = pread(bw->fd, out, len, (off_t) off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
		{
			slog(SLOG_ERROR, "bufwriter: could not read \"%s\" at offset %llu: %s", bw->name,
				 (unsigned long long) off, n < 0 ? strerror(errno) : "end of file");
			return STRATA_EIO;
		}
		out += n;
		off += (uint64_t) n;
		len -= (size_t) n;
	}
	return 0;
}

int
bw_close(struct bufwriter *bw, int cancel)
{
	int			err = 0;

	bw_submit(bw);
	pthread_mutex_lock(&bw->mu);
	bw->stopping = cancel ? 2 : 1;
	pthread_cond_broadcast(&bw->cv);
	pthread_mutex_unlock(&bw->mu);
	pthread_join(bw->thread, NULL);
	if (atomic_load(&bw->written) < bw->appended)
	{
		if (cancel)
		{
			err = STRATA_ECANCELLED;
			slog(SLOG_INFO, "bufwriter: \"%s\": flush cancelled with %llu bytes unwritten",
				 bw->name, (unsigned long long) (bw->appended - atomic_load(&bw->written)));
		}
		else
			err = atomic_load(&bw->failed) ? atomic_load(&bw->failed) : STRATA_EIO;
	}
	pthread_mutex_destroy(&bw->mu);
	pthread_cond_destroy(&bw->cv);
	free(bw->ring);
	free(bw);
	return err;
}

void
bw_test_fail_writes(struct bufwriter *bw, int n, int err)
{
	pthread_mutex_lock(&bw->mu);
	bw->fail_n = n;
	bw->fail_errno = err;
	pthread_mutex_unlock(&bw->mu);
}
