/*
 * test_detection.c - the detection service (detect_scan.c) and the detection and sampling
 * workflows (detection.c, sampling.c, review_steps.c) with the real journal and its writer, the
 * real local store in a temporary folder, a fake engine and a fake review driver.
 *
 * The fake engine classifies an "image" whose bytes are "LABEL:CONFIDENCE" as LABEL with that
 * confidence, so a test writes exactly the results it wants. It can hold its answers (hold) to
 * count how many detections run at once.
 */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "detect_int.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/detect.h"
#include "retraind/engine.h"
#include "retraind/fsutil.h"
#include "retraind/journal.h"
#include "retraind/journal_detections.h"
#include "retraind/log.h"
#include "retraind/notify.h"
#include "retraind/store.h"
#include "retraind/workflow.h"
#include "review_fake.h"
#include "rt_test.h"

/* ---- the fake engine: detect only ---- */

struct de_op {
    struct de_op *next;
    struct rt_deferred d;
    struct det_engine *e;
    struct rt_detection_label label;
    int status;
    rt_engine_detect_fn *cb;
    void *ud;
};

struct det_engine {
    struct rt_engine base;
    struct rt_defer_queue q;
    bool hold;          /* keep answers until released */
    struct de_op *held; /* held answers */
    int running, max_running, detects;
    int throttle_left; /* answer this many more detects with RT_ETHROTTLED */
    void (*close_cb)(void *ud);
    void *close_ud;
};

static void de_run(void *ud)
{
    struct de_op *op = ud;
    op->e->running--;
    if (op->status)
        op->cb(op->status, NULL, 0, NULL, op->ud);
    else
        op->cb(0, &op->label, 1, NULL, op->ud);
    rt_free(op);
}

static int de_detect(struct rt_engine *eng,
                     const char *version,
                     const void *image,
                     size_t len,
                     double min_confidence,
                     rt_engine_detect_fn *cb,
                     void *ud)
{
    (void)version;
    (void)min_confidence;
    struct det_engine *e = (struct det_engine *)eng;
    struct de_op *op = rt_calloc(1, sizeof(*op));
    RT_ASSERT(op != NULL);
    op->e = e;
    op->cb = cb;
    op->ud = ud;
    char text[160];
    size_t n = len < sizeof(text) - 1 ? len : sizeof(text) - 1;
    memcpy(text, image, n);
    text[n] = '\0';
    char *colon = strchr(text, ':');
    if (e->throttle_left > 0) {
        e->throttle_left--;
        op->status = RT_ETHROTTLED;
    } else if (!colon) {
        op->status = RT_EPARSE;
    } else {
        *colon = '\0';
        rt_strlcpy(op->label.name, text, sizeof(op->label.name));
        op->label.confidence = atof(colon + 1);
    }
    e->detects++;
    e->running++;
    if (e->running > e->max_running)
        e->max_running = e->running;
    if (e->hold) {
        op->next = e->held;
        e->held = op;
    } else {
        rt_defer_item(&e->q, &op->d, de_run, op);
    }
    return 0;
}

static void de_release(struct det_engine *e)
{
    while (e->held) {
        struct de_op *op = e->held;
        e->held = op->next;
        rt_defer_item(&e->q, &op->d, de_run, op);
    }
}

static void de_closed(void *ud)
{
    struct det_engine *e = ud;
    void (*cb)(void *) = e->close_cb;
    void *cud = e->close_ud;
    rt_free(e);
    if (cb)
        cb(cud);
}

static void de_close(struct rt_engine *eng, void (*cb)(void *ud), void *ud)
{
    struct det_engine *e = (struct det_engine *)eng;
    RT_ASSERT(e->held == NULL);
    e->close_cb = cb;
    e->close_ud = ud;
    rt_defer_close(&e->q, de_closed, e);
}

static const struct rt_engine_ops de_ops = {
    .name = "fake-detect", .detect = de_detect, .close = de_close};

/* ---- the fixture ---- */

struct fx;
static const char *task_of(struct fx *f, int i);
#define task_of_first(f) task_of((f), 0)

struct fx {
    uv_loop_t loop;
    uv_timer_t tick;
    char dir[600], root[700], logpath[700];
    int logfd;
    long alloc_base;
    struct rt_journal *j;
    struct rt_store *store;
    struct det_engine *eng;
    struct fake_review *review;
    struct rt_config cfg;
    struct rt_param_set params;
    struct rt_workflow_env env;
    struct rt_machine *m;
    struct rt_detect *d;
    int kicks;
};

static char p_labeled[] = "images_labeled_by_folder/";
static char p_detection[] = "images_for_detection/";
static char p_results[] = "detection-results/";
static char p_manifests[] = "manifests/";

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        int64_t deadline_ = rt_mono_ms() + 20000;                                                  \
        uv_timer_start(&(f)->tick, on_tick, 2, 2);                                                 \
        while (!(cond)) {                                                                          \
            if (rt_mono_ms() > deadline_)                                                          \
                RT_FAIL("timed out waiting for %s", #cond);                                        \
            uv_run(&(f)->loop, UV_RUN_ONCE);                                                       \
        }                                                                                          \
        uv_timer_stop(&(f)->tick);                                                                 \
    } while (0)

/* Runs the loop for ms milliseconds. */
static void run_for(struct fx *f, int64_t ms)
{
    int64_t end = rt_mono_ms() + ms;
    RUN_UNTIL(f, rt_mono_ms() >= end);
}

static void set_flag(void *ud)
{
    (*(int *)ud)++;
}

static void on_kick(void *ud)
{
    ((struct fx *)ud)->kicks++;
}

static void write_file(struct fx *f, const char *key, const char *text)
{
    char path[2000], tmp[2100];
    snprintf(path, sizeof(path), "%s/%s", f->root, key);
    char dir[2000];
    rt_strlcpy(dir, path, sizeof(dir));
    *strrchr(dir, '/') = '\0';
    RT_ASSERT_OK(rt_mkdir_p(dir, 0755));
    snprintf(tmp, sizeof(tmp), "%s/upload.tmp", f->dir);
    FILE *fp = fopen(tmp, "w");
    RT_ASSERT(fp != NULL);
    fputs(text, fp);
    fclose(fp);
    RT_ASSERT(rename(tmp, path) == 0);
}

/* Drops image n with content text into the detection folder. */
static void drop(struct fx *f, int n, const char *text)
{
    char key[200];
    snprintf(key, sizeof(key), "images_for_detection/img-%03d.png", n);
    write_file(f, key, text);
}

static const char *task_of(struct fx *f, int i)
{
    return f->review->t[i].id;
}

static bool file_exists(struct fx *f, const char *key)
{
    char path[2000];
    snprintf(path, sizeof(path), "%s/%s", f->root, key);
    struct stat st;
    return stat(path, &st) == 0;
}

static int count_files(struct fx *f, const char *folder)
{
    char path[2000];
    snprintf(path, sizeof(path), "%s/%s", f->root, folder);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (de->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void seed_model(struct rt_journal *j)
{
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    struct rt_journal_model m = {.version = "model-a", .status = "RUNNING", .f1 = 0.9};
    RT_ASSERT_OK(rt_jbatch_model_put(b, &m));
    RT_ASSERT_OK(rt_jbatch_model_set_active(b, "model-a", 1));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
}

static void service_open(struct fx *f)
{
    RT_ASSERT_OK(rt_machine_new(&f->env, &f->m));
    RT_ASSERT_OK(rt_machine_resume(f->m));
    RT_ASSERT_OK(rt_detect_new(f->m, &f->d));
    RT_ASSERT_OK(rt_detect_start(f->d));
}

/* The daemon's first two stops: the service, then the machine (*closed becomes 1). */
static void service_stop_machine(struct fx *f, int *closed)
{
    rt_detect_stop(f->d);
    rt_machine_close(f->m, set_flag, closed);
    RUN_UNTIL(f, *closed == 1);
}

/* Stops the way the daemon does: service, machine, then the final flush. */
static void service_close(struct fx *f)
{
    int closed = 0;
    service_stop_machine(f, &closed);
    rt_detect_close(f->d, set_flag, &closed);
    RUN_UNTIL(f, closed == 2);
    f->m = NULL;
    f->d = NULL;
}

static void fx_open(struct fx *f, const char *name, bool model, bool review)
{
    memset(f, 0, sizeof(*f));
    f->alloc_base = rt_alloc_live();
    snprintf(f->dir, sizeof(f->dir), "%s/%s", rt_test_tmpdir(), name);
    snprintf(f->root, sizeof(f->root), "%s/bucket", f->dir);
    snprintf(f->logpath, sizeof(f->logpath), "%s/%s.log", rt_test_tmpdir(), name);
    f->logfd = open(f->logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    RT_ASSERT(f->logfd >= 0);
    rt_log_set_fd(f->logfd);
    RT_ASSERT_OK(uv_loop_init(&f->loop));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_mkdir_p(f->dir, 0755));
    int rc = rt_journal_open(f->dir, RT_JOURNAL_READWRITE, &f->j, &err);
    if (rc)
        RT_FAIL("journal: %s", err.msg);
    if (model)
        seed_model(f->j);
    /* A transition blocked by another connection fails quickly and is retried. */
    rt_journal_set_busy_timeout(f->j, 50);
    RT_ASSERT_OK(rt_journal_writer_start(f->j, &f->loop, &err));
    struct rt_store_local_opts so = {.root = f->root};
    RT_ASSERT_OK(rt_store_local_new(&f->loop, &so, &f->store, &err));
    f->eng = rt_calloc(1, sizeof(*f->eng));
    RT_ASSERT(f->eng != NULL);
    f->eng->base.ops = &de_ops;
    RT_ASSERT_OK(rt_defer_init(&f->eng->q, &f->loop));
    if (review)
        f->review = fr_new(&f->loop);
    f->cfg.store.prefixes.labeled = p_labeled;
    f->cfg.store.prefixes.detection = p_detection;
    f->cfg.store.prefixes.results = p_results;
    f->cfg.store.prefixes.manifests = p_manifests;
    f->cfg.store.scan_ms = 50;
    f->cfg.detection.concurrency = 4;
    f->cfg.detection.results_flush_ms = 3600 * 1000; /* flushed by the tests or at close */
    f->cfg.review.workers_per_image = 1;
    rt_param_set_defaults(&f->params);
    f->params.v[RT_P_MIN_CONFIDENCE].f = 70;
    f->params.v[RT_P_ENABLE_A2I].b = true;
    f->env = (struct rt_workflow_env){.loop = &f->loop,
                                      .journal = f->j,
                                      .store = f->store,
                                      .engine = &f->eng->base,
                                      .review = review ? &f->review->base : NULL,
                                      .cfg = &f->cfg,
                                      .params = &f->params,
                                      .outbox_kick = on_kick,
                                      .ud = f,
                                      .engine_poll_ms = 1,
                                      .persist_retry_ms = 5};
    RT_ASSERT_OK(uv_timer_init(&f->loop, &f->tick));
    /* Two label folders: the options of review tasks. */
    write_file(f, "images_labeled_by_folder/cat/c1.png", "x");
    write_file(f, "images_labeled_by_folder/dog/d1.png", "x");
}

static void fx_close(struct fx *f)
{
    if (f->d)
        service_close(f);
    int closed = 0;
    f->eng->base.ops->close(&f->eng->base, set_flag, &closed);
    RUN_UNTIL(f, closed == 1);
    if (f->review) {
        f->review->base.ops->close(&f->review->base, set_flag, &closed);
        RUN_UNTIL(f, closed == 2);
    }
    int before = closed;
    f->store->ops->close(f->store, set_flag, &closed);
    RUN_UNTIL(f, closed == before + 1);
    rt_journal_writer_close(f->j, set_flag, &closed);
    RUN_UNTIL(f, closed == before + 2);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&f->loop), 0);
    rt_journal_close(f->j);
    rt_log_set_fd(2);
    close(f->logfd);
    RT_ASSERT_INT_EQ(rt_alloc_live(), f->alloc_base);
}

/* ---- journal reads ---- */

struct rows {
    int n;
    struct rt_detection_row r[64];
};

static int collect(const struct rt_detection_row *r, void *ud)
{
    struct rows *rows = ud;
    if (rows->n < 64)
        rows->r[rows->n++] = *r;
    return 0;
}

static struct rows *detected_rows(struct fx *f)
{
    struct rows *rows = rt_calloc(1, sizeof(*rows));
    RT_ASSERT(rows != NULL);
    RT_ASSERT_OK(rt_journal_detection_detected_after(f->j, 0, 64, collect, rows));
    return rows;
}

static const struct rt_detection_row *row_of(struct rows *rows, int n)
{
    char key[200];
    snprintf(key, sizeof(key), "images_for_detection/img-%03d.png", n);
    for (int i = 0; i < rows->n; i++)
        if (strcmp(rows->r[i].key, key) == 0)
            return &rows->r[i];
    return NULL;
}

static struct rt_detection_counts counts(struct fx *f)
{
    struct rt_detection_counts c;
    RT_ASSERT_OK(rt_journal_detection_counts(f->j, &c));
    return c;
}

struct execs {
    int n, by_state_n;
    const char *state;
    char ids[64][64];
};

static int count_exec(const struct rt_journal_exec *e, void *ud)
{
    struct execs *x = ud;
    if (!x->state || strcmp(e->state, x->state) == 0) {
        if (x->n < 64)
            rt_strlcpy(x->ids[x->n], e->id, sizeof(x->ids[0]));
        x->n++;
    }
    return 0;
}

/* Executions of workflow in state (any state when NULL). */
static struct execs execs_in(struct fx *f, const char *workflow, const char *state)
{
    struct execs x = {.state = state};
    struct rt_journal_exec_filter flt = {.workflow = workflow, .limit = 1000};
    RT_ASSERT_OK(rt_journal_exec_list(f->j, &flt, count_exec, &x));
    return x;
}

static int detected_total(struct fx *f)
{
    struct rt_detection_counts c = counts(f);
    return (int)(c.detected + c.duplicate + c.failed);
}

/* ---- 1. routing ---- */

RT_TEST(routes_by_confidence_and_review_switch)
{
    struct fx f;
    fx_open(&f, "route", true, true);
    drop(&f, 1, "cat:95");
    drop(&f, 2, "dog:40");
    service_open(&f);
    RUN_UNTIL(&f, detected_total(&f) == 2 && f.review->n == 1);
    f.params.v[RT_P_ENABLE_A2I].b = false;
    drop(&f, 3, "dog:40");
    RUN_UNTIL(&f, detected_total(&f) == 3);
    struct rows *rows = detected_rows(&f);
    RT_ASSERT_STR_EQ(row_of(rows, 1)->route, RT_ROUTE_ACCEPTED);
    RT_ASSERT_STR_EQ(row_of(rows, 1)->label, "cat");
    RT_ASSERT(row_of(rows, 1)->confidence == 95);
    RT_ASSERT(row_of(rows, 1)->threshold == 70);
    RT_ASSERT_STR_EQ(row_of(rows, 1)->model_version, "model-a");
    RT_ASSERT_INT_EQ((int)strlen(row_of(rows, 1)->content_hash), 64);
    RT_ASSERT(row_of(rows, 1)->request_id[0] != '\0');
    RT_ASSERT_STR_EQ(row_of(rows, 2)->route, RT_ROUTE_REVIEW);
    RT_ASSERT(row_of(rows, 2)->review_enabled);
    RT_ASSERT_STR_EQ(row_of(rows, 3)->route, RT_ROUTE_ACCEPTED_LOW);
    RT_ASSERT(!row_of(rows, 3)->review_enabled);
    /* The review task: id from the execution, options = label folders + None of the Above. */
    struct fr_task *t = &f.review->t[0];
    char want[80];
    RT_ASSERT_OK(rt_review_task_id(row_of(rows, 2)->exec_id, want, sizeof(want)));
    RT_ASSERT_STR_EQ(t->id, want);
    RT_ASSERT_STR_EQ(t->source, RT_REVIEW_SOURCE_DETECTION);
    RT_ASSERT_INT_EQ((int)t->n_options, 3);
    RT_ASSERT_STR_EQ(t->options[0], "cat");
    RT_ASSERT_STR_EQ(t->options[1], "dog");
    RT_ASSERT_STR_EQ(t->detected_label, "dog");
    rt_free(rows);
    RT_ASSERT_INT_EQ(execs_in(&f, "detection", "ACCEPTED").n, 2);
    fx_close(&f);
}

/* ---- notifications: one per task, or one digest when the queue is long ---- */

struct kinds {
    int requested, answered, digest;
    char digest_subject[200], digest_body[400]; /* the last digest as people read it */
};

static int count_kind(const struct rt_journal_outbox *o, void *ud)
{
    struct kinds *k = ud;
    k->requested += strcmp(o->kind, "review.requested") == 0;
    k->answered += strcmp(o->kind, "review.answered") == 0;
    k->digest += strcmp(o->kind, "review.digest") == 0;
    if (strcmp(o->kind, "review.digest") == 0) {
        struct rt_event ev;
        void *holder = NULL;
        RT_ASSERT_OK(rt_event_from_json(o->event, &ev, &holder));
        struct rt_buf subject, body;
        rt_buf_init(&subject, 4096);
        rt_buf_init(&body, 4096);
        RT_ASSERT_OK(rt_event_format(&ev, &subject, &body));
        snprintf(k->digest_subject, sizeof(k->digest_subject), "%s", subject.data);
        snprintf(k->digest_body, sizeof(k->digest_body), "%s", body.data);
        rt_buf_cleanup(&subject);
        rt_buf_cleanup(&body);
        rt_event_holder_free(holder);
    }
    return 0;
}

static struct kinds outbox_kinds(struct fx *f)
{
    struct kinds k = {0};
    RT_ASSERT_OK(rt_journal_outbox_due(f->j, INT64_MAX, 1000, count_kind, &k));
    return k;
}

RT_TEST(review_requested_then_answered_notifications)
{
    struct fx f;
    fx_open(&f, "notes", true, true);
    drop(&f, 1, "dog:30");
    service_open(&f);
    RUN_UNTIL(&f, f.review->n == 1 && f.review->t[0].cb != NULL);
    RT_ASSERT_INT_EQ(outbox_kinds(&f).requested, 1);
    fr_answer(f.review, task_of_first(&f), "dog");
    RUN_UNTIL(&f, execs_in(&f, "detection", "DONE").n == 1);
    struct kinds k = outbox_kinds(&f);
    RT_ASSERT_INT_EQ(k.requested, 1);
    RT_ASSERT_INT_EQ(k.answered, 1);
    RT_ASSERT_INT_EQ(k.digest, 0);
    fx_close(&f);
}

/* 25 open tasks already: new low-confidence detections raise one digest, no per-task mail. */
static void seed_open_tasks(struct fx *f)
{
    char path[800];
    snprintf(path, sizeof(path), "%s/%s", f->dir, RT_JOURNAL_FILE);
    sqlite3 *db;
    RT_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
    for (int i = 0; i < 25; i++) {
        char sql[400];
        snprintf(sql, sizeof(sql),
                 "INSERT INTO review_tasks (id, source, key, options, state, created_at) VALUES "
                 "('rt-old-%d', 'detection', 'images_for_detection/old-%d.png', '[]', 'open', %d)",
                 i, i, 1000 + i);
        RT_ASSERT(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK);
    }
    sqlite3_close(db);
}

RT_TEST(a_long_review_queue_sends_one_digest_an_hour)
{
    struct fx f;
    fx_open(&f, "digest", true, true);
    seed_open_tasks(&f);
    for (int i = 0; i < 3; i++)
        drop(&f, i, "dog:30");
    service_open(&f);
    RUN_UNTIL(&f, execs_in(&f, "detection", "WAIT_ANSWER").n == 3);
    struct kinds k = outbox_kinds(&f);
    RT_ASSERT_INT_EQ(k.requested, 0);
    RT_ASSERT_INT_EQ(k.digest, 1);
    /* The digest says how many are open (the 25 seeded; the fake driver keeps new ones in memory)
     * and how long the oldest has waited: seeded 1 s after the epoch, so decades of minutes. */
    int open = 0;
    RT_ASSERT(sscanf(k.digest_subject, "[retraind] %d review tasks are waiting", &open) == 1);
    RT_ASSERT(open >= 25 && open <= 28);
    long long minutes = 0;
    const char *waited = strstr(k.digest_body, "the oldest has waited ");
    RT_ASSERT(waited && sscanf(waited, "the oldest has waited %lld minutes", &minutes) == 1);
    RT_ASSERT(minutes > 29000000LL); /* 2026 minus 1970, in minutes */
    fx_close(&f);
}

/* ---- 2. no model: wait ---- */

static void deployed(int status, const struct rt_error *err, void *ud)
{
    (void)err;
    RT_ASSERT_OK(status);
    (*(int *)ud)++;
}

RT_TEST(images_wait_for_a_model_then_run)
{
    struct fx f;
    fx_open(&f, "nomodel", false, false);
    for (int i = 0; i < 5; i++)
        drop(&f, i, "cat:90");
    service_open(&f);
    RUN_UNTIL(&f, counts(&f).queued == 5);
    run_for(&f, 300);
    RT_ASSERT_INT_EQ(f.eng->detects, 0);
    RT_ASSERT_INT_EQ(execs_in(&f, "detection", NULL).n, 0);
    /* A version is deployed: the next tick notices. */
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    struct rt_journal_model m = {.version = "model-b", .status = "RUNNING", .f1 = 0.9};
    RT_ASSERT_OK(rt_jbatch_model_put(b, &m));
    RT_ASSERT_OK(rt_jbatch_model_set_active(b, "model-b", 2));
    int done = 0;
    RT_ASSERT_OK(rt_journal_submit(f.j, b, deployed, &done));
    RUN_UNTIL(&f, done == 1);
    RUN_UNTIL(&f, counts(&f).detected == 5);
    struct rows *rows = detected_rows(&f);
    RT_ASSERT_STR_EQ(rows->r[0].model_version, "model-b");
    rt_free(rows);
    fx_close(&f);
}

/* ---- 3. once per (key, etag), and once per content ---- */

RT_TEST(key_and_etag_detected_once_across_rescans_and_restarts)
{
    struct fx f;
    fx_open(&f, "once", true, false);
    drop(&f, 1, "cat:90");
    drop(&f, 2, "dog:90");
    service_open(&f);
    RUN_UNTIL(&f, counts(&f).detected == 2);
    run_for(&f, 400); /* several rescans */
    service_close(&f);
    service_open(&f); /* a restart */
    run_for(&f, 400);
    RT_ASSERT_INT_EQ(f.eng->detects, 2);
    RT_ASSERT_INT_EQ(execs_in(&f, "detection", NULL).n, 2);
    /* The same bytes under a new etag: detected as a duplicate, engine not asked. */
    char path[2000];
    snprintf(path, sizeof(path), "%s/images_for_detection/img-001.png", f.root);
    struct timespec ts[2] = {{.tv_sec = 1000000000}, {.tv_sec = 1000000000}};
    RT_ASSERT(utimensat(AT_FDCWD, path, ts, 0) == 0);
    RUN_UNTIL(&f, counts(&f).duplicate == 1);
    RT_ASSERT_INT_EQ(f.eng->detects, 2);
    /* New content under the same key: a new detection. */
    drop(&f, 2, "cat:91");
    RUN_UNTIL(&f, counts(&f).detected == 3);
    RT_ASSERT_INT_EQ(f.eng->detects, 3);
    fx_close(&f);
}

RT_TEST(a_file_still_changing_is_not_taken)
{
    struct fx f;
    fx_open(&f, "settle", true, false);
    f.cfg.store.scan_ms = 3600 * 1000; /* only the start and the watch's events scan */
    service_open(&f);
    /* Written in place, a byte every 10 ms: its size differs on every look. */
    char dir[2000], path[2100];
    snprintf(dir, sizeof(dir), "%s/images_for_detection", f.root);
    RT_ASSERT_OK(rt_mkdir_p(dir, 0755));
    snprintf(path, sizeof(path), "%s/img-007.png", dir);
    FILE *fp = fopen(path, "w");
    RT_ASSERT(fp != NULL);
    for (int i = 0; i < 100; i++) {
        fputc('c', fp);
        fflush(fp);
        run_for(&f, 10);
        RT_ASSERT_INT_EQ((int)counts(&f).queued + (int)counts(&f).detected, 0);
    }
    struct rt_detect_stats st;
    rt_detect_stats(f.d, &st);
    RT_ASSERT(st.scans >= 2); /* it was looked at, more than once */
    fputs(":90", fp);
    fclose(fp);
    RUN_UNTIL(&f, counts(&f).detected == 1);
    struct rows *rows = detected_rows(&f);
    char want[101];
    memset(want, 'c', 100);
    want[100] = '\0';
    RT_ASSERT_STR_EQ(rows->r[0].label, want);
    rt_free(rows);
    fx_close(&f);
}

/* ---- 4. bounded in-flight ---- */

RT_TEST(at_most_concurrency_detections_at_once)
{
    struct fx f;
    fx_open(&f, "bounded", true, false);
    f.cfg.detection.concurrency = 3;
    for (int i = 0; i < 20; i++)
        drop(&f, i, "cat:90");
    f.eng->hold = true;
    service_open(&f);
    RUN_UNTIL(&f, counts(&f).queued + counts(&f).detecting == 20 && f.eng->running == 3);
    run_for(&f, 200);
    RT_ASSERT_INT_EQ(f.eng->running, 3);
    struct rt_detect_stats st;
    rt_detect_stats(f.d, &st);
    RT_ASSERT_INT_EQ((int)st.in_flight, 3);
    while (counts(&f).detected < 20) {
        de_release(f.eng);
        run_for(&f, 20);
    }
    RT_ASSERT_INT_EQ(f.eng->max_running, 3);
    RT_ASSERT_INT_EQ(f.eng->detects, 20);
    /* Dispatched by seq: the first detection is the first file queued. */
    f.eng->hold = false;
    fx_close(&f);
}

RT_TEST(throttled_detections_slow_down_and_none_fails)
{
    struct fx f;
    fx_open(&f, "throttle", true, false);
    f.cfg.detection.concurrency = 8;
    for (int i = 0; i < 16; i++)
        drop(&f, i, "cat:90");
    f.eng->throttle_left = 8;
    service_open(&f);
    /* The first 8 calls are throttled: the limit halves (once), they wait and come back. */
    RUN_UNTIL(&f, f.eng->throttle_left == 0 && f.eng->running == 0);
    f.eng->hold = true;
    f.eng->max_running = 0;
    run_for(&f, 2500);
    RT_ASSERT(f.eng->running > 0);
    RT_ASSERT(f.eng->max_running <= 4);
    while (counts(&f).detected < 16) {
        de_release(f.eng);
        run_for(&f, 20);
    }
    RT_ASSERT_INT_EQ(counts(&f).failed, 0);
    RT_ASSERT_INT_EQ(f.eng->detects, 24);
    f.eng->hold = false;
    fx_close(&f);
}

/* ---- 5. review: no timer while waiting, fold, None of the Above ---- */

static struct rt_exec *find_exec(struct fx *f, const char *id)
{
    for (struct rt_exec *x = f->m->execs; x; x = x->next)
        if (strcmp(x->id, id) == 0)
            return x;
    return NULL;
}

RT_TEST(wait_answer_costs_no_timer_then_folds_once)
{
    struct fx f;
    fx_open(&f, "fold", true, true);
    drop(&f, 1, "dog:30");
    service_open(&f);
    RUN_UNTIL(&f, execs_in(&f, "detection", "WAIT_ANSWER").n == 1 && f.review->t[0].cb != NULL);
    char id[64];
    rt_strlcpy(id, execs_in(&f, "detection", "WAIT_ANSWER").ids[0], sizeof(id));
    struct rt_exec *x = find_exec(&f, id);
    RT_ASSERT(x != NULL);
    run_for(&f, 100);
    RT_ASSERT(!uv_is_active((uv_handle_t *)&x->timer));
    RT_ASSERT(x->parked);
    RT_ASSERT_INT_EQ(f.review->t[0].waits, 1); /* not polled */
    /* A restart: the execution waits again (a second waiter registration), still no timer. */
    service_close(&f);
    RT_ASSERT(f.review->unwaits >= 1);
    service_open(&f);
    RUN_UNTIL(&f, f.review->t[0].cb != NULL);
    RT_ASSERT_INT_EQ(f.review->t[0].waits, 2);
    RT_ASSERT_INT_EQ(f.review->creates, 1);
    fr_answer(f.review, task_of(&f, 0), "cat");
    RUN_UNTIL(&f, execs_in(&f, "detection", "DONE").n == 1);
    char copy[300];
    snprintf(copy, sizeof(copy), "images_labeled_by_folder/cat/humanLoopName-%s-img-001.png",
             task_of(&f, 0));
    RT_ASSERT(file_exists(&f, copy));
    RT_ASSERT_INT_EQ(count_files(&f, "images_labeled_by_folder/cat"), 2); /* c1 and the copy */
    fx_close(&f);
}

/* FOLD's transition cannot be written the first time: FOLD runs again and finds its copy. */
static sqlite3 *lock_db;
static struct fx *lock_fx;
static uv_check_t lock_check;

static void lock_in_fold(uv_check_t *h)
{
    struct fx *f = lock_fx;
    (void)h;
    if (lock_db || execs_in(f, "detection", "FOLD").n != 1)
        return;
    char path[800];
    snprintf(path, sizeof(path), "%s/%s", f->dir, RT_JOURNAL_FILE);
    RT_ASSERT(sqlite3_open(path, &lock_db) == SQLITE_OK);
    RT_ASSERT(sqlite3_exec(lock_db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    uv_check_stop(&lock_check);
}

RT_TEST(fold_repeated_makes_one_copy)
{
    struct fx f;
    fx_open(&f, "fold2", true, true);
    drop(&f, 4, "dog:30");
    service_open(&f);
    RUN_UNTIL(&f, f.review->n == 1 && f.review->t[0].cb != NULL);
    lock_fx = &f;
    uv_check_init(&f.loop, &lock_check);
    uv_check_start(&lock_check, lock_in_fold);
    fr_answer(f.review, task_of(&f, 0), "dog");
    RUN_UNTIL(&f, lock_db != NULL);
    /* FOLD's first transition fails while the lock is held; let it try a few times. */
    int64_t failures_at = rt_mono_ms() + 300;
    RUN_UNTIL(&f, rt_mono_ms() > failures_at);
    RT_ASSERT(sqlite3_exec(lock_db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(lock_db);
    lock_db = NULL;
    RUN_UNTIL(&f, execs_in(&f, "detection", "DONE").n == 1);
    uv_close((uv_handle_t *)&lock_check, NULL);
    RT_ASSERT_INT_EQ(count_files(&f, "images_labeled_by_folder/dog"), 2); /* d1 and one copy */
    fx_close(&f);
}

RT_TEST(none_of_the_above_copies_nothing)
{
    struct fx f;
    fx_open(&f, "nota", true, true);
    drop(&f, 5, "cat:10");
    service_open(&f);
    RUN_UNTIL(&f, f.review->n == 1 && f.review->t[0].cb != NULL);
    fr_answer(f.review, task_of(&f, 0), RT_REVIEW_NONE_OF_THE_ABOVE);
    RUN_UNTIL(&f, execs_in(&f, "detection", "DISCARD").n == 1);
    RT_ASSERT_INT_EQ(count_files(&f, "images_labeled_by_folder/cat"), 1);
    RT_ASSERT_INT_EQ(count_files(&f, "images_labeled_by_folder/dog"), 1);
    fx_close(&f);
}

/* ---- 6. results ---- */

/* Reads every results file: lines into keys (joined by '\n'); returns the line count. */
static int read_results(struct fx *f, char *keys, size_t size, char *name, size_t name_size)
{
    char cmd[1500];
    snprintf(cmd, sizeof(cmd), "find %s/detection-results -name '*.jsonl' | sort", f->root);
    FILE *p = popen(cmd, "r");
    RT_ASSERT(p != NULL);
    char path[1200];
    int n = 0;
    keys[0] = '\0';
    name[0] = '\0';
    while (fgets(path, sizeof(path), p)) {
        path[strcspn(path, "\n")] = '\0';
        rt_strlcpy(name, path + strlen(f->root) + 1, name_size);
        FILE *fp = fopen(path, "r");
        RT_ASSERT(fp != NULL);
        char line[4096];
        while (fgets(line, sizeof(line), fp)) {
            cJSON *o = cJSON_Parse(line);
            RT_ASSERT(o != NULL);
            static const char *const fields[] = {
                "key",        "etag",          "content_hash",   "request_id", "label",
                "route",      "model_version", "review_enabled", "sampled",    "detected_at",
                "confidence", "threshold",     "execution_id"};
            for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
                if (!cJSON_HasObjectItem(o, fields[i]))
                    RT_FAIL("result line without %s: %s", fields[i], line);
            size_t len = strlen(keys);
            snprintf(keys + len, size - len, "%s\n", cJSON_GetObjectItem(o, "key")->valuestring);
            cJSON_Delete(o);
            n++;
        }
        fclose(fp);
    }
    pclose(p);
    return n;
}

RT_TEST(results_flushed_in_batches_named_by_first_execution)
{
    struct fx f;
    fx_open(&f, "results", true, false);
    for (int i = 0; i < 6; i++)
        drop(&f, i, "cat:90");
    service_open(&f);
    RUN_UNTIL(&f, counts(&f).detected == 6);
    RT_ASSERT_INT_EQ((int)counts(&f).unflushed, 6);
    service_close(&f); /* the flush at shutdown */
    RT_ASSERT_INT_EQ((int)counts(&f).unflushed, 0);
    char keys[4096], name[1200];
    RT_ASSERT_INT_EQ(read_results(&f, keys, sizeof(keys), name, sizeof(name)), 6);
    /* detection-results/YYYY/MM/DD/HH/<first execution id>.jsonl, the first by seq. */
    struct rt_detection_row first;
    struct rows *rows = detected_rows(&f);
    first = rows->r[0];
    rt_free(rows);
    time_t t = (time_t)(first.detected_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char want[300];
    snprintf(want, sizeof(want), "detection-results/%04d/%02d/%02d/%02d/%s.jsonl",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, first.exec_id);
    RT_ASSERT_STR_EQ(name, want);
    RT_ASSERT_STR_EQ(first.result_key, want);
    RT_ASSERT(first.flushed_ms > 0);
    fx_close(&f);
}

static int plan_all(const struct rt_detection_row *r, void *ud)
{
    struct rows *rows = ud;
    rows->r[rows->n++] = *r;
    return 0;
}

RT_TEST(results_batch_planned_before_a_crash_is_rewritten_whole)
{
    struct fx f;
    fx_open(&f, "rewrite", true, false);
    for (int i = 0; i < 4; i++)
        drop(&f, i, "cat:90");
    service_open(&f);
    RUN_UNTIL(&f, counts(&f).detected == 4);
    /* A crash after the plan, before the file: plan the batch as the flusher does, and leave a
     * torn file with one line where the file goes. */
    struct rows *rows = rt_calloc(1, sizeof(*rows));
    RT_ASSERT(rows != NULL);
    RT_ASSERT_OK(rt_journal_detection_unplanned(f.j, 1000, plan_all, rows));
    RT_ASSERT_INT_EQ(rows->n, 4);
    char key[300];
    snprintf(key, sizeof(key), "detection-results/planned/%s.jsonl", rows->r[0].exec_id);
    int64_t seqs[4];
    for (int i = 0; i < 4; i++)
        seqs[i] = rows->r[i].seq;
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_detection_plan(b, key, seqs, 4));
    int done = 0;
    RT_ASSERT_OK(rt_journal_submit(f.j, b, deployed, &done));
    RUN_UNTIL(&f, done == 1);
    write_file(&f, key, "{\"key\":\"torn\"}\n");
    /* More detections after the crash. */
    drop(&f, 10, "dog:90");
    RUN_UNTIL(&f, counts(&f).detected == 5);
    service_close(&f);
    /* The planned file holds exactly its four rows; the fifth is in a file of its own. */
    char keys[4096], name[1200];
    RT_ASSERT_INT_EQ(read_results(&f, keys, sizeof(keys), name, sizeof(name)), 5);
    RT_ASSERT(strstr(keys, "torn") == NULL);
    for (int i = 0; i < 4; i++)
        RT_ASSERT_CONTAINS(keys, rows->r[i].key);
    RT_ASSERT_CONTAINS(keys, "img-010.png");
    RT_ASSERT_INT_EQ((int)counts(&f).unflushed, 0);
    /* A second start writes nothing again. */
    service_open(&f);
    run_for(&f, 100);
    service_close(&f);
    RT_ASSERT_INT_EQ(read_results(&f, keys, sizeof(keys), name, sizeof(name)), 5);
    rt_free(rows);
    fx_close(&f);
}

/* Watches, once per loop turn, how many chunks of a results file were formatted since the last
 * turn: a batch must never be formatted in one go, which would hold the loop for its whole
 * length. */
struct chunk_watch {
    uv_check_t check;
    struct rt_detect *d;
    const int *closed;
    int64_t last, max_per_turn;
};

static void on_chunk_check(uv_check_t *c)
{
    struct chunk_watch *w = c->data;
    if (*w->closed >= 2)
        return; /* the service is gone */
    struct rt_detect_stats s;
    rt_detect_stats(w->d, &s);
    if (s.build_chunks - w->last > w->max_per_turn)
        w->max_per_turn = s.build_chunks - w->last;
    w->last = s.build_chunks;
}

static void set_flag_stop(void *ud)
{
    uv_loop_t *loop = ud;
    (*(int *)loop->data)++;
    uv_stop(loop);
}

RT_TEST(results_file_formatted_one_chunk_per_loop_turn)
{
    struct fx f;
    fx_open(&f, "chunks", true, false);
    for (int i = 0; i < 250; i++)
        drop(&f, i, "cat:90");
    service_open(&f);
    RUN_UNTIL(&f, counts(&f).detected == 250);
    RT_ASSERT_INT_EQ((int)counts(&f).unflushed, 250);
    int closed = 0;
    struct chunk_watch w = {.d = f.d, .closed = &closed};
    struct rt_detect_stats s;
    rt_detect_stats(f.d, &s);
    w.last = s.build_chunks;
    RT_ASSERT_OK(uv_check_init(&f.loop, &w.check));
    w.check.data = &w;
    RT_ASSERT_OK(uv_check_start(&w.check, on_chunk_check));
    /* service_close, watching: the flush at shutdown writes the 250 lines. */
    service_stop_machine(&f, &closed);
    /* The daemon's mode (UV_RUN_ONCE would run the timers twice between two checks). */
    f.loop.data = &closed;
    rt_detect_close(f.d, set_flag_stop, &f.loop);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(closed, 2);
    f.m = NULL;
    f.d = NULL;
    uv_check_stop(&w.check);
    uv_close((uv_handle_t *)&w.check, NULL);
    RT_ASSERT_INT_EQ((int)counts(&f).unflushed, 0);
    char keys[64 * 1024], name[1200];
    RT_ASSERT_INT_EQ(read_results(&f, keys, sizeof(keys), name, sizeof(name)), 250);
    /* 100 + 100 + 50 rows: three turns, never two chunks in one. */
    RT_ASSERT(w.last >= 3);
    RT_ASSERT_INT_EQ((int)w.max_per_turn, 1);
    fx_close(&f);
}

/* A batch an earlier process planned and never wrote holds results this process never counted:
 * flushing it must not cancel the count of results written here since, or they would wait for
 * the next result (or the shutdown) to be flushed. */
RT_TEST(results_counted_here_survive_a_batch_planned_by_an_earlier_process)
{
    struct fx f;
    fx_open(&f, "recount", true, false);
    for (int i = 0; i < 4; i++)
        drop(&f, i, "cat:90");
    service_open(&f);
    RUN_UNTIL(&f, counts(&f).detected == 4);
    service_close(&f); /* flushes the four */
    RT_ASSERT_INT_EQ((int)counts(&f).unflushed, 0);
    f.cfg.detection.results_flush_ms = 1000;
    service_open(&f);
    drop(&f, 10, "dog:90");
    drop(&f, 11, "dog:90");
    RUN_UNTIL(&f, counts(&f).detected == 6);
    RT_ASSERT_INT_EQ((int)counts(&f).unflushed, 2);
    /* The state a crash leaves: the four first results planned into a file never written (as if
     * planned by the earlier process), found by the next periodic flush. */
    char path[800];
    snprintf(path, sizeof(path), "%s/%s", f.dir, RT_JOURNAL_FILE);
    sqlite3 *db;
    RT_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    RT_ASSERT(sqlite3_exec(db,
                           "UPDATE detections SET flushed_at = NULL, result_key = "
                           "'detection-results/replanned.jsonl' WHERE key < "
                           "'images_for_detection/img-010.png'",
                           NULL, NULL, NULL) == SQLITE_OK);
    RT_ASSERT_INT_EQ(sqlite3_changes(db), 4);
    sqlite3_close(db);
    /* Two periods: the first writes the planned batch, the second the two results of this
     * process. Nothing new is detected meanwhile. */
    run_for(&f, 2600);
    RT_ASSERT(file_exists(&f, "detection-results/replanned.jsonl"));
    RT_ASSERT_INT_EQ((int)counts(&f).unflushed, 0);
    service_close(&f);
    fx_close(&f);
}

/* ---- 7. sampling ---- */

struct agreement {
    int64_t answered, agreed;
};

static int agree_cb(const char *v, int64_t answered, int64_t agreed, void *ud)
{
    struct agreement *a = ud;
    RT_ASSERT_STR_EQ(v, "model-a");
    a->answered = answered;
    a->agreed = agreed;
    return 0;
}

RT_TEST(sampling_interval_three_of_nine_makes_three_tasks)
{
    struct fx f;
    fx_open(&f, "sampling", true, true);
    f.params.v[RT_P_SAMPLING_INTERVAL].i = 3;
    for (int i = 0; i < 9; i++)
        drop(&f, i, "cat:95");
    service_open(&f);
    RUN_UNTIL(&f, counts(&f).detected == 9);
    RT_ASSERT_OK(rt_detect_trigger_sampling(f.d));
    RUN_UNTIL(&f, f.review->n == 3 && f.review->t[0].cb && f.review->t[1].cb && f.review->t[2].cb);
    for (int i = 0; i < 3; i++)
        RT_ASSERT_STR_EQ(f.review->t[i].source, RT_REVIEW_SOURCE_SAMPLING);
    /* The 3rd, 6th and 9th by seq. */
    struct rows *rows = detected_rows(&f);
    int sampled = 0;
    for (int i = 0; i < rows->n; i++) {
        RT_ASSERT_INT_EQ(rows->r[i].sampled, (i + 1) % 3 == 0);
        sampled += rows->r[i].sampled;
    }
    RT_ASSERT_INT_EQ(sampled, 3);
    rt_free(rows);
    /* A second round right away finds nothing new. */
    RT_ASSERT_OK(rt_detect_trigger_sampling(f.d));
    run_for(&f, 100);
    RT_ASSERT_INT_EQ(f.review->n, 3);
    fr_answer(f.review, task_of(&f, 0), "cat");
    fr_answer(f.review, task_of(&f, 1), "cat");
    fr_answer(f.review, task_of(&f, 2), "dog");
    RUN_UNTIL(&f, execs_in(&f, "sampling", "DONE").n == 3);
    struct agreement a = {0};
    RT_ASSERT_OK(rt_journal_sampling_agreement(f.j, agree_cb, &a));
    RT_ASSERT_INT_EQ((int)a.answered, 3);
    RT_ASSERT_INT_EQ((int)a.agreed, 2);
    /* Sampled answers are never folded. */
    RT_ASSERT_INT_EQ(count_files(&f, "images_labeled_by_folder/cat"), 1);
    RT_ASSERT_INT_EQ(count_files(&f, "images_labeled_by_folder/dog"), 1);
    fx_close(&f);
}
