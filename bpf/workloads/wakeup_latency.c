/*
 * Wakeup latency under CPU contention, in the spirit of schbench and cyclictest.
 *
 * WORKERS threads sleep for a fixed period and measure how late they run after the
 * timer fires (wakeup-to-run latency); HOGS threads burn CPU meanwhile and count the work
 * they get done (the batch throughput the latency class costs). One JSON line results.
 * Usage: wakeup_latency DURATION_MS WORKERS HOGS PERIOD_US
 */
#include <pthread.h>
#include <stdatomic.h>
#include "common.h"

static uint64_t deadline;
static atomic_uint_fast64_t hog_units;

struct worker {
	uint64_t period_ns;
	uint64_t *samples;
	size_t count, capacity;
};

static void *work(void *arg)
{
	struct worker *w = arg;
	uint64_t target = now_ns();

	while (target < deadline && w->count < w->capacity) {
		target += w->period_ns;
		sleep_until(target);
		w->samples[w->count++] = now_ns() - target;
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

int main(int argc, char **argv)
{
	uint64_t duration = argc > 1 ? strtoull(argv[1], 0, 10) : 2000;
	int workers = argc > 2 ? atoi(argv[2]) : 4, hogs = argc > 3 ? atoi(argv[3]) : 4;
	uint64_t period = (argc > 4 ? strtoull(argv[4], 0, 10) : 2000) * 1000;
	size_t capacity = duration * 1000000 / period + 1, total = 0;
	pthread_t threads[workers + hogs];
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
	for (int i = 0; i < workers + hogs; i++)
		pthread_join(threads[i], NULL);
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
