/*
 * Wakeup latency under CPU contention, in the spirit of schbench and cyclictest.
 *
 * WORKERS threads sleep for a fixed period and measure how late they run after the
 * timer fires (wakeup-to-run latency); HOGS threads burn CPU meanwhile and count the work
 * they get done (the batch throughput the latency class costs). One JSON line results.
 * With INTERVAL_MS, a line every INTERVAL_MS too, for the wakeups of that interval, naming
 * the sched_ext scheduler attached at its start and end: a long-running pod's own
 * per-wakeup measure of each scheduler it ran under (the demo reads it).
 * Usage: wakeup_latency DURATION_MS WORKERS HOGS PERIOD_US [INTERVAL_MS]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include "common.h"

static uint64_t deadline;
static atomic_uint_fast64_t hog_units;

struct worker {
	uint64_t period_ns;
	uint64_t *samples;
	_Atomic size_t count; /* published after the sample is written: the reporter reads up to it */
	size_t capacity;
};

struct reporter {
	struct worker *workers;
	int n;
	uint64_t interval_ns, started;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t target = now_ns();

	while (target < deadline && w->count < w->capacity) {
		target += w->period_ns;
		sleep_until(target);
		w->samples[w->count] = now_ns() - target;
		atomic_fetch_add(&w->count, 1);
		burn(2000);
	}
	return NULL;
}

static void *hog(void *arg)
{
	while (now_ns() < deadline) {
		burn(100000);
		atomic_fetch_add(&hog_units, 1);
	}
	return arg;
}

/* The ops name of the attached sched_ext scheduler, "" when the kernel's own runs. */
static void attached(char *ops, size_t size)
{
	FILE *f = fopen("/sys/kernel/sched_ext/root/ops", "r");

	ops[0] = 0;
	if (f && fgets(ops, size, f))
		ops[strcspn(ops, "\n\"\\")] = 0;
	if (f)
		fclose(f);
}

static void *report(void *arg)
{
	struct reporter *r = arg;
	size_t seen[r->n], capacity = 0;
	uint64_t next = r->started;
	char before[64], after[64];

	for (int i = 0; i < r->n; i++)
		capacity += r->workers[i].capacity, seen[i] = 0;
	uint64_t *batch = calloc(capacity, sizeof(uint64_t));

	attached(before, sizeof(before));
	while ((next += r->interval_ns) < deadline) {
		size_t total = 0;

		sleep_until(next);
		attached(after, sizeof(after));
		for (int i = 0; i < r->n; i++) {
			size_t upto = atomic_load(&r->workers[i].count);

			for (; seen[i] < upto; seen[i]++)
				batch[total++] = r->workers[i].samples[seen[i]];
		}
		qsort(batch, total, sizeof(uint64_t), cmp_u64);
		printf("{\"interval_end_ms\":%lu,\"ops_before\":\"%s\",\"ops_after\":\"%s\",\"samples\":%zu,"
		       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
		       (next - r->started) / 1000000, before, after, total, percentile(batch, total, 0.5) / 1e3,
		       percentile(batch, total, 0.99) / 1e3, total ? batch[total - 1] / 1e3 : 0.0);
		fflush(stdout);
		memcpy(before, after, sizeof(before));
	}
	free(batch);
	return NULL;
}

int main(int argc, char **argv)
{
	uint64_t duration = argc > 1 ? strtoull(argv[1], 0, 10) : 2000;
	int workers = argc > 2 ? atoi(argv[2]) : 4, hogs = argc > 3 ? atoi(argv[3]) : 4;
	uint64_t period = (argc > 4 ? strtoull(argv[4], 0, 10) : 2000) * 1000;
	uint64_t interval = argc > 5 ? strtoull(argv[5], 0, 10) * 1000000 : 0;
	size_t capacity = duration * 1000000 / period + 1, total = 0;
	pthread_t threads[workers + hogs], reporter;
	struct worker w[workers];
	uint64_t *all = calloc(capacity * workers, sizeof(uint64_t));
	uint64_t started = now_ns();

	deadline = started + duration * 1000000;
	for (int i = 0; i < workers; i++) {
		w[i] = (struct worker){ .period_ns = period, .samples = all + i * capacity, .capacity = capacity };
		pthread_create(&threads[i], NULL, work, &w[i]);
	}
	for (int i = 0; i < hogs; i++)
		pthread_create(&threads[workers + i], NULL, hog, NULL);
	struct reporter r = { .workers = w, .n = workers, .interval_ns = interval, .started = started };

	if (interval)
		pthread_create(&reporter, NULL, report, &r);
	for (int i = 0; i < workers + hogs; i++)
		pthread_join(threads[i], NULL);
	if (interval)
		pthread_join(reporter, NULL);
	for (int i = 0; i < workers; i++)
		for (size_t j = 0; j < w[i].count; j++)
			all[total++] = all[i * capacity + j];
	qsort(all, total, sizeof(uint64_t), cmp_u64);
	printf("{\"workload\":\"wakeup_latency\",\"samples\":%zu,\"p50_us\":%.1f,\"p90_us\":%.1f,"
	       "\"p99_us\":%.1f,\"max_us\":%.1f,\"hog_units_per_s\":%.1f}\n",
	       total, percentile(all, total, 0.5) / 1e3, percentile(all, total, 0.9) / 1e3,
	       percentile(all, total, 0.99) / 1e3, total ? all[total - 1] / 1e3 : 0.0,
	       atomic_load(&hog_units) * 1e9 / (double)(now_ns() - started));
	return 0;
}
