/*
 * check_loopcall.c: calls across event loops (server/base/loopcall.c) —
 * where they run, their order, and what happens once the loop is closed.
 */
#include <check.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "loopcall.h"
#include "strata_err.h"
#include "suites.h"

/* A loop dispatched by its own thread until stopped. */
struct loop
{
	struct event_base *base;
	struct loopcall *lc;
	pthread_t	thread;
};

static void *
loop_main(void *arg)
{
	struct loop *l = arg;

	event_base_loop(l->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* dispatch: start the loop's thread (else the loop is made but never runs) */
static void
loop_start(struct loop *l, int dispatch)
{
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	l->base = event_base_new();
	ck_assert_ptr_nonnull(l->base);
	l->lc = loopcall_new(l->base);
	ck_assert_ptr_nonnull(l->lc);
	if (dispatch)
		ck_assert_int_eq(pthread_create(&l->thread, NULL, loop_main, l), 0);
}

static void
loop_stop(struct loop *l)
{
	event_base_loopbreak(l->base);
	pthread_join(l->thread, NULL);
}

static void
loop_free(struct loop *l)
{
	loopcall_close(l->lc);
	loopcall_free(l->lc);
	event_base_free(l->base);
}

struct probe
{
	pthread_t	ran_on;
	int			calls;
	int			order[4];
	struct loopcall_msg msg[4];
};

static int
run_probe(void *arg)
{
	struct probe *p = arg;

	p->ran_on = pthread_self();
	p->calls++;
	return 42;
}

START_TEST(run_waits_and_runs_on_the_loop_thread)
{
	struct loop l;
	struct probe p = {0};

	loop_start(&l, 1);
	ck_assert_int_eq(loopcall_run(l.lc, run_probe, &p), 42);
	ck_assert_int_eq(p.calls, 1);
	ck_assert(pthread_equal(p.ran_on, l.thread));
	loop_stop(&l);
	loop_free(&l);
}
END_TEST

static _Atomic int posted;

static void
post_probe(void *arg)
{
	struct probe *p = arg;

	p->ran_on = pthread_self();
	p->order[p->calls++] = atomic_fetch_add(&posted, 1);
}

START_TEST(posts_run_on_the_loop_in_order)
{
	struct loop l;
	struct probe p = {0};
	struct probe wait = {0};

	atomic_store(&posted, 0);
	loop_start(&l, 1);
	for (int i = 0; i < 4; i++)
		loopcall_post(l.lc, &p.msg[i], post_probe, &p);
	/* a run queued behind the posts returns after them */
	ck_assert_int_eq(loopcall_run(l.lc, run_probe, &wait), 42);
	ck_assert_int_eq(p.calls, 4);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(p.order[i], i);
	ck_assert(pthread_equal(p.ran_on, l.thread));
	loop_stop(&l);
	loop_free(&l);
}
END_TEST

START_TEST(closed_runs_fail_and_posts_run_on_the_caller)
{
	struct loop l;
	struct probe p = {0};

	loop_start(&l, 0);
	loopcall_close(l.lc);
	ck_assert_int_eq(loopcall_run(l.lc, run_probe, &p), STRATA_ESHUTDOWN);
	ck_assert_int_eq(p.calls, 0);
	loopcall_post(l.lc, &p.msg[0], post_probe, &p);
	ck_assert_int_eq(p.calls, 1);
	ck_assert(pthread_equal(p.ran_on, pthread_self()));
	loopcall_free(l.lc);
	event_base_free(l.base);
}
END_TEST

/* A run queued while nothing serves the loop fails when it is closed. */
struct blocked_run
{
	struct loopcall *lc;
	struct probe p;
	int			result;
};

static void *
blocked_main(void *arg)
{
	struct blocked_run *b = arg;

	b->result = loopcall_run(b->lc, run_probe, &b->p);
	return NULL;
}

START_TEST(close_fails_a_queued_run_without_running_it)
{
	struct loop l;
	struct blocked_run b = {0};
	pthread_t	t;

	loop_start(&l, 0);
	b.lc = l.lc;
	ck_assert_int_eq(pthread_create(&t, NULL, blocked_main, &b), 0);
	/* no loop runs it, so it stays queued until the close */
	usleep(50000);
	loopcall_close(l.lc);
	pthread_join(t, NULL);
	ck_assert_int_eq(b.result, STRATA_ESHUTDOWN);
	ck_assert_int_eq(b.p.calls, 0);
	loopcall_free(l.lc);
	event_base_free(l.base);
}
END_TEST

/* The peer of a stopping loop: one call served by loopcall_serve(), then done. */
struct peer
{
	struct loopcall *lc;
	struct probe p;
	int			result;
};

static void *
peer_main(void *arg)
{
	struct peer *pe = arg;

	pe->result = loopcall_run(pe->lc, run_probe, &pe->p);
	loopcall_serve_end(pe->lc);
	return NULL;
}

START_TEST(serve_runs_calls_after_dispatch_until_ended)
{
	struct loop l;
	struct peer pe = {0};
	pthread_t	t;

	loop_start(&l, 0);
	pe.lc = l.lc;
	ck_assert_int_eq(pthread_create(&t, NULL, peer_main, &pe), 0);
	loopcall_serve(l.lc);
	pthread_join(t, NULL);
	ck_assert_int_eq(pe.result, 42);
	ck_assert(pthread_equal(pe.p.ran_on, pthread_self()));
	/* ended already: returns at once */
	loopcall_serve(l.lc);
	loop_free(&l);
}
END_TEST

Suite *
check_loopcall_suite(void)
{
	Suite	   *s = suite_create("loopcall");
	TCase	   *tc = tcase_create("core");

	tcase_add_test(tc, run_waits_and_runs_on_the_loop_thread);
	tcase_add_test(tc, posts_run_on_the_loop_in_order);
	tcase_add_test(tc, closed_runs_fail_and_posts_run_on_the_caller);
	tcase_add_test(tc, close_fails_a_queued_run_without_running_it);
	tcase_add_test(tc, serve_runs_calls_after_dispatch_until_ended);
	suite_add_tcase(s, tc);
	return s;
}
