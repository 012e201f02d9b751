/*
 * test_params.c - parameters read from the journal over defaults, and the local params driver
 * (callbacks on a later loop turn, values stored in the journal, clean close).
 */
#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/error.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/params.h"
#include "rt_test.h"

static struct rt_journal *open_rw(void)
{
    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/data", rt_test_tmpdir());
    if (rt_journal_open(dir, RT_JOURNAL_READWRITE, &j, &err) != 0)
        RT_FAIL("open: %s", err.msg);
    return j;
}

static void parse_into(struct rt_param_set *set, enum rt_param_id id, const char *text)
{
    RT_ASSERT_OK(rt_param_parse(rt_param_def_by_id(id), text, &set->v[id], NULL));
}

RT_TEST(read_without_journal_gives_defaults)
{
    struct rt_param_set defaults, got;
    rt_param_set_defaults(&defaults);
    parse_into(&defaults, RT_P_MIN_UNTRAINED, "3");
    RT_ASSERT_OK(rt_params_read_journal(NULL, &defaults, &got));
    RT_ASSERT_INT_EQ(got.v[RT_P_MIN_UNTRAINED].i, 3);
    RT_ASSERT_STR_EQ(got.v[RT_P_ENABLE_TRAINING].text, "true");
}

RT_TEST(read_overlays_stored_values_on_defaults)
{
    struct rt_journal *j = open_rw();
    RT_ASSERT_OK(rt_journal_param_set(j, "Minimum-Untrained-Images", "5", 1));
    RT_ASSERT_OK(rt_journal_param_set(j, "Automatic-Training-Poll-Frequency", "2s", 1));
    RT_ASSERT_OK(rt_journal_param_set(j, "Enable-Automatic-Training", "false", 1));
    RT_ASSERT_OK(rt_journal_param_set(j, "Not-A-Parameter", "1", 1)); /* ignored */

    struct rt_param_set defaults, got;
    rt_param_set_defaults(&defaults);
    parse_into(&defaults, RT_P_MIN_F1, "0.5");
    parse_into(&defaults, RT_P_MIN_UNTRAINED, "20");
    RT_ASSERT_OK(rt_params_read_journal(j, &defaults, &got));
    RT_ASSERT_INT_EQ(got.v[RT_P_MIN_UNTRAINED].i, 5); /* stored beats default */
    RT_ASSERT_INT_EQ(got.v[RT_P_TRAINING_POLL].ms, 2000);
    RT_ASSERT(got.v[RT_P_TRAINING_POLL].has_unit);
    RT_ASSERT(!got.v[RT_P_ENABLE_TRAINING].b);
    RT_ASSERT(got.v[RT_P_MIN_F1].f == 0.5);                /* config default kept */
    RT_ASSERT_INT_EQ(got.v[RT_P_SAMPLING_INTERVAL].i, 10); /* table default kept */
    rt_journal_close(j);
}

RT_TEST(bad_stored_value_falls_back_to_default_with_warning)
{
    struct rt_journal *j = open_rw();
    RT_ASSERT_OK(rt_journal_param_set(j, "Human-Sampling-Interval", "-3", 1));
    RT_ASSERT_OK(rt_journal_param_set(j, "Minimum-Untrained-Images", "4", 1));

    char logpath[512];
    snprintf(logpath, sizeof(logpath), "%s/log.txt", rt_test_tmpdir());
    int fd = open(logpath, O_CREAT | O_RDWR | O_TRUNC, 0600);
    RT_ASSERT(fd >= 0);
    rt_log_set_fd(fd);
    struct rt_param_set defaults, got;
    rt_param_set_defaults(&defaults);
    parse_into(&defaults, RT_P_SAMPLING_INTERVAL, "7");
    int rc = rt_params_read_journal(j, &defaults, &got);
    rt_log_set_fd(2);
    RT_ASSERT_OK(rc);
    RT_ASSERT_INT_EQ(got.v[RT_P_SAMPLING_INTERVAL].i, 7);
    RT_ASSERT_INT_EQ(got.v[RT_P_MIN_UNTRAINED].i, 4); /* the good one still applies */

    char text[2048] = {0};
    RT_ASSERT(pread(fd, text, sizeof(text) - 1, 0) > 0);
    close(fd);
    RT_ASSERT_CONTAINS(text, "warning");
    RT_ASSERT_CONTAINS(text, "event=stored_value_refused name=Human-Sampling-Interval");
    RT_ASSERT_CONTAINS(text, "value=-3");
    rt_journal_close(j);
}

/* ---- the local driver ---- */

struct seen {
    int loads, sets, closes, changes;
    int status;
    char err[600];
    int64_t min_untrained;
    enum rt_param_source source;
    int order[8];
    int n;
};

static void
on_load(int status, const struct rt_param_set *values, const struct rt_error *err, void *ud)
{
    struct seen *s = ud;
    (void)err;
    s->loads++;
    s->status = status;
    if (values) {
        s->min_untrained = values->v[RT_P_MIN_UNTRAINED].i;
        s->source = values->v[RT_P_MIN_UNTRAINED].source;
    }
    if (s->n < 8)
        s->order[s->n++] = 'L';
}

static void on_set(int status, const struct rt_error *err, void *ud)
{
    struct seen *s = ud;
    s->sets++;
    s->status = status;
    snprintf(s->err, sizeof(s->err), "%s", err ? err->msg : "");
    if (s->n < 8)
        s->order[s->n++] = 'S';
}

static void on_change(const struct rt_param_set *values, void *ud)
{
    struct seen *s = ud;
    s->changes++;
    s->min_untrained = values->v[RT_P_MIN_UNTRAINED].i;
    s->source = values->v[RT_P_MIN_UNTRAINED].source;
    if (s->n < 8)
        s->order[s->n++] = 'X';
}

static void on_close(void *ud)
{
    struct seen *s = ud;
    s->closes++;
    if (s->n < 8)
        s->order[s->n++] = 'C';
}

struct fixture {
    uv_loop_t loop;
    struct rt_journal *j;
    struct rt_params *p;
    struct rt_param_set defaults;
    bool writer_closed;
};

static void writer_closed(void *ud)
{
    ((struct fixture *)ud)->writer_closed = true;
}

static void fixture_open(struct fixture *f)
{
    RT_ASSERT_OK(uv_loop_init(&f->loop));
    f->j = open_rw();
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_journal_writer_start(f->j, &f->loop, &err));
    rt_param_set_defaults(&f->defaults);
    RT_ASSERT_OK(rt_params_local_new(&f->loop, f->j, &f->defaults, &f->p));
    RT_ASSERT_STR_EQ(f->p->ops->name, "local");
}

static void fixture_close(struct fixture *f, struct seen *s)
{
    f->p->ops->close(f->p, on_close, s);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    rt_journal_writer_close(f->j, writer_closed, f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT(f->writer_closed);
    RT_ASSERT_INT_EQ(uv_loop_close(&f->loop), 0);
    rt_journal_close(f->j);
}

RT_TEST(local_driver_defers_callbacks_and_stores_text)
{
    struct fixture f;
    fixture_open(&f);
    struct rt_params *p = f.p;
    struct seen s = {0};
    RT_ASSERT_OK(p->ops->load(p, on_load, &s));
    RT_ASSERT_INT_EQ(s.loads, 0); /* not from inside the call */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(s.loads, 1);
    RT_ASSERT_INT_EQ(s.status, 0);
    RT_ASSERT_INT_EQ(s.min_untrained, 10);
    RT_ASSERT_INT_EQ(s.source, RT_PSRC_TABLE);

    RT_ASSERT_OK(p->ops->set(p, RT_P_MIN_UNTRAINED, "6", on_set, &s));
    RT_ASSERT_INT_EQ(s.sets, 0);
    while (s.sets == 0)
        uv_run(&f.loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(s.status, 0);
    char out[16];
    RT_ASSERT_OK(rt_journal_param_get(f.j, "Minimum-Untrained-Images", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "6"); /* durable when the callback ran */

    RT_ASSERT_OK(p->ops->load(p, on_load, &s));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(s.min_untrained, 6);
    RT_ASSERT_INT_EQ(s.source, RT_PSRC_SET);
    fixture_close(&f, &s);
    RT_ASSERT_INT_EQ(s.closes, 1);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(local_driver_refuses_invalid_value_naming_the_range)
{
    struct fixture f;
    fixture_open(&f);
    struct seen s = {0};
    RT_ASSERT_OK(f.p->ops->set(f.p, RT_P_MIN_F1, "-0.1", on_set, &s));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(s.sets, 1);
    RT_ASSERT_INT_EQ(s.status, RT_EINVAL);
    RT_ASSERT_CONTAINS(s.err, "Minimum-F1-Score");
    RT_ASSERT_CONTAINS(s.err, "out of range (0..1)");
    RT_ASSERT_OK(f.p->ops->set(f.p, RT_P_ENABLE_TRAINING, "yes", on_set, &s));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(s.status, RT_EINVAL);
    RT_ASSERT_INT_EQ(f.p->ops->set(f.p, RT_P_COUNT, "1", on_set, &s), RT_EINVAL);
    char out[16];
    RT_ASSERT_INT_EQ(rt_journal_param_get(f.j, "Minimum-F1-Score", out, sizeof(out)), RT_ENOTFOUND);
    fixture_close(&f, &s);
}

RT_TEST(local_driver_reset_returns_to_the_config_default)
{
    struct fixture f;
    fixture_open(&f);
    parse_into(&f.defaults, RT_P_MIN_UNTRAINED, "20");
    f.defaults.v[RT_P_MIN_UNTRAINED].source = RT_PSRC_CONFIG;
    struct seen s = {0};
    RT_ASSERT_OK(f.p->ops->set(f.p, RT_P_MIN_UNTRAINED, "3", on_set, &s));
    while (s.sets < 1)
        uv_run(&f.loop, UV_RUN_ONCE);
    RT_ASSERT_OK(f.p->ops->reset(f.p, RT_P_MIN_UNTRAINED, on_set, &s));
    while (s.sets < 2)
        uv_run(&f.loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(s.status, 0);
    RT_ASSERT_OK(f.p->ops->load(f.p, on_load, &s));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(s.min_untrained, 20);
    RT_ASSERT_INT_EQ(s.source, RT_PSRC_CONFIG);
    fixture_close(&f, &s);
}

/* Changes made elsewhere (the CLI, another process) reach the owner once, on refresh. */
RT_TEST(local_driver_tells_changes_once)
{
    struct fixture f;
    fixture_open(&f);
    struct seen s = {0};
    f.p->on_change = on_change;
    f.p->on_change_ud = &s;
    RT_ASSERT_OK(f.p->ops->load(f.p, on_load, &s));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_OK(f.p->ops->refresh(f.p)); /* nothing changed */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(s.changes, 0);

    /* Another connection (the CLI) writes; two pokes in a row give one change. */
    struct rt_journal *cli = open_rw();
    RT_ASSERT_OK(rt_journal_param_set(cli, "Minimum-Untrained-Images", "4", 1));
    rt_journal_close(cli);
    RT_ASSERT_OK(f.p->ops->refresh(f.p));
    RT_ASSERT_OK(f.p->ops->refresh(f.p));
    RT_ASSERT_INT_EQ(s.changes, 0); /* later, never inside refresh */
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(s.changes, 1);
    RT_ASSERT_INT_EQ(s.min_untrained, 4);

    /* A config default changed in place (SIGHUP) is a change too. */
    parse_into(&f.defaults, RT_P_MIN_F1, "0.6");
    RT_ASSERT_OK(f.p->ops->refresh(f.p));
    uv_run(&f.loop, UV_RUN_NOWAIT);
    RT_ASSERT_INT_EQ(s.changes, 2);

    /* A set through the driver itself is told as well. */
    RT_ASSERT_OK(f.p->ops->set(f.p, RT_P_MIN_UNTRAINED, "8", on_set, &s));
    while (s.changes < 3)
        uv_run(&f.loop, UV_RUN_ONCE);
    RT_ASSERT_INT_EQ(s.min_untrained, 8);
    fixture_close(&f, &s);
    RT_ASSERT_INT_EQ(s.changes, 3);
}

RT_TEST(local_driver_close_waits_for_writes_then_closes)
{
    struct fixture f;
    fixture_open(&f);
    struct seen s = {0};
    RT_ASSERT_OK(f.p->ops->load(f.p, on_load, &s));
    RT_ASSERT_OK(f.p->ops->set(f.p, RT_P_ENABLE_A2I, "false", on_set, &s));
    f.p->ops->close(f.p, on_close, &s);
    RT_ASSERT_INT_EQ(s.n, 0);
    RT_ASSERT_INT_EQ(f.p->ops->load(f.p, on_load, &s), RT_ECANCELED); /* closing: refused */
    uv_run(&f.loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(s.n, 3);
    RT_ASSERT_INT_EQ(s.order[0], 'L');
    RT_ASSERT_INT_EQ(s.order[1], 'S');
    RT_ASSERT_INT_EQ(s.order[2], 'C');
    char out[16];
    RT_ASSERT_OK(rt_journal_param_get(f.j, "Enable-A2I-Workflow", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "false");
    rt_journal_writer_close(f.j, writer_closed, &f);
    uv_run(&f.loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&f.loop), 0);
    rt_journal_close(f.j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}
