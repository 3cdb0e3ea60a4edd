/*
 * A measured profile, replayed: THREADS threads each wake WAKEUPS_PER_SEC times a second
 * on an absolute timer and run RUN_US_PER_WAKEUP µs of CPU work per wakeup, while HOGS
 * threads burn CPU beside them. The work is calibrated at start (burn() iterations per
 * µs, on this machine's clock: guest time in a VM). One JSON line: wakeup latency
 * percentiles, the mean run delay per wakeup (time between the timer and the end of the
 * work that the thread spent not on a CPU), the hogs' work per second, and all the work
 * done per second (the wakers' finished bursts and the hogs' units, in hog units).
 * Usage: replay DURATION_MS THREADS WAKEUPS_PER_SEC RUN_US_PER_WAKEUP HOGS
 */
#include <pthread.h>
#include <stdatomic.h>
#include "common.h"

#define HOG_UNIT 100000
#define CALIBRATION_NS 2000000

static uint64_t deadline, period_ns, run_iterations;
static atomic_uint_fast64_t hog_units;

struct waker {
	uint64_t *latencies;
	size_t count, capacity;
	uint64_t delay_sum;
};

static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static uint64_t timed_burn(uint64_t iterations)
{
	uint64_t started = now_ns();

	burn(iterations);
	return now_ns() - started;
}

/* Iterations per µs from the fastest of a few runs of CALIBRATION_NS or more: a run that
 * was preempted only looks slower, never faster. */
static double calibrate(void)
{
	uint64_t iterations = 1000, best;

	while (timed_burn(iterations) < CALIBRATION_NS)
		iterations *= 2;
	best = timed_burn(iterations);
	for (int i = 0; i < 4; i++) {
		uint64_t took = timed_burn(iterations);

		best = took < best ? took : best;
	}
	return iterations * 1e3 / best;
}

static void *wake(void *arg)
{
	struct waker *w = arg;
	uint64_t target = now_ns();

	while (w->count < w->capacity && (target += period_ns) < deadline) {
		sleep_until(target);
		uint64_t woke = now_ns(), cpu = thread_cpu_ns();

		burn(run_iterations);
		uint64_t done = now_ns(), ran = thread_cpu_ns() - cpu;

		w->latencies[w->count++] = woke - target;
		w->delay_sum += done - target > ran ? done - target - ran : 0;
		/* A wakeup that overran its period skips the timers it missed instead of
		 * firing them all late, which would count the same delay again. */
		if (done > target + period_ns)
			target += (done - target) / period_ns * period_ns;
	}
	return NULL;
}

static void *hog(void *arg)
{
	while (now_ns() < deadline) {
		burn(HOG_UNIT);
		atomic_fetch_add(&hog_units, 1);
	}
	return arg;
}

int main(int argc, char **argv)
{
	uint64_t duration = argc > 1 ? strtoull(argv[1], 0, 10) : 2000;
	int threads = argc > 2 ? atoi(argv[2]) : 2, hogs = argc > 5 ? atoi(argv[5]) : 2;
	uint64_t rate = argc > 3 ? strtoull(argv[3], 0, 10) : 500, run_us = argc > 4 ? strtoull(argv[4], 0, 10) : 200;

	if (threads < 1 || hogs < 0 || rate < 1) {
		fprintf(stderr, "usage: replay DURATION_MS THREADS WAKEUPS_PER_SEC RUN_US_PER_WAKEUP HOGS\n");
		return 2;
	}
	size_t capacity = duration * rate / 1000 + 1, total = 0;
	uint64_t *all = calloc(capacity * threads, sizeof(uint64_t)), delay_sum = 0;

	if (!all) {
		perror("calloc");
		return 1;
	}
	struct waker w[threads];
	pthread_t ids[threads + hogs];
	double per_us = calibrate();
	uint64_t started = now_ns();

	period_ns = 1000000000ull / rate;
	run_iterations = run_us * per_us;
	deadline = started + duration * 1000000;
	for (int i = 0; i < threads; i++) {
		w[i] = (struct waker){ .latencies = all + i * capacity, .capacity = capacity };
		pthread_create(&ids[i], NULL, wake, &w[i]);
	}
	for (int i = 0; i < hogs; i++)
		pthread_create(&ids[threads + i], NULL, hog, NULL);
	for (int i = 0; i < threads + hogs; i++)
		pthread_join(ids[i], NULL);
	for (int i = 0; i < threads; i++) {
		delay_sum += w[i].delay_sum;
		for (size_t j = 0; j < w[i].count; j++)
			all[total++] = all[i * capacity + j];
	}
	double elapsed = now_ns() - started;

	qsort(all, total, sizeof(uint64_t), cmp_u64);
	printf("{\"workload\":\"replay\",\"threads\":%d,\"hogs\":%d,\"samples\":%zu,\"p50_us\":%.1f,\"p90_us\":%.1f,"
	       "\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_run_delay_us\":%.1f,\"hog_units_per_s\":%.1f,"
	       "\"work_units_per_s\":%.1f,\"iterations_per_us\":%.1f}\n",
	       threads, hogs, total, percentile(all, total, 0.5) / 1e3, percentile(all, total, 0.9) / 1e3,
	       percentile(all, total, 0.99) / 1e3, total ? all[total - 1] / 1e3 : 0.0,
	       total ? delay_sum / 1e3 / total : 0.0, atomic_load(&hog_units) * 1e9 / elapsed,
	       (atomic_load(&hog_units) + (double)total * run_iterations / HOG_UNIT) * 1e9 / elapsed, per_us);
	return 0;
}
