/*
 * bench_journal.c - durable journal writes per second through the writer thread (group commit),
 * and how long the loop stalls while another process holds the journal's write lock.
 *
 * (a) Throughput: a fresh journal (synchronous=FULL, WAL) under DATA_DIR/journal; the loop keeps
 * a fixed number of small batches in flight (1, 16, 256, 1000), each one write: a state_set of
 * one of 64 keys, or an exec_advance of one of the in-flight slots' executions, as the workflow
 * machine writes a transition. Each completion submits the next batch until SECONDS have passed.
 * Prints durable writes per second (completions / time from the first submit to the last
 * completion), the writer's commits (one fsync each) per second, its mean and largest group.
 * With one in flight every write waits for its own fsync: that row is what group commit buys.
 *
 * (b) A lock held by "the CLI": a child process (forked before the writer thread starts) opens
 * the journal with raw SQLite and holds BEGIN IMMEDIATE for 2 s, while the loop runs a 1 ms
 * repeating timer and keeps 16 writes in flight; three such runs, and one of 3 s without a lock
 * (this machine's own noise). Prints the longest gap between two ticks, its 99th percentile,
 * how many exceeded 10 ms, and the longest gap less the time the loop thread waited for a CPU
 * (/proc/thread-self/schedstat), with how much of it the thread ran and how often it was put on
 * a CPU: on a busy shared VM that tells a late wake-up from a stall this process caused.
 *
 * Targets (issue 7): >= 5,000 durable small writes/s with group commit; longest loop stall
 * < 10 ms while the CLI holds the lock. Prints figures; never fails on them.
 *
 *     bench_journal [SECONDS] [DATA_DIR]      (default: 2, <build>/bench-data)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/error.h"
#include "retraind/fsutil.h"
#include "retraind/journal.h"

#define MAX_DEPTH 1000
#define STATE_KEYS 64
#define LOCK_HOLD_MS 2000
#define LOCK_DEPTH 16
#define LOCK_RUNS 3

enum kind { KIND_STATE, KIND_ADVANCE };

/* One measured run: the loop keeps depth batches in flight until end_ns. */
struct run {
    struct rt_journal *j;
    enum kind kind;
    int depth;
    uint64_t t0_ns, end_ns, last_done_ns;
    int64_t seq, done, failed, in_flight;
    int submit_errors;
};

static double ms_between(uint64_t a_ns, uint64_t b_ns)
{
    return (double)(b_ns - a_ns) / 1e6;
}

static void on_written(int status, const struct rt_error *err, void *ud);

/* Submits the next batch of r. Returns: 0 or an error (counted in r). */
static int submit_one(struct run *r)
{
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    if (rc)
        goto fail;
    int64_t seq = r->seq++;
    char name[64];
    if (r->kind == KIND_STATE) {
        rt_snprintf(name, sizeof(name), "bench:k%02d", (int)(seq % STATE_KEYS));
        rc = rt_jbatch_state_set_i64(b, name, seq);
    } else {
        /* The slot's execution moves between two states, a step row per transition. */
        rt_snprintf(name, sizeof(name), "bench-%04d", (int)(seq % r->depth));
        rc = rt_jbatch_exec_advance(b, name, "{\"images\":12}", NULL, seq & 1 ? "B" : "A", false,
                                    NULL, rt_now_ms());
    }
    if (rc) {
        rt_jbatch_free(b);
        goto fail;
    }
    rc = rt_journal_submit(r->j, b, on_written, r);
    if (rc)
        goto fail;
    r->in_flight++;
    return 0;
fail:
    r->submit_errors++;
    return rc;
}

static void on_written(int status, const struct rt_error *err, void *ud)
{
    struct run *r = ud;
    r->in_flight--;
    if (status) {
        if (r->failed++ == 0)
            fprintf(stderr, "bench_journal: a write failed: %s\n", err ? err->msg : "?");
        return;
    }
    uint64_t now = uv_hrtime();
    r->done++;
    r->last_done_ns = now;
    if (now < r->end_ns)
        submit_one(r);
}

static void closed_flag(void *ud)
{
    *(bool *)ud = true;
}

static int open_journal(const char *dir, struct rt_journal **j)
{
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_open(dir, RT_JOURNAL_READWRITE, j, &err);
    if (rc)
        fprintf(stderr, "bench_journal: open %s: %s\n", dir, err.msg);
    return rc;
}

/* Removes the journal files of dir so each run of the program starts from an empty journal. */
static void remove_journal(const char *dir)
{
    static const char *const suffix[] = {"", "-wal", "-shm"};
    char path[4096];
    for (size_t i = 0; i < sizeof(suffix) / sizeof(suffix[0]); i++) {
        rt_snprintf(path, sizeof(path), "%s/%s%s", dir, RT_JOURNAL_FILE, suffix[i]);
        unlink(path);
    }
}

/* Creates the executions bench-0000 ... bench-0999 the advance runs move (synchronously). */
static int create_execs(struct rt_journal *j)
{
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    char id[64];
    for (int i = 0; i < MAX_DEPTH && !rc; i++) {
        rt_snprintf(id, sizeof(id), "bench-%04d", i);
        rc = rt_jbatch_exec_create(b, id, "training", "A", NULL, "{}", rt_now_ms());
    }
    struct rt_error err;
    rt_error_clear(&err);
    if (!rc)
        rc = rt_journal_apply(j, b, &err);
    if (rc)
        fprintf(stderr, "bench_journal: creating executions: %s\n",
                err.msg[0] ? err.msg : rt_strerror(rc));
    rt_jbatch_free(b);
    return rc;
}

struct throughput {
    double writes_s, commits_s, mean_group, seconds;
    int64_t writes, commits, max_group, failed;
};

/* Runs one throughput measurement on j with a writer started for it (fresh statistics). */
static int
measure(struct rt_journal *j, enum kind kind, int depth, double secs, struct throughput *out)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_journal_writer_start(j, &loop, &err)) {
        fprintf(stderr, "bench_journal: writer: %s\n", err.msg);
        uv_loop_close(&loop);
        return -1;
    }
    struct run r = {.j = j, .kind = kind, .depth = depth};
    r.t0_ns = uv_hrtime();
    r.end_ns = r.t0_ns + (uint64_t)(secs * 1e9);
    for (int i = 0; i < depth; i++)
        if (submit_one(&r))
            break;
    while (r.in_flight > 0)
        uv_run(&loop, UV_RUN_ONCE);
    struct rt_journal_writer_stats st;
    rt_journal_writer_stats(j, &st);
    bool closed = false;
    rt_journal_writer_close(j, closed_flag, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "bench_journal: loop not closed cleanly\n");
    double s = r.last_done_ns > r.t0_ns ? (double)(r.last_done_ns - r.t0_ns) / 1e9 : 1e-9;
    *out = (struct throughput){
        .writes_s = (double)r.done / s,
        .commits_s = (double)st.commits / s,
        .mean_group = st.commits ? (double)st.batches / (double)st.commits : 0,
        .seconds = s,
        .writes = r.done,
        .commits = st.commits,
        .max_group = st.max_group,
        .failed = r.failed,
    };
    return closed && !r.submit_errors ? 0 : -1;
}

/* ---- (b) the loop while another process holds the write lock ---- */

#define MAX_GAPS 20000

/* The loop thread's scheduler statistics (/proc/thread-self/schedstat). */
struct sched {
    uint64_t run_ns;  /* on a CPU */
    uint64_t wait_ns; /* runnable, waiting for a CPU */
    uint64_t slices;  /* times it was put on a CPU: one per wake-up or preemption */
};

/* Gaps between timer ticks in one window. "own" is a gap minus the time the loop thread spent
 * runnable but waiting for a CPU meanwhile (schedstat): what is left is time the thread slept or
 * ran, so a stall caused by this process (a lock, an fsync on the loop) shows there, while the
 * scheduler's delays on a busy machine do not. */
struct gaps {
    uint64_t max_ns, max_own_ns;
    uint64_t max_own_end_ns;    /* when the longest own gap ended */
    struct sched max_own_sched; /* the loop thread's share of it */
    int64_t n, over_10ms, own_over_10ms;
    uint32_t us[MAX_GAPS];
};

static void
gaps_add(struct gaps *g, uint64_t gap_ns, uint64_t own_ns, uint64_t now_ns, const struct sched *d)
{
    if (gap_ns > g->max_ns)
        g->max_ns = gap_ns;
    if (own_ns > g->max_own_ns) {
        g->max_own_ns = own_ns;
        g->max_own_end_ns = now_ns;
        g->max_own_sched = *d;
    }
    if (gap_ns > 10 * 1000000ULL)
        g->over_10ms++;
    if (own_ns > 10 * 1000000ULL)
        g->own_over_10ms++;
    if (g->n < MAX_GAPS)
        g->us[g->n] = (uint32_t)(gap_ns / 1000 > UINT32_MAX ? UINT32_MAX : gap_ns / 1000);
    g->n++;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Returns: the p-th percentile of g's gaps in ms (sorts them). */
static double gaps_pct_ms(struct gaps *g, double p)
{
    size_t n = g->n < MAX_GAPS ? (size_t)g->n : MAX_GAPS;
    if (n == 0)
        return 0;
    qsort(g->us, n, sizeof(g->us[0]), cmp_u32);
    size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
    return (double)g->us[i] / 1e3;
}

struct stall {
    struct run r;
    uv_timer_t timer;
    uv_pipe_t from_child;
    int to_child; /* write end of the child's "go" pipe, -1 once used */
    int sched_fd; /* the loop thread's /proc schedstat, or -1 */
    uint64_t start_ns, last_tick_ns;
    struct sched last_sched;
    uint64_t lock_on_ns, lock_off_ns, stop_ns, first_done_after_ns;
    /* Completions counted from 100 ms into the hold (a batch committed just before the child
     * took the lock may be delivered just after the loop heard of it) to its end. */
    int64_t ticks, done_at_lock, done_at_unlock;
    bool lock_counting, locked, unlocked, child_failed, with_lock;
    struct gaps all;    /* every tick of the run */
    struct gaps window; /* while the lock was held (the whole run without a lock) */
};

/* Reads fd into *out; leaves it zeroed when unknown. */
static void sched_read(int fd, struct sched *out)
{
    char buf[128];
    memset(out, 0, sizeof(*out));
    ssize_t n = fd >= 0 ? pread(fd, buf, sizeof(buf) - 1, 0) : -1;
    if (n <= 0)
        return;
    buf[n] = '\0';
    unsigned long long r = 0, w = 0, c = 0;
    if (sscanf(buf, "%llu %llu %llu", &r, &w, &c) == 3)
        *out = (struct sched){.run_ns = r, .wait_ns = w, .slices = c};
}

static void on_tick(uv_timer_t *t)
{
    struct stall *s = t->data;
    uint64_t now = uv_hrtime();
    struct sched sc, d;
    sched_read(s->sched_fd, &sc);
    d = (struct sched){.run_ns = sc.run_ns - s->last_sched.run_ns,
                       .wait_ns = sc.wait_ns - s->last_sched.wait_ns,
                       .slices = sc.slices - s->last_sched.slices};
    uint64_t gap = now - s->last_tick_ns;
    uint64_t own = gap > d.wait_ns ? gap - d.wait_ns : 0;
    gaps_add(&s->all, gap, own, now, &d);
    if (!s->with_lock || (s->locked && !s->unlocked))
        gaps_add(&s->window, gap, own, now, &d);
    s->last_tick_ns = now;
    s->last_sched = sc;
    s->ticks++;
    if (s->locked && !s->lock_counting && now - s->lock_on_ns >= 100 * 1000000ULL) {
        s->lock_counting = true;
        s->done_at_lock = s->r.done;
    }
    if (s->unlocked && !s->first_done_after_ns && s->r.done > s->done_at_unlock)
        s->first_done_after_ns = now;
    /* Half a second of writes before the lock is asked for. */
    if (s->to_child >= 0 && now - s->start_ns > 500 * 1000000ULL) {
        if (write(s->to_child, "g", 1) != 1)
            s->child_failed = true;
        close(s->to_child);
        s->to_child = -1;
    }
    if (now >= s->stop_ns) {
        s->r.end_ns = 0; /* no more submits; the loop drains what is in flight */
        uv_timer_stop(t);
    }
}

static void on_child_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    static char buf[16];
    (void)h;
    (void)suggested;
    b->base = buf;
    b->len = sizeof(buf);
}

/* The child writes 'L' once it holds the lock and 'U' once it committed; 'F' if it failed. */
static void on_child_read(uv_stream_t *st, ssize_t n, const uv_buf_t *b)
{
    struct stall *s = st->data;
    for (ssize_t i = 0; i < n; i++) {
        uint64_t now = uv_hrtime();
        if (b->base[i] == 'L') {
            s->locked = true;
            s->lock_on_ns = now;
        } else if (b->base[i] == 'U') {
            s->unlocked = true;
            s->lock_off_ns = now;
            s->done_at_unlock = s->r.done;
            s->stop_ns = now + 500 * 1000000ULL; /* half a second of writes after it */
        } else {
            s->child_failed = true;
        }
    }
    if (n < 0) {
        uv_read_stop(st);
        if (!s->unlocked) /* the child is gone without releasing: stop soon */
            s->stop_ns = uv_hrtime();
    }
}

/* The child: waits for 'g', takes the write lock like the CLI does, holds it, commits. */
static void child_main(const char *dir, int go_fd, int report_fd)
{
    char c = 0, path[4096];
    if (read(go_fd, &c, 1) != 1)
        _exit(1);
    rt_snprintf(path, sizeof(path), "%s/%s", dir, RT_JOURNAL_FILE);
    sqlite3 *db = NULL;
    bool ok = sqlite3_open(path, &db) == SQLITE_OK;
    /* The writer commits all the time: wait for it as the CLI does (its busy timeout). */
    ok = ok && sqlite3_busy_timeout(db, 10000) == SQLITE_OK &&
         sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK;
    if (write(report_fd, ok ? "L" : "F", 1) != 1 || !ok)
        _exit(1);
    usleep(LOCK_HOLD_MS * 1000);
    ok = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_close(db);
    if (write(report_fd, ok ? "U" : "F", 1) != 1)
        _exit(1);
    _exit(ok ? 0 : 1);
}

/*
 * Runs the loop with a 1 ms timer and LOCK_DEPTH writes in flight; with_lock: a child holds the
 * write lock LOCK_HOLD_MS from 0.5 s on, and the run ends 0.5 s after it let go; without: 3 s.
 */
static int stall_run(const char *dir, bool with_lock, struct stall *s)
{
    memset(s, 0, sizeof(*s));
    s->to_child = -1;
    s->sched_fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
    s->with_lock = with_lock;
    int go[2] = {-1, -1}, report[2] = {-1, -1};
    pid_t pid = -1;
    if (with_lock) {
        /* Forked while this process has no other thread (no writer yet): the child may use
         * SQLite safely. */
        if (pipe(go) || pipe(report)) {
            perror("bench_journal: pipe");
            return -1;
        }
        fflush(stdout);
        pid = fork();
        if (pid < 0) {
            perror("bench_journal: fork");
            return -1;
        }
        if (pid == 0) {
            close(go[1]);
            close(report[0]);
            child_main(dir, go[0], report[1]);
        }
        close(go[0]);
        close(report[1]);
        s->to_child = go[1];
    }
    struct rt_journal *j;
    if (open_journal(dir, &j))
        return -1;
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_writer_start(j, &loop, &err);
    if (rc) {
        fprintf(stderr, "bench_journal: writer: %s\n", err.msg);
        rt_journal_close(j);
        uv_loop_close(&loop);
        return -1;
    }
    if (with_lock) {
        uv_pipe_init(&loop, &s->from_child, 0);
        uv_pipe_open(&s->from_child, report[0]);
        s->from_child.data = s;
        uv_read_start((uv_stream_t *)&s->from_child, on_child_alloc, on_child_read);
    }
    s->r = (struct run){.j = j, .kind = KIND_STATE, .depth = LOCK_DEPTH, .end_ns = UINT64_MAX};
    s->start_ns = s->last_tick_ns = uv_hrtime();
    sched_read(s->sched_fd, &s->last_sched);
    /* The lock run ends 0.5 s after the lock is released (set then); a safety net meanwhile. */
    s->stop_ns = s->start_ns + (with_lock ? 20000 : 3000) * 1000000ULL;
    s->r.t0_ns = s->start_ns;
    uv_timer_init(&loop, &s->timer);
    s->timer.data = s;
    uv_timer_start(&s->timer, on_tick, 1, 1);
    for (int i = 0; i < LOCK_DEPTH; i++)
        submit_one(&s->r);
    while (uv_is_active((uv_handle_t *)&s->timer) || s->r.in_flight > 0)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&s->timer, NULL);
    if (with_lock) {
        if (s->to_child >= 0)
            close(s->to_child);
        uv_close((uv_handle_t *)&s->from_child, NULL);
    }
    bool closed = false;
    rt_journal_writer_close(j, closed_flag, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (uv_loop_close(&loop) != 0)
        fprintf(stderr, "bench_journal: loop not closed cleanly\n");
    rt_journal_close(j);
    if (s->sched_fd >= 0)
        close(s->sched_fd);
    if (with_lock) {
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
            s->child_failed = true;
    }
    return closed && !s->child_failed && !s->r.submit_errors ? 0 : -1;
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? strtod(argv[1], NULL) : 2.0;
    const char *base = argc > 2 ? argv[2] : RT_BENCH_DATA;
    if (!(secs > 0))
        secs = 2.0;
    char dir[4096];
    rt_snprintf(dir, sizeof(dir), "%s/journal", base);
    int rc = rt_mkdir_p(dir, 0755);
    if (rc) {
        fprintf(stderr, "bench_journal: cannot create %s: %s\n", dir, rt_strerror(rc));
        return 1;
    }
    remove_journal(dir);
    struct rt_journal *j;
    if (open_journal(dir, &j) || create_execs(j))
        return 1;

    static const int depths[] = {1, 16, 256, 1000};
    static const char *const kind_name[] = {"state_set", "exec_advance"};
    struct throughput t[2][4];
    for (int k = 0; k < 2; k++)
        for (int d = 0; d < 4; d++)
            if (measure(j, (enum kind)k, depths[d], secs, &t[k][d]))
                return 1;
    rt_journal_close(j);

    /* Static: each holds its gaps (a few hundred kB). */
    static struct stall quiet, held[LOCK_RUNS];
    if (stall_run(dir, false, &quiet))
        return 1;
    for (int i = 0; i < LOCK_RUNS; i++)
        if (stall_run(dir, true, &held[i])) {
            fprintf(stderr, "bench_journal: the lock run failed%s\n",
                    held[i].child_failed ? " (the child could not take or release the lock)" : "");
            return 1;
        }

    printf("\nbench_journal: durable journal writes through the writer thread (%s, %.1f s each)\n",
           dir, secs);
    printf("  one write per batch, synchronous=FULL (one fsync per commit), WAL\n");
    printf("  %-13s %9s %10s %10s %10s %10s   %s\n", "write", "in flight", "writes/s", "commits/s",
           "mean group", "max group", "target");
    for (int k = 0; k < 2; k++)
        for (int d = 0; d < 4; d++) {
            const struct throughput *x = &t[k][d];
            const char *target = depths[d] == 1 ? "(one fsync per write)" : ">= 5000";
            printf("  %-13s %9d %10.0f %10.0f %10.1f %10lld   %s\n", kind_name[k], depths[d],
                   x->writes_s, x->commits_s, x->mean_group, (long long)x->max_group, target);
            if (x->failed)
                printf("  note: %lld writes failed in the run above\n", (long long)x->failed);
        }
    printf("\nbench_journal: the loop while another process holds the write lock %d ms\n",
           LOCK_HOLD_MS);
    printf("  1 ms repeating timer, %d state_set writes kept in flight; gaps between ticks\n",
           LOCK_DEPTH);
    printf("  %-22s %7s %7s %7s %7s %7s %9s %8s %8s\n", "window", "ms", "ticks", "max ms", "p99 ms",
           ">10 ms", "own max", "writes", "resume");
    printf("  %-22s %7s %7s %7s %7s %7s %9s %8s %8s\n", "", "", "", "< 10", "", "", "ms < 10", "",
           "ms");
    printf("  %-22s %7.0f %7lld %7.2f %7.2f %7lld %9.2f %8lld %8s\n", "no lock", 3000.0,
           (long long)quiet.window.n, (double)quiet.window.max_ns / 1e6,
           gaps_pct_ms(&quiet.window, 99), (long long)quiet.window.over_10ms,
           (double)quiet.window.max_own_ns / 1e6, (long long)quiet.r.done, "-");
    double worst = 0, worst_own = 0, worst_own_at = 0;
    struct sched worst_sched = {0};
    for (int i = 0; i < LOCK_RUNS; i++) {
        struct stall *h = &held[i];
        char name[32], resume[32] = "-";
        rt_snprintf(name, sizeof(name), "lock held, run %d", i + 1);
        if (h->first_done_after_ns)
            rt_snprintf(resume, sizeof(resume), "%.1f",
                        ms_between(h->lock_off_ns, h->first_done_after_ns));
        printf("  %-22s %7.0f %7lld %7.2f %7.2f %7lld %9.2f %8lld %8s\n", name,
               ms_between(h->lock_on_ns, h->lock_off_ns), (long long)h->window.n,
               (double)h->window.max_ns / 1e6, gaps_pct_ms(&h->window, 99),
               (long long)h->window.over_10ms, (double)h->window.max_own_ns / 1e6,
               (long long)(h->done_at_unlock - h->done_at_lock), resume);
        double m = (double)h->all.max_ns / 1e6, o = (double)h->all.max_own_ns / 1e6;
        worst = m > worst ? m : worst;
        if (o > worst_own) {
            worst_own = o;
            /* Where it ended, from the lock being taken (negative: before). */
            worst_own_at = ((double)h->all.max_own_end_ns - (double)h->lock_on_ns) / 1e6;
            worst_sched = h->all.max_own_sched;
        }
    }
    printf("  %-52s %7.2f   %s\n", "ms, longest gap in the lock runs (whole runs)", worst, "< 10");
    printf("  %-52s %7.2f   %s\n", "ms, the same less the loop's wait for a CPU", worst_own,
           "< 10");
    printf("  %-52s %7.0f   %s\n", "ms from the lock being taken to the end of that gap",
           worst_own_at, "(held 0 .. 2000)");
    printf("  %-52s %7.2f   %s\n", "ms of it the loop thread ran", (double)worst_sched.run_ns / 1e6,
           "(< 1: it ran no long callback)");
    printf("  %-52s %7llu   %s\n", "times it was put on a CPU during it",
           (unsigned long long)worst_sched.slices, "(1: it slept only in its poll)");
    printf("  writes = writes completed from 0.1 s into the hold to its end (0: they wait on the\n"
           "  writer thread); resume = ms from the release to the next completion (SQLite's busy\n"
           "  handler retries on a timer). own = the gap less the time the loop thread waited\n"
           "  for a CPU (/proc/thread-self/schedstat): the guest scheduler's share on a busy VM.\n"
           "  A gap in which the thread ran little and was put on a CPU once was spent asleep in\n"
           "  its poll (epoll_wait), not blocked on a lock or an fsync: a late wake-up (the\n"
           "  hypervisor's, when the host is busy), not a stall the journal caused.\n");
    return 0;
}
