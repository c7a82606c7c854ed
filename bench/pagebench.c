/*-------------------------------------------------------------------------
 *
 * pagebench.c
 *	  A GETPAGE load generator speaking the pagestream protocol directly
 *	  (like Neon's pagebench): N connections, each keeping D requests in
 *	  flight, for S seconds, over random blocks of one relation fork.
 *	  Prints throughput and a latency percentiles (p50/p95/p99/p99.9, 1 µs resolution up to 50 ms) and the maximum.
 *
 *	pagebench -d "host=DIR port=6400 dbname=x" -s SYSID -r SPC/DB/REL [-f FORK]
 *	          [-c CONNS] [-q DEPTH] [-t SECONDS]
 *
 * It connects read-only (strata.mode=ro) as the database system SYSID
 * (SELECT system_identifier FROM pg_control_system()), so it never
 * competes with the compute for the timeline (I19).
 *
 * One thread per connection; libpq makes the connection, then the thread
 * speaks CopyData on the socket itself: it sends its window of requests,
 * reads whatever responses have arrived (up to 1 MiB at once) and replaces
 * each with a new request, all sent in one write.  So the client spends
 * few syscalls per page and the server sees full pipelines.  Latency is
 * from send to receive of each request.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "proto.h"
#include "clock.h"

#define MAX_DEPTH 1024
#define REQ_MAX 64				/* an encoded GETPAGE request, at most */
#define IN_BUF (1 << 20)		/* responses read at once, at most */
#define HIST_US 50000			/* 1 µs buckets up to 50 ms, then one overflow */

struct worker
{
	pthread_t	thread;
	const char *connstr;
	struct proto_rel rel;
	uint32_t	nblocks;
	int			depth;
	double		seconds;
	uint64_t	done;
	uint64_t	hist[HIST_US + 1];
	double		max_us;
	int			failed;
	unsigned	seed;
};

/* Bucket b holds latencies in [b, b + 1) µs; the last one everything above. */
static int
bucket_of(double us)
{
	return us >= HIST_US ? HIST_US : (int) us;
}


static char startup_options[64];	/* -c strata.sysid=... -c strata.mode=ro */

static PGconn *
connect_pagestream(const char *connstr)
{
	const char *keys[] = {"dbname", "options", NULL};
	const char *vals[] = {connstr, startup_options, NULL};
	PGconn	   *c = PQconnectdbParams(keys, vals, 1);
	PGresult   *r;
	char		q[128];

	if (PQstatus(c) != CONNECTION_OK)
	{
		fprintf(stderr, "pagebench: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	snprintf(q, sizeof(q), "strata_pagestream %d default default", PROTO_VERSION);
	r = PQexec(c, q);
	if (PQresultStatus(r) != PGRES_COPY_BOTH)
	{
		fprintf(stderr, "pagebench: %s", PQresultErrorMessage(r));
		PQclear(r);
		PQfinish(c);
		return NULL;
	}
	PQclear(r);
	return c;
}

/* Append one GETPAGE as a CopyData message to out. */
static size_t
put_request(struct worker *w, uint64_t id, double *sent_at, uint8_t *out)
{
	struct proto_req req;
	size_t		n;

	memset(&req, 0, sizeof(req));
	req.tag = PROTO_GETPAGE;
	req.reqid = id;
	req.request_lsn = UINT64_MAX;
	req.rel = w->rel;
	req.blk = (uint32_t) (rand_r(&w->seed) % w->nblocks);
	n = proto_encode_req(&req, out + 5, REQ_MAX);
	out[0] = 'd';
	out[1] = (uint8_t) ((n + 4) >> 24);
	out[2] = (uint8_t) ((n + 4) >> 16);
	out[3] = (uint8_t) ((n + 4) >> 8);
	out[4] = (uint8_t) (n + 4);
	sent_at[id % MAX_DEPTH] = clock_mono_s();
	return n + 5;
}

static int
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0)
	{
		ssize_t		k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t) k;
	}
	return 0;
}

/* One response (a CopyData payload): check it and account its latency. */
static int
take_response(struct worker *w, const uint8_t *msg, size_t len, uint64_t recv, double *sent_at)
{
	struct proto_resp resp;
	double		us;

	if (proto_decode_resp(msg, len, &resp) != 0 || resp.tag == PROTO_R_ERROR ||
		resp.req.reqid != recv)
	{
		fprintf(stderr, "pagebench: bad or error response: %s\n",
				resp.tag == PROTO_R_ERROR ? resp.errmsg : "out of order");
		return -1;
	}
	us = (clock_mono_s() - sent_at[recv % MAX_DEPTH]) * 1e6;
	w->hist[bucket_of(us)]++;
	if (us > w->max_us)
		w->max_us = us;
	return 0;
}

/*
 * After the COPY BOTH handshake the socket is ours: requests are written
 * and responses read in large blocks, as a compute's prefetching client
 * would, so the client costs few syscalls per page.
 */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	PGconn	   *c = connect_pagestream(w->connstr);
	double		sent_at[MAX_DEPTH];
	uint8_t    *in = malloc(IN_BUF);
	uint8_t    *out = malloc((size_t) MAX_DEPTH * (REQ_MAX + 5));
	size_t		have = 0;
	size_t		nout = 0;
	uint64_t	next = 0;
	uint64_t	recv = 0;
	double		end;
	int			fd;

	if (c == NULL || in == NULL || out == NULL)
	{
		w->failed = 1;
		goto done;
	}
	fd = PQsocket(c);
	/* libpq keeps its socket non-blocking; this thread waits in read() */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0)
		goto fail;
	end = clock_mono_s() + w->seconds;
	for (int i = 0; i < w->depth; i++)
		nout += put_request(w, next++, sent_at, out + nout);
	while (clock_mono_s() < end)
	{
		size_t		pos = 0;
		ssize_t		k;

		if (write_all(fd, out, nout) != 0)
			goto fail;
		nout = 0;
		k = read(fd, in + have, IN_BUF - have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			goto fail;
		have += (size_t) k;
		/* every complete message; each response is replaced by a request */
		while (have - pos >= 5)
		{
			uint32_t	mlen = ((uint32_t) in[pos + 1] << 24) | ((uint32_t) in[pos + 2] << 16) |
				((uint32_t) in[pos + 3] << 8) | in[pos + 4];

			if (in[pos] != 'd' || mlen < 4 || mlen > IN_BUF - 1)
			{
				fprintf(stderr, "pagebench: unexpected message '%c' from the server\n", in[pos]);
				goto fail;
			}
			if (have - pos < 1 + (size_t) mlen)
				break;
			if (take_response(w, in + pos + 5, mlen - 4, recv, sent_at) != 0)
				goto fail;
			recv++;
			w->done++;
			pos += 1 + (size_t) mlen;
			nout += put_request(w, next++, sent_at, out + nout);
		}
		memmove(in, in + pos, have - pos);
		have -= pos;
	}
	goto done;
fail:
	fprintf(stderr, "pagebench: connection failed: %s\n", errno ? strerror(errno) : "closed");
	w->failed = 1;
done:
	free(in);
	free(out);
	PQfinish(c);
	return NULL;
}

static uint32_t
fork_nblocks(const char *connstr, struct proto_rel rel)
{
	PGconn	   *c = connect_pagestream(connstr);
	struct proto_req req;
	struct proto_resp resp;
	uint8_t		buf[64];
	char	   *r;
	int			len;
	uint32_t	n = 0;

	if (c == NULL)
		return 0;
	memset(&req, 0, sizeof(req));
	req.tag = PROTO_NBLOCKS;
	req.request_lsn = UINT64_MAX;
	req.rel = rel;
	len = (int) proto_encode_req(&req, buf, sizeof(buf));
	if (PQputCopyData(c, (const char *) buf, len) == 1 && PQflush(c) == 0 &&
		(len = PQgetCopyData(c, &r, 0)) > 0)
	{
		if (proto_decode_resp((uint8_t *) r, len, &resp) == 0 && resp.tag != PROTO_R_ERROR)
			n = resp.nblocks;
		PQfreemem(r);
	}
	PQfinish(c);
	return n;
}

int
main(int argc, char **argv)
{
	const char *connstr = NULL;
	unsigned long long sysid = 0;
	struct proto_rel rel = {0};
	int			conns = 1;
	int			depth = 1;
	double		seconds = 10;
	int			opt;
	struct worker *w;
	uint64_t	total = 0;
	static uint64_t hist[HIST_US + 1];
	double		max_us = 0;
	const double pct[] = {50, 95, 99, 99.9};

	while ((opt = getopt(argc, argv, "d:s:r:f:c:q:t:")) != -1)
	{
		switch (opt)
		{
			case 'd':
				connstr = optarg;
				break;
			case 's':
				sysid = strtoull(optarg, NULL, 10);
				break;
			case 'r':
				if (sscanf(optarg, "%u/%u/%u", &rel.spc, &rel.db, &rel.rel) != 3)
				{
					fprintf(stderr, "pagebench: -r takes SPC/DB/RELFILENODE\n");
					return 2;
				}
				break;
			case 'f':
				rel.fork = (uint8_t) atoi(optarg);
				break;
			case 'c':
				conns = atoi(optarg);
				break;
			case 'q':
				depth = atoi(optarg);
				break;
			case 't':
				seconds = atof(optarg);
				break;
			default:
				fprintf(stderr, "usage: pagebench -d CONNSTR -s SYSID -r SPC/DB/REL [-f FORK] [-c CONNS] [-q DEPTH] [-t SECONDS]\n");
				return 2;
		}
	}
	if (connstr == NULL || sysid == 0 || rel.rel == 0 || conns < 1 || depth < 1 || depth > MAX_DEPTH)
	{
		fprintf(stderr, "usage: pagebench -d CONNSTR -s SYSID -r SPC/DB/REL [-f FORK] [-c CONNS] [-q DEPTH] [-t SECONDS]\n");
		return 2;
	}
	snprintf(startup_options, sizeof(startup_options), "-c strata.sysid=%llu -c strata.mode=ro", sysid);
	w = calloc(conns, sizeof(*w));
	w[0].nblocks = fork_nblocks(connstr, rel);
	if (w[0].nblocks == 0)
	{
		fprintf(stderr, "pagebench: relation %u/%u/%u fork %u is empty or unknown\n",
				rel.spc, rel.db, rel.rel, rel.fork);
		return 1;
	}
	for (int i = 0; i < conns; i++)
	{
		w[i].connstr = connstr;
		w[i].rel = rel;
		w[i].nblocks = w[0].nblocks;
		w[i].depth = depth;
		w[i].seconds = seconds;
		w[i].seed = (unsigned) (i * 7919 + 1);
		pthread_create(&w[i].thread, NULL, worker_main, &w[i]);
	}
	for (int i = 0; i < conns; i++)
	{
		pthread_join(w[i].thread, NULL);
		if (w[i].failed)
			return 1;
		total += w[i].done;
		for (int b = 0; b <= HIST_US; b++)
			hist[b] += w[i].hist[b];
		if (w[i].max_us > max_us)
			max_us = w[i].max_us;
	}
	printf("connections=%d depth=%d seconds=%.0f blocks=%u\n", conns, depth, seconds, w[0].nblocks);
	printf("getpage/s %.0f\n", total / seconds);
	for (size_t p = 0; p < sizeof(pct) / sizeof(pct[0]); p++)
	{
		uint64_t	want = (uint64_t) (total * pct[p] / 100.0);
		uint64_t	seen = 0;
		int			b = 0;

		while (b < HIST_US && seen + hist[b] < want)
			seen += hist[b++];
		if (b == HIST_US)
			printf("p%-5g > %d us\n", pct[p], HIST_US);
		else
			printf("p%-5g %d us\n", pct[p], b + 1);
	}
	printf("max    %.0f us\n", max_us);
	free(w);
	return 0;
}
