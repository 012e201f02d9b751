/*
 * test_workflow_machine.c - the workflow machine (src/workflow/machine.c) and the training table
 * driven end to end with fake drivers (workflow_fakes.h), the real journal and its writer thread.
 *
 * Each case checks one promise of DESIGN.md "Workflows": a training runs to DONE with its states
 * and notifications recorded; RT_EBUSY is waited for a bounded number of polls; a training the
 * engine keeps losing fails after MAX_RETRAINS; a transition that cannot be written leaves nothing
 * behind and its notification is written exactly once when the step reruns; the deployed
 * notification commits with the switch; a graceful stop is not counted against a training but a
 * crash is; an unchanged NOT_MET check adds no execution; untrained images are counted by key;
 * and a step whose transition could not be written reruns from the context it found, so a retrain
 * or a restart after a graceful stop is counted once however often its write failed.
 *
 * Design: a lock is taken at an exact point by a uv_check_t that reads the journal after every
 * poll phase. The writer's completion runs in the poll phase and schedules the next step on a
 * zero timer, which fires on the next iteration: so when the check sees an execution enter a
 * state, that state's step has not run yet, and its transition is the next write.
 */
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/workflow.h"
#include "rt_test.h"
#include "workflow_fakes.h"

/* training.c's limits (private there): the cases below count against them. */
#define MAX_RETRAINS 3
#define MAX_BUSY_WAITS 120

#define MAX_KICKS 16

/* What the outbox held, by kind. */
struct outbox_counts {
    int started, finished, deployed, not_deployed, failed, not_met, total;
};

/* What the journal held at one moment: when outbox_kick ran, or when the watched execution had
 * just entered state. */
struct seen {
    char state[32];
    struct outbox_counts rows;
    char active[128]; /* the active model version, "" for none */
};

struct fx {
    uv_loop_t loop;
    uv_timer_t tick;  /* wakes the loop while a test waits, so its deadline is noticed */
    uv_check_t watch; /* after each poll phase: records watch_id's states, takes the lock */
    char dir[600];
    char logpath[700];
    int logfd;
    long alloc_base;
    struct rt_journal *j;
    struct fake_store *store;
    struct fake_engine *eng;
    struct rt_config cfg;
    struct rt_param_set params;
    struct rt_workflow_env env;
    struct rt_machine *m;
    sqlite3 *lock_db; /* another connection holding BEGIN IMMEDIATE, or NULL */
    int kicks;
    struct seen seen[MAX_KICKS]; /* at each kick */
    int applied;
    char watch_id[64];
    const char *lock_state; /* take the lock when watch_id enters it */
    struct seen states[32]; /* each state watch_id entered, as the check phase found it */
    int n_states;
};

static char prefix_labeled[] = "images_labeled_by_folder/";
static char prefix_manifests[] = "manifests/";
static char prefix_evaluation[] = "evaluation/";

/* ---- journal reads (the loop's connection) ---- */

static int count_row(const struct rt_journal_outbox *o, void *ud)
{
    struct outbox_counts *c = ud;
    c->total++;
    if (strcmp(o->kind, "training.started") == 0)
        c->started++;
    else if (strcmp(o->kind, "training.finished") == 0)
        c->finished++;
    else if (strcmp(o->kind, "training.deployed") == 0)
        c->deployed++;
    else if (strcmp(o->kind, "training.not_deployed") == 0)
        c->not_deployed++;
    else if (strcmp(o->kind, "workflow.failed") == 0)
        c->failed++;
    else if (strcmp(o->kind, "training.criteria_not_met") == 0)
        c->not_met++;
    return 0;
}

/* Nothing sends in these tests, so every row the outbox ever got is still due. */
static struct outbox_counts outbox(struct fx *f)
{
    struct outbox_counts c = {0};
    RT_ASSERT_OK(rt_journal_outbox_due(f->j, INT64_MAX, 1000, count_row, &c));
    return c;
}

static void active_version(struct fx *f, char *out, size_t size)
{
    struct rt_journal_model m;
    int rc = rt_journal_model_get_active(f->j, &m);
    RT_ASSERT(rc == 0 || rc == RT_ENOTFOUND);
    rt_strlcpy(out, rc == 0 ? m.version : "", size);
}

/* Copies the state of execution id into out ("" when it has no row). */
static const char *exec_state(struct fx *f, const char *id, char *out, size_t size)
{
    struct rt_journal_exec e;
    int rc = rt_journal_exec_get(f->j, id, &e);
    RT_ASSERT(rc == 0 || rc == RT_ENOTFOUND);
    rt_strlcpy(out, rc == 0 ? e.state : "", size);
    if (rc == 0)
        rt_journal_exec_cleanup(&e);
    return out;
}

static bool in_state(struct fx *f, const char *id, const char *state)
{
    char s[32];
    return strcmp(exec_state(f, id, s, sizeof(s)), state) == 0;
}

/* Returns: the context of execution id, parsed (cJSON_Delete it). */
static cJSON *exec_context(struct fx *f, const char *id)
{
    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_get(f->j, id, &e));
    RT_ASSERT(e.context != NULL);
    cJSON *ctx = cJSON_Parse(e.context);
    RT_ASSERT(ctx != NULL);
    rt_journal_exec_cleanup(&e);
    return ctx;
}

/* Returns: the number key of id's context, or -1 when absent. */
static int64_t context_int(struct fx *f, const char *id, const char *key)
{
    cJSON *ctx = exec_context(f, id);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(ctx, key);
    int64_t n = cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
    cJSON_Delete(ctx);
    return n;
}

struct steps {
    char names[1024]; /* "CHECK,MANIFEST,..." */
    int n;
    int graceful_restarts; /* outputs that say a restart after a graceful stop */
    int retrain_outputs;   /* outputs that carry a retrain count */
};

static int add_step(const struct rt_journal_step *s, void *ud)
{
    struct steps *st = ud;
    size_t len = strlen(st->names);
    snprintf(st->names + len, sizeof(st->names) - len, "%s%s", len ? "," : "", s->state);
    st->n++;
    if (s->output && strstr(s->output, "\"restart\":\"after a graceful stop\""))
        st->graceful_restarts++;
    if (s->output && strstr(s->output, "\"retrain\":"))
        st->retrain_outputs++;
    return 0;
}

static struct steps exec_steps(struct fx *f, const char *id)
{
    struct steps st = {{0}, 0, 0, 0};
    RT_ASSERT_OK(rt_journal_step_list(f->j, id, add_step, &st));
    return st;
}

/* Returns: the output of id's first step in state, parsed (cJSON_Delete it). */
static cJSON *step_output(struct fx *f, const char *id, const char *state)
{
    char *text = NULL;
    RT_ASSERT_OK(rt_journal_step_output(f->j, id, state, &text));
    RT_ASSERT(text != NULL);
    cJSON *out = cJSON_Parse(text);
    rt_free(text);
    RT_ASSERT(out != NULL);
    return out;
}

static int64_t json_int(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!cJSON_IsNumber(v))
        RT_FAIL("no number \"%s\"", key);
    return (int64_t)v->valuedouble;
}

static int64_t writer_failures(struct fx *f)
{
    struct rt_journal_writer_stats st;
    rt_journal_writer_stats(f->j, &st);
    return st.failures;
}

/* Returns: true if the captured log has needle. */
static bool log_has(struct fx *f, const char *needle)
{
    FILE *fp = fopen(f->logpath, "r");
    RT_ASSERT(fp != NULL);
    char line[2048];
    bool found = false;
    while (!found && fgets(line, sizeof(line), fp))
        found = strstr(line, needle) != NULL;
    fclose(fp);
    return found;
}

/* ---- another connection holding the write lock ---- */

static void lock_journal(struct fx *f)
{
    char path[700];
    snprintf(path, sizeof(path), "%s/%s", f->dir, RT_JOURNAL_FILE);
    RT_ASSERT(f->lock_db == NULL);
    RT_ASSERT(sqlite3_open(path, &f->lock_db) == SQLITE_OK);
    sqlite3_busy_timeout(f->lock_db, 5000);
    RT_ASSERT(sqlite3_exec(f->lock_db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
}

static void unlock_journal(struct fx *f)
{
    RT_ASSERT(f->lock_db != NULL);
    RT_ASSERT(sqlite3_exec(f->lock_db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(f->lock_db);
    f->lock_db = NULL;
}

static void look(struct fx *f, struct seen *s)
{
    s->rows = outbox(f);
    active_version(f, s->active, sizeof(s->active));
}

static void on_watch(uv_check_t *h)
{
    struct fx *f = h->data;
    if (!f->watch_id[0])
        return;
    char state[32];
    exec_state(f, f->watch_id, state, sizeof(state));
    if (state[0] && (f->n_states == 0 || strcmp(f->states[f->n_states - 1].state, state) != 0)) {
        RT_ASSERT(f->n_states < 32);
        struct seen *s = &f->states[f->n_states++];
        rt_strlcpy(s->state, state, sizeof(s->state));
        look(f, s);
    }
    if (f->lock_state && strcmp(state, f->lock_state) == 0) {
        f->lock_state = NULL;
        lock_journal(f);
    }
}

/* Records each state execution id enters, with what the journal holds then. */
static void watch(struct fx *f, const char *id)
{
    rt_strlcpy(f->watch_id, id, sizeof(f->watch_id));
}

/* Returns: what the journal held when the watched execution had just entered state. */
static const struct seen *seen_in(struct fx *f, const char *state)
{
    for (int i = 0; i < f->n_states; i++)
        if (strcmp(f->states[i].state, state) == 0)
            return &f->states[i];
    RT_FAIL("the watched execution was never seen in %s", state);
}

/* Takes the lock as soon as execution id has entered state, before that state's step runs. */
static void lock_when(struct fx *f, const char *id, const char *state)
{
    watch(f, id);
    f->lock_state = state;
}

/* ---- the hooks ---- */

static void on_kick(void *ud)
{
    struct fx *f = ud;
    if (f->kicks < MAX_KICKS)
        look(f, &f->seen[f->kicks]);
    f->kicks++;
}

static void on_apply(void *ud, enum rt_param_id id)
{
    struct fx *f = ud;
    (void)id;
    f->applied++;
}

/* ---- running the loop ---- */

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until cond holds; fails after 30 s instead of hanging. */
#define RUN_UNTIL(f, cond)                                                                         \
    do {                                                                                           \
        int64_t deadline_ = rt_mono_ms() + 30000;                                                  \
        uv_timer_start(&(f)->tick, on_tick, 2, 2);                                                 \
        while (!(cond)) {                                                                          \
            if (rt_mono_ms() > deadline_)                                                          \
                RT_FAIL("timed out waiting for %s", #cond);                                        \
            uv_run(&(f)->loop, UV_RUN_ONCE);                                                       \
        }                                                                                          \
        uv_timer_stop(&(f)->tick);                                                                 \
    } while (0)

static void set_flag(void *ud)
{
    (*(int *)ud)++;
}

/* ---- the fixture ---- */

typedef void seed_fn(struct rt_journal *j);

static void machine_open(struct fx *f)
{
    RT_ASSERT(f->m == NULL);
    RT_ASSERT_OK(rt_machine_new(&f->env, &f->m));
}

static void machine_close(struct fx *f)
{
    int closed = 0;
    rt_machine_close(f->m, set_flag, &closed);
    f->m = NULL;
    RUN_UNTIL(f, closed);
    RT_ASSERT_INT_EQ(closed, 1);
}

/* Opens the journal in a folder of its own, applies seed's batches (before the writer starts:
 * the loop's connection writes only then), starts the writer, the fakes and a machine. */
static void fx_open(struct fx *f, const char *name, seed_fn *seed)
{
    memset(f, 0, sizeof(*f));
    f->alloc_base = rt_alloc_live();
    snprintf(f->dir, sizeof(f->dir), "%s/%s", rt_test_tmpdir(), name);
    snprintf(f->logpath, sizeof(f->logpath), "%s/%s.log", rt_test_tmpdir(), name);
    f->logfd = open(f->logpath, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    RT_ASSERT(f->logfd >= 0);
    rt_log_set_fd(f->logfd);
    RT_ASSERT_OK(uv_loop_init(&f->loop));
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_open(f->dir, RT_JOURNAL_READWRITE, &f->j, &err);
    if (rc)
        RT_FAIL("journal: %s", err.msg);
    /* A transition blocked by another connection fails quickly and is retried. */
    rt_journal_set_busy_timeout(f->j, 50);
    if (seed)
        seed(f->j);
    RT_ASSERT_OK(rt_journal_writer_start(f->j, &f->loop, &err));
    f->store = fs_new(&f->loop);
    f->eng = fe_new(&f->loop);
    f->cfg.store.prefixes.labeled = prefix_labeled;
    f->cfg.store.prefixes.manifests = prefix_manifests;
    f->cfg.store.prefixes.evaluation = prefix_evaluation;
    rt_param_set_defaults(&f->params);
    f->params.v[RT_P_MIN_UNTRAINED].i = 5;
    f->params.v[RT_P_MIN_F1].f = 0.5;
    f->env = (struct rt_workflow_env){.loop = &f->loop,
                                      .journal = f->j,
                                      .store = &f->store->base,
                                      .engine = &f->eng->base,
                                      .cfg = &f->cfg,
                                      .params = &f->params,
                                      .outbox_kick = on_kick,
                                      .apply_param = on_apply,
                                      .ud = f,
                                      .engine_poll_ms = 1,
                                      .persist_retry_ms = 5};
    RT_ASSERT_OK(uv_timer_init(&f->loop, &f->tick));
    RT_ASSERT_OK(uv_check_init(&f->loop, &f->watch));
    f->watch.data = f;
    RT_ASSERT_OK(uv_check_start(&f->watch, on_watch));
    machine_open(f);
}

/* Closes everything in the daemon's order and checks that nothing is left behind. */
static void fx_close(struct fx *f)
{
    if (f->m)
        machine_close(f);
    if (f->lock_db)
        unlock_journal(f);
    int closed = 0;
    f->eng->base.ops->close(&f->eng->base, set_flag, &closed);
    RT_ASSERT_INT_EQ(closed, 0); /* never from inside close() */
    RUN_UNTIL(f, closed == 1);
    f->store->base.ops->close(&f->store->base, set_flag, &closed);
    RT_ASSERT_INT_EQ(closed, 1);
    RUN_UNTIL(f, closed == 2);
    rt_journal_writer_close(f->j, set_flag, &closed);
    RUN_UNTIL(f, closed == 3);
    uv_check_stop(&f->watch);
    uv_close((uv_handle_t *)&f->watch, NULL);
    uv_close((uv_handle_t *)&f->tick, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&f->loop), 0);
    rt_journal_close(f->j);
    rt_log_set_fd(2);
    close(f->logfd);
    RT_ASSERT_INT_EQ(rt_alloc_live(), f->alloc_base);
}

/* Starts a training check; its id goes to id. */
static void start_training(struct fx *f, char *id, size_t size)
{
    RT_ASSERT_OK(rt_machine_start_training(f->m, "trigger", id, size));
}

static void run_to_end(struct fx *f)
{
    RUN_UNTIL(f, rt_machine_in_flight(f->m) == 0);
}

static void add_images(struct fx *f, const char *label, int from, int to)
{
    for (int i = from; i < to; i++)
        fs_add_image(f->store, label, i);
}

static void version_of(const char *id, char *out, size_t size)
{
    snprintf(out, size, "model-%s", id);
}

/* A version deployed before any of these executions (no manifest behind it, 0 images). */
static void seed_old_version(struct rt_journal *j)
{
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    struct rt_journal_model m = {.version = "model-old", .status = "RUNNING", .f1 = 0.7};
    RT_ASSERT_OK(rt_jbatch_model_put(b, &m));
    RT_ASSERT_OK(rt_jbatch_model_set_active(b, "model-old", 1));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
}

/* ---- 1. a full training ---- */

RT_TEST(training_runs_to_done)
{
    struct fx f;
    fx_open(&f, "done", seed_old_version);
    add_images(&f, "cat", 0, 3);
    add_images(&f, "dog", 0, 3);
    char id[64], version[128], active[128];
    start_training(&f, id, sizeof(id));
    version_of(id, version, sizeof(version));
    RT_ASSERT_INT_EQ(f.eng->trains + f.store->lists, 0); /* the first step runs on a later turn */
    run_to_end(&f);

    RT_ASSERT_STR_EQ(exec_steps(&f, id).names, "CHECK,MANIFEST,TRAIN,WAIT_TRAINING,EVALUATE,"
                                               "START,WAIT_RUNNING,SWITCH,STOP_OLD,DONE");
    active_version(&f, active, sizeof(active));
    RT_ASSERT_STR_EQ(active, version);
    struct rt_journal_model old;
    RT_ASSERT_OK(rt_journal_model_get(f.j, "model-old", &old));
    RT_ASSERT_STR_EQ(old.status, "STOPPED");
    RT_ASSERT(!old.active);
    RT_ASSERT_STR_EQ(f.eng->last_stopped, "model-old");
    int64_t previous = 0;
    RT_ASSERT_OK(rt_journal_state_get_i64(f.j, RT_STATE_PREVIOUS_TRAINED, -1, &previous));
    RT_ASSERT_INT_EQ(previous, 6);
    RT_ASSERT_INT_EQ(f.eng->trains, 1);
    RT_ASSERT_INT_EQ(f.eng->starts, 1);
    RT_ASSERT_INT_EQ(f.eng->stops, 1);
    RT_ASSERT(f.store->pages >= 2); /* 6 images at 4 a page: the census paged */

    /* The MANIFEST put landed in the store, one line per image, its key set in the journal. */
    char key[256];
    snprintf(key, sizeof(key), "manifests/%s.manifest", id);
    const struct fake_object *man = fs_get_object(f.store, key);
    RT_ASSERT(man != NULL);
    int lines = 0;
    for (size_t i = 0; i < man->len; i++)
        lines += man->data[i] == '\n';
    RT_ASSERT_INT_EQ(lines, 6);
    uint64_t *hashes = NULL;
    size_t n = 0;
    int64_t images = 0;
    RT_ASSERT_OK(rt_journal_manifest_keys_get(f.j, id, &hashes, &n, &images));
    RT_ASSERT_INT_EQ(n, 6);
    rt_free(hashes);

    /* One row per notification, and each kick ran after the commit that carried its row. */
    struct outbox_counts c = outbox(&f);
    RT_ASSERT_INT_EQ(c.started, 1);
    RT_ASSERT_INT_EQ(c.finished, 1);
    RT_ASSERT_INT_EQ(c.deployed, 1);
    RT_ASSERT_INT_EQ(c.total, 3);
    RT_ASSERT_INT_EQ(f.kicks, 3);
    RT_ASSERT_INT_EQ(f.seen[0].rows.started, 1);
    RT_ASSERT_INT_EQ(f.seen[0].rows.total, 1);
    RT_ASSERT_INT_EQ(f.seen[1].rows.finished, 1);
    RT_ASSERT_INT_EQ(f.seen[1].rows.total, 2);
    RT_ASSERT_INT_EQ(f.seen[2].rows.deployed, 1);
    RT_ASSERT_INT_EQ(f.seen[2].rows.total, 3);
    RT_ASSERT_INT_EQ(f.applied, 0);
    fx_close(&f);
}

/* ---- 2. busy waits ---- */

RT_TEST(busy_engine_is_waited_for)
{
    struct fx f;
    fx_open(&f, "busy", seed_old_version);
    add_images(&f, "cat", 0, 6);
    f.eng->start_busy = 2; /* START: busy twice, through the callback */
    f.eng->stop_busy = 1;  /* STOP_OLD: busy once, as the call's return value */
    f.eng->stop_busy_sync = true;
    char id[64];
    start_training(&f, id, sizeof(id));
    run_to_end(&f);
    char state[32];
    RT_ASSERT_STR_EQ(exec_state(&f, id, state, sizeof(state)), "DONE");
    RT_ASSERT_INT_EQ(f.eng->starts, 3);
    RT_ASSERT_INT_EQ(f.eng->stops, 2);
    RT_ASSERT_INT_EQ(context_int(&f, id, "busy_waits"), 3);
    /* Waits are polls, not transitions. */
    RT_ASSERT_INT_EQ(exec_steps(&f, id).n, 10);
    RT_ASSERT_INT_EQ(outbox(&f).failed, 0);
    fx_close(&f);
}

RT_TEST(busy_forever_fails_after_bounded_waits)
{
    struct fx f;
    fx_open(&f, "busy_forever", NULL);
    add_images(&f, "cat", 0, 6);
    f.eng->start_busy = -1;
    char id[64];
    start_training(&f, id, sizeof(id));
    run_to_end(&f);
    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_get(f.j, id, &e));
    RT_ASSERT_STR_EQ(e.state, "FAILED");
    RT_ASSERT_CONTAINS(e.error, "starting the model version failed");
    rt_journal_exec_cleanup(&e);
    RT_ASSERT_INT_EQ(f.eng->starts, MAX_BUSY_WAITS + 1);
    RT_ASSERT_STR_EQ(exec_steps(&f, id).names,
                     "CHECK,MANIFEST,TRAIN,WAIT_TRAINING,EVALUATE,START,FAILED");
    struct outbox_counts c = outbox(&f);
    RT_ASSERT_INT_EQ(c.failed, 1);
    RT_ASSERT_INT_EQ(c.deployed, 0);
    char active[128];
    active_version(&f, active, sizeof(active));
    RT_ASSERT_STR_EQ(active, "");
    fx_close(&f);
}

/* ---- 3. the retrain limit ---- */

RT_TEST(retrain_limit_fails)
{
    struct fx f;
    fx_open(&f, "retrain", NULL);
    add_images(&f, "cat", 0, 6);
    f.eng->lose_all = true;
    char id[64];
    start_training(&f, id, sizeof(id));
    run_to_end(&f);
    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_get(f.j, id, &e));
    RT_ASSERT_STR_EQ(e.state, "FAILED");
    RT_ASSERT_STR_EQ(e.error, "the engine lost the training repeatedly");
    rt_journal_exec_cleanup(&e);
    RT_ASSERT_INT_EQ(f.eng->trains, MAX_RETRAINS + 1);
    RT_ASSERT_INT_EQ(context_int(&f, id, "retrains"), MAX_RETRAINS);
    struct steps st = exec_steps(&f, id);
    RT_ASSERT_STR_EQ(st.names, "CHECK,MANIFEST,TRAIN,WAIT_TRAINING,TRAIN,WAIT_TRAINING,TRAIN,"
                               "WAIT_TRAINING,TRAIN,WAIT_TRAINING,FAILED");
    RT_ASSERT_INT_EQ(st.retrain_outputs, MAX_RETRAINS);
    struct outbox_counts c = outbox(&f);
    RT_ASSERT_INT_EQ(c.failed, 1);
    RT_ASSERT_INT_EQ(c.started, 1); /* a retrain is not a new training for people */
    RT_ASSERT_INT_EQ(c.total, 2);
    fx_close(&f);
}

/* ---- 4. the persist retry ---- */

/* The first write of an execution fails: when it is written again, the id counter comes with it,
 * so a restart never hands the same id out again. */
RT_TEST(failed_first_write_still_records_the_id_counter)
{
    struct fx f;
    fx_open(&f, "first", NULL);
    add_images(&f, "cat", 0, 6);
    lock_journal(&f);
    char id[64];
    start_training(&f, id, sizeof(id));
    RUN_UNTIL(&f, writer_failures(&f) >= 1);
    unlock_journal(&f);
    run_to_end(&f);
    RT_ASSERT(in_state(&f, id, "DONE"));
    int64_t counter = 0;
    RT_ASSERT_OK(rt_journal_state_get_i64(f.j, "exec_id_counter", 0, &counter));
    const char *dash = strrchr(id, '-');
    RT_ASSERT(dash);
    RT_ASSERT(counter >= strtoll(dash + 1, NULL, 10));
    fx_close(&f);
}

RT_TEST(persist_failure_reruns_step_without_duplicate)
{
    struct fx f;
    fx_open(&f, "persist", NULL);
    add_images(&f, "cat", 0, 6);
    char id[64];
    start_training(&f, id, sizeof(id));
    /* EVALUATE raises training.finished; its transition is the write that meets the lock. */
    lock_when(&f, id, "EVALUATE");
    RUN_UNTIL(&f, writer_failures(&f) >= 1);
    RT_ASSERT(log_has(&f, "event=persist_failed"));
    RT_ASSERT(log_has(&f, "state=EVALUATE->START"));
    int describes = f.eng->describes;
    /* The step reruns while the lock is held, and fails again: still nothing written. */
    RUN_UNTIL(&f, writer_failures(&f) >= 3);
    RT_ASSERT(f.eng->describes > describes);
    RT_ASSERT(in_state(&f, id, "EVALUATE"));
    RT_ASSERT_STR_EQ(exec_steps(&f, id).names, "CHECK,MANIFEST,TRAIN,WAIT_TRAINING,EVALUATE");
    struct outbox_counts c = outbox(&f);
    RT_ASSERT_INT_EQ(c.finished, 0);
    RT_ASSERT_INT_EQ(c.total, 1); /* training.started only */
    RT_ASSERT_INT_EQ(f.kicks, 1);

    unlock_journal(&f);
    run_to_end(&f);
    RT_ASSERT(in_state(&f, id, "DONE"));
    RT_ASSERT_STR_EQ(exec_steps(&f, id).names, "CHECK,MANIFEST,TRAIN,WAIT_TRAINING,EVALUATE,"
                                               "START,WAIT_RUNNING,SWITCH,STOP_OLD,DONE");
    c = outbox(&f);
    RT_ASSERT_INT_EQ(c.finished, 1); /* the failed attempts left no row */
    RT_ASSERT_INT_EQ(c.total, 3);
    RT_ASSERT_INT_EQ(f.kicks, 3);
    fx_close(&f);
}

/* ---- 5. notification ordering against commits ---- */

RT_TEST(deployed_notice_commits_with_the_switch)
{
    struct fx f;
    fx_open(&f, "ordering", seed_old_version);
    add_images(&f, "cat", 0, 6);
    char id[64], version[128], active[128];
    start_training(&f, id, sizeof(id));
    version_of(id, version, sizeof(version));
    lock_when(&f, id, "SWITCH");
    RUN_UNTIL(&f, writer_failures(&f) >= 1);
    /* SWITCH did its work and raised training.deployed, but nothing of it committed. */
    RT_ASSERT(log_has(&f, "state=SWITCH->STOP_OLD"));
    RT_ASSERT(in_state(&f, id, "SWITCH"));
    active_version(&f, active, sizeof(active));
    RT_ASSERT_STR_EQ(active, "model-old");
    RT_ASSERT_INT_EQ(outbox(&f).deployed, 0);
    RT_ASSERT_INT_EQ(f.kicks, 2);

    unlock_journal(&f);
    run_to_end(&f);
    RT_ASSERT(in_state(&f, id, "DONE"));
    RT_ASSERT_INT_EQ(f.kicks, 3);
    /* When the kick of the deployed notification ran, the switch had committed with it. */
    RT_ASSERT_STR_EQ(f.seen[2].active, version);
    RT_ASSERT_INT_EQ(f.seen[2].rows.deployed, 1);
    /* Earlier kicks saw the old version active and no deployed row. */
    RT_ASSERT_STR_EQ(f.seen[1].active, "model-old");
    RT_ASSERT_INT_EQ(f.seen[1].rows.deployed, 0);
    RT_ASSERT_INT_EQ(outbox(&f).deployed, 1);
    /* Seen state by state: the row appears exactly with the switch, not a transition before
     * (entering SWITCH) nor after (leaving STOP_OLD). */
    const struct seen *s = seen_in(&f, "SWITCH");
    RT_ASSERT_STR_EQ(s->active, "model-old");
    RT_ASSERT_INT_EQ(s->rows.deployed, 0);
    s = seen_in(&f, "STOP_OLD");
    RT_ASSERT_STR_EQ(s->active, version);
    RT_ASSERT_INT_EQ(s->rows.deployed, 1);
    s = seen_in(&f, "DONE");
    RT_ASSERT_INT_EQ(s->rows.deployed, 1);
    fx_close(&f);
}

/* ---- 6. graceful stop vs crash ---- */

RT_TEST(graceful_stop_restarts_training_without_counting)
{
    struct fx f;
    fx_open(&f, "stop", NULL);
    add_images(&f, "cat", 0, 6);
    f.eng->train_polls = -1; /* the training never ends by itself */
    char id[64];
    start_training(&f, id, sizeof(id));
    RUN_UNTIL(&f, in_state(&f, id, "WAIT_TRAINING") && f.eng->describes >= 1);
    for (int round = 1; round <= 5; round++) {
        machine_close(&f);
        cJSON *ctx = exec_context(&f, id);
        RT_ASSERT(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ctx, "interrupted_by_stop")));
        cJSON_Delete(ctx);
        RT_ASSERT(in_state(&f, id, "WAIT_TRAINING"));
        /* The stop took the training with it: the engine no longer knows the version. */
        fe_script(f.eng, RT_MODEL_UNKNOWN, 0, NULL);
        int trains = f.eng->trains;
        machine_open(&f);
        RT_ASSERT_OK(rt_machine_resume(f.m));
        RUN_UNTIL(&f, f.eng->trains > trains && in_state(&f, id, "WAIT_TRAINING"));
        RT_ASSERT_INT_EQ(context_int(&f, id, "restarts"), round);
        RT_ASSERT_INT_EQ(context_int(&f, id, "retrains"), -1);
    }
    struct steps st = exec_steps(&f, id);
    RT_ASSERT_INT_EQ(st.graceful_restarts, 5);
    RT_ASSERT_INT_EQ(st.retrain_outputs, 0);
    RT_ASSERT_INT_EQ(f.eng->trains, 6);
    RT_ASSERT(strstr(st.names, "FAILED") == NULL);
    /* The mark is gone from the journal once the restarted execution wrote its context. */
    cJSON *ctx = exec_context(&f, id);
    RT_ASSERT(!cJSON_HasObjectItem(ctx, "interrupted_by_stop"));
    cJSON_Delete(ctx);
    struct outbox_counts c = outbox(&f);
    RT_ASSERT_INT_EQ(c.started, 1); /* restarts are not news */
    RT_ASSERT_INT_EQ(c.failed, 0);
    fx_close(&f);
}

/* A process that died in WAIT_TRAINING: its row, with no stop mark. */
static void seed_crashed(struct rt_journal *j)
{
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_exec_create(b, "tr-crashed", "training", "CHECK",
                                       "{\"reason\":\"trigger\"}", "{}", 1000));
    RT_ASSERT_OK(
        rt_jbatch_exec_advance(b, "tr-crashed", "{}", NULL, "MANIFEST", false, "{}", 1001));
    RT_ASSERT_OK(rt_jbatch_exec_advance(
        b, "tr-crashed", "{}", NULL, "TRAIN", false,
        "{\"manifest_key\":\"manifests/tr-crashed.manifest\",\"images\":6}", 1002));
    RT_ASSERT_OK(rt_jbatch_exec_advance(b, "tr-crashed", "{\"version\":\"model-tr-crashed\"}", NULL,
                                        "WAIT_TRAINING", false,
                                        "{\"manifest_key\":\"manifests/tr-crashed.manifest\","
                                        "\"images\":6,\"version\":\"model-tr-crashed\"}",
                                        1003));
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_apply(j, b, &err));
    rt_jbatch_free(b);
}

RT_TEST(crash_in_wait_training_counts_a_retrain)
{
    struct fx f;
    fx_open(&f, "crash", seed_crashed);
    add_images(&f, "cat", 0, 6);
    RT_ASSERT_OK(rt_machine_resume(f.m));
    run_to_end(&f);
    RT_ASSERT(in_state(&f, "tr-crashed", "DONE"));
    RT_ASSERT_INT_EQ(context_int(&f, "tr-crashed", "retrains"), 1);
    RT_ASSERT_INT_EQ(context_int(&f, "tr-crashed", "restarts"), -1);
    struct steps st = exec_steps(&f, "tr-crashed");
    RT_ASSERT_STR_EQ(st.names, "CHECK,MANIFEST,TRAIN,WAIT_TRAINING,TRAIN,WAIT_TRAINING,EVALUATE,"
                               "START,WAIT_RUNNING,SWITCH,STOP_OLD,DONE");
    RT_ASSERT_INT_EQ(st.graceful_restarts, 0);
    RT_ASSERT_INT_EQ(st.retrain_outputs, 1);
    RT_ASSERT_INT_EQ(f.eng->trains, 1);
    fx_close(&f);
}

/* ---- 7. an unchanged NOT_MET check coalesces ---- */

RT_TEST(unchanged_not_met_check_coalesces)
{
    struct fx f;
    fx_open(&f, "coalesce", NULL);
    add_images(&f, "cat", 0, 2);
    char id1[64], id2[64], id3[64];
    start_training(&f, id1, sizeof(id1));
    run_to_end(&f);
    RT_ASSERT(in_state(&f, id1, "NOT_MET"));
    start_training(&f, id2, sizeof(id2));
    run_to_end(&f);
    RT_ASSERT(strcmp(id1, id2) != 0);
    RT_ASSERT(in_state(&f, id2, "")); /* no row of its own */
    struct rt_journal_exec e;
    RT_ASSERT_OK(rt_journal_exec_get(f.j, id1, &e));
    RT_ASSERT_INT_EQ(e.checks, 2);
    RT_ASSERT(e.last_checked_ms > 0);
    rt_journal_exec_cleanup(&e);
    RT_ASSERT_INT_EQ(outbox(&f).not_met, 1);
    RT_ASSERT_INT_EQ(f.kicks, 1);

    /* A changed outcome is a new execution and a new notification. */
    fs_add_image(f.store, "dog", 0);
    start_training(&f, id3, sizeof(id3));
    run_to_end(&f);
    RT_ASSERT(in_state(&f, id3, "NOT_MET"));
    RT_ASSERT_OK(rt_journal_exec_get(f.j, id3, &e));
    RT_ASSERT_INT_EQ(e.checks, 1);
    rt_journal_exec_cleanup(&e);
    cJSON *out = step_output(&f, id3, "CHECK");
    RT_ASSERT_INT_EQ(json_int(out, "images"), 3);
    cJSON_Delete(out);
    struct outbox_counts c = outbox(&f);
    RT_ASSERT_INT_EQ(c.not_met, 2);
    RT_ASSERT_INT_EQ(c.total, 2);
    RT_ASSERT_INT_EQ(f.kicks, 2);
    RT_ASSERT_INT_EQ(f.eng->trains, 0);
    fx_close(&f);
}

/* ---- 8. identity counting ---- */

RT_TEST(untrained_images_counted_by_identity)
{
    struct fx f;
    fx_open(&f, "identity", NULL);
    add_images(&f, "cat", 0, 10);
    add_images(&f, "dog", 0, 10);
    char id1[64], id2[64];
    start_training(&f, id1, sizeof(id1));
    run_to_end(&f);
    RT_ASSERT(in_state(&f, id1, "DONE"));
    /* 15 trained images go away and 10 new ones arrive: 15 images, fewer than the 20 trained. */
    for (int i = 0; i < 10; i++)
        fs_remove_image(f.store, "cat", i);
    for (int i = 0; i < 5; i++)
        fs_remove_image(f.store, "dog", i);
    add_images(&f, "cat", 100, 110);
    start_training(&f, id2, sizeof(id2));
    run_to_end(&f);
    cJSON *out = step_output(&f, id2, "CHECK");
    RT_ASSERT_INT_EQ(json_int(out, "images"), 15);
    RT_ASSERT_INT_EQ(json_int(out, "previous_trained_images"), 20);
    /* The count rule (images - previous_trained_images) would have said 0. */
    RT_ASSERT_INT_EQ(json_int(out, "untrained"), 10);
    cJSON_Delete(out);
    RT_ASSERT(in_state(&f, id2, "DONE"));
    RT_ASSERT_INT_EQ(f.eng->trains, 2);
    char active[128], version[128];
    active_version(&f, active, sizeof(active));
    version_of(id2, version, sizeof(version));
    RT_ASSERT_STR_EQ(active, version);
    fx_close(&f);
}

/* ---- 9. a failed persist does not leave the step's bookkeeping behind ---- */

/* The engine loses the training once, and the transition that records the retrain meets the
 * lock: the step reruns (the engine still does not know the version) until the lock goes. The
 * retrain is one retrain however many times its transition had to be written. */
RT_TEST(failed_persist_of_a_retrain_counts_it_once)
{
    struct fx f;
    fx_open(&f, "retrain_persist", NULL);
    add_images(&f, "cat", 0, 6);
    fe_script(f.eng, RT_MODEL_UNKNOWN, 0, NULL); /* WAIT_TRAINING's first describe */
    char id[64];
    start_training(&f, id, sizeof(id));
    lock_when(&f, id, "WAIT_TRAINING");
    RUN_UNTIL(&f, writer_failures(&f) >= 3);
    RT_ASSERT(log_has(&f, "state=WAIT_TRAINING->TRAIN"));
    RT_ASSERT(in_state(&f, id, "WAIT_TRAINING"));
    unlock_journal(&f);
    run_to_end(&f);
    RT_ASSERT(in_state(&f, id, "DONE"));
    RT_ASSERT_INT_EQ(context_int(&f, id, "retrains"), 1);
    RT_ASSERT_INT_EQ(f.eng->trains, 2);
    cJSON *out = step_output(&f, id, "WAIT_TRAINING");
    RT_ASSERT_INT_EQ(json_int(out, "retrain"), 1);
    cJSON_Delete(out);
    fx_close(&f);
}

/* After a graceful stop the lost training restarts free of charge, even when the transition that
 * restarts it has to be written more than once. */
RT_TEST(failed_persist_after_graceful_stop_still_restarts_free)
{
    struct fx f;
    fx_open(&f, "stop_persist", NULL);
    add_images(&f, "cat", 0, 6);
    f.eng->train_polls = -1;
    char id[64];
    start_training(&f, id, sizeof(id));
    RUN_UNTIL(&f, in_state(&f, id, "WAIT_TRAINING") && f.eng->describes >= 1);
    machine_close(&f);
    fe_script(f.eng, RT_MODEL_UNKNOWN, 0, NULL);
    machine_open(&f);
    lock_journal(&f);
    RT_ASSERT_OK(rt_machine_resume(f.m));
    RUN_UNTIL(&f, writer_failures(&f) >= 3);
    RT_ASSERT(in_state(&f, id, "WAIT_TRAINING"));
    unlock_journal(&f);
    int trains = f.eng->trains;
    RUN_UNTIL(&f, f.eng->trains > trains && in_state(&f, id, "WAIT_TRAINING"));
    RT_ASSERT_INT_EQ(context_int(&f, id, "retrains"), -1);
    RT_ASSERT_INT_EQ(context_int(&f, id, "restarts"), 1);
    struct steps st = exec_steps(&f, id);
    RT_ASSERT_INT_EQ(st.graceful_restarts, 1);
    RT_ASSERT_INT_EQ(st.retrain_outputs, 0);
    fx_close(&f);
}
