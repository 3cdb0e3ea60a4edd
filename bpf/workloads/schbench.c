/*
 * Request/worker wakeup latency, in the spirit of schbench.
 *
 * MESSAGE_THREADS message threads each serve WORKERS_PER_MESSAGE workers in a closed
 * loop: post a request to every worker (a futex wake), then sleep until all of them have
 * answered. A worker measures its wakeup latency (from the post to running), burns
 * WORK_UNITS units of 1000 iterations (the request), and sleeps again. Request latency
 * is from the post to the end of the request: what a client of the worker would see.
 * One JSON line: wakeup latency percentiles, request p99, and requests per second.
 * Usage: schbench DURATION_MS MESSAGE_THREADS WORKERS_PER_MESSAGE WORK_UNITS
 */
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <unistd.h>
#include "common.h"

#define UNIT 1000
/* Samples kept per worker per millisecond: one request per 10 µs, beyond what a futex
 * round trip allows; requests past that are counted but not sampled. */
#define SAMPLES_PER_MS 100

struct worker {
	atomic_uint posts; /* bumped by the message thread for each request */
	uint64_t posted; /* when the current request was posted */
	struct group *group;
	uint64_t *wakeups, *requests;
	size_t count, capacity;
	uint64_t served;
};

struct group {
	atomic_uint pending; /* workers still serving this round */
	struct worker *workers;
	int size;
};

static uint64_t deadline, work_units;
static atomic_int stop;

static void futex_wait(atomic_uint *word, unsigned int expected)
{
	syscall(SYS_futex, word, FUTEX_WAIT_PRIVATE, expected, NULL, NULL, 0);
}

static void futex_wake(atomic_uint *word)
{
	syscall(SYS_futex, word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
}

/* Sleeps until *word moves on from `seen`; returns its new value. */
static unsigned int wait_change(atomic_uint *word, unsigned int seen)
{
	unsigned int now;

	while ((now = atomic_load(word)) == seen)
		futex_wait(word, seen);
	return now;
}

static void post(struct worker *w)
{
	w->posted = now_ns();
	atomic_fetch_add(&w->posts, 1);
	futex_wake(&w->posts);
}

static void *serve(void *arg)
{
	struct worker *w = arg;
	unsigned int seen = 0;

	for (;;) {
		seen = wait_change(&w->posts, seen);
		if (atomic_load(&stop))
			return NULL;
		uint64_t woke = now_ns();

		burn(work_units * UNIT);
		if (w->count < w->capacity) {
			w->wakeups[w->count] = woke - w->posted;
			w->requests[w->count++] = now_ns() - w->posted;
		}
		w->served++;
		if (atomic_fetch_sub(&w->group->pending, 1) == 1)
			futex_wake(&w->group->pending);
	}
}

static void *message(void *arg)
{
	struct group *g = arg;

	while (now_ns() < deadline) {
		atomic_store(&g->pending, g->size);
		for (int i = 0; i < g->size; i++)
			post(&g->workers[i]);
		for (unsigned int left; (left = atomic_load(&g->pending));)
			futex_wait(&g->pending, left);
	}
	return NULL;
}

/* Gathers every worker's request (or wakeup) latencies into one sorted array. */
static size_t gather(struct worker *w, int n, bool requests, uint64_t *out)
{
	size_t total = 0;

	for (int i = 0; i < n; i++) {
		uint64_t *column = requests ? w[i].requests : w[i].wakeups;

		for (size_t j = 0; j < w[i].count; j++)
			out[total++] = column[j];
	}
	qsort(out, total, sizeof(uint64_t), cmp_u64);
	return total;
}

int main(int argc, char **argv)
{
	uint64_t duration = argc > 1 ? strtoull(argv[1], 0, 10) : 2000;
	int messages = argc > 2 ? atoi(argv[2]) : 2, per = argc > 3 ? atoi(argv[3]) : 4, n = messages * per;

	work_units = argc > 4 ? strtoull(argv[4], 0, 10) : 20;
	if (messages < 1 || per < 1) {
		fprintf(stderr, "usage: schbench DURATION_MS MESSAGE_THREADS WORKERS_PER_MESSAGE WORK_UNITS\n");
		return 2;
	}
	size_t capacity = duration * SAMPLES_PER_MS + 1;
	uint64_t *all = calloc(2 * capacity * n, sizeof(uint64_t)), *sorted = calloc(capacity * n, sizeof(uint64_t));
	struct worker *w = calloc(n, sizeof(*w));
	struct group g[messages];
	pthread_t threads[messages + n];
	uint64_t served = 0, started = now_ns();

	if (!all || !sorted || !w) {
		perror("calloc");
		return 1;
	}
	deadline = started + duration * 1000000;
	for (int i = 0; i < n; i++) {
		w[i].group = &g[i / per];
		w[i].wakeups = all + 2 * i * capacity;
		w[i].requests = w[i].wakeups + capacity;
		w[i].capacity = capacity;
		pthread_create(&threads[messages + i], NULL, serve, &w[i]);
	}
	for (int i = 0; i < messages; i++) {
		g[i] = (struct group){ .workers = w + i * per, .size = per };
		pthread_create(&threads[i], NULL, message, &g[i]);
	}
	for (int i = 0; i < messages; i++)
		pthread_join(threads[i], NULL);
	uint64_t elapsed = now_ns() - started;

	/* Every message thread has returned, so no worker is serving: wake them to exit. */
	atomic_store(&stop, 1);
	for (int i = 0; i < n; i++) {
		post(&w[i]);
		pthread_join(threads[messages + i], NULL);
		served += w[i].served;
	}
	size_t samples = gather(w, n, true, sorted);
	double request_p99 = percentile(sorted, samples, 0.99) / 1e3;

	gather(w, n, false, sorted);
	printf("{\"workload\":\"schbench\",\"message_threads\":%d,\"workers\":%d,\"requests\":%lu,\"samples\":%zu,"
	       "\"wakeup_p50_us\":%.1f,\"wakeup_p90_us\":%.1f,\"wakeup_p99_us\":%.1f,\"wakeup_max_us\":%.1f,"
	       "\"request_p99_us\":%.1f,\"requests_per_s\":%.1f}\n",
	       messages, n, served, samples, percentile(sorted, samples, 0.5) / 1e3,
	       percentile(sorted, samples, 0.9) / 1e3, percentile(sorted, samples, 0.99) / 1e3,
	       samples ? sorted[samples - 1] / 1e3 : 0.0, request_p99, served * 1e9 / (double)elapsed);
	return 0;
}
