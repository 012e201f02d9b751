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
    int loads, sets, closes;
    int status;
    int64_t min_untrained;
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
    if (values)
        s->min_untrained = values->v[RT_P_MIN_UNTRAINED].i;
    if (s->n < 8)
        s->order[s->n++] = 'L';
}

static void on_set(int status, const struct rt_error *err, void *ud)
{
    struct seen *s = ud;
    (void)err;
    s->sets++;
    s->status = status;
    if (s->n < 8)
        s->order[s->n++] = 'S';
}

static void on_close(void *ud)
{
    struct seen *s = ud;
    s->closes++;
    if (s->n < 8)
        s->order[s->n++] = 'C';
}

RT_TEST(local_driver_defers_callbacks_and_stores_text)
{
    uv_loop_t loop;
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_journal *j = open_rw();
    struct rt_param_set defaults;
    rt_param_set_defaults(&defaults);
    struct rt_params *p = NULL;
    RT_ASSERT_OK(rt_params_local_new(&loop, j, &defaults, &p));
    RT_ASSERT_STR_EQ(p->ops->name, "local");

    struct seen s = {0};
    RT_ASSERT_OK(p->ops->load(p, on_load, &s));
    RT_ASSERT_INT_EQ(s.loads, 0); /* not from inside the call */
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(s.loads, 1);
    RT_ASSERT_INT_EQ(s.status, 0);
    RT_ASSERT_INT_EQ(s.min_untrained, 10);

    struct rt_param_value v;
    RT_ASSERT_OK(rt_param_parse(rt_param_def_by_id(RT_P_MIN_UNTRAINED), "6", &v, NULL));
    RT_ASSERT_OK(p->ops->set(p, RT_P_MIN_UNTRAINED, &v, on_set, &s));
    RT_ASSERT_INT_EQ(s.sets, 0);
    char out[16];
    RT_ASSERT_OK(rt_journal_param_get(j, "Minimum-Untrained-Images", out, sizeof(out)));
    RT_ASSERT_STR_EQ(out, "6"); /* the write itself is synchronous */
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(s.sets, 1);
    RT_ASSERT_INT_EQ(s.status, 0);

    RT_ASSERT_OK(p->ops->load(p, on_load, &s));
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(s.min_untrained, 6);

    p->ops->close(p, on_close, &s);
    RT_ASSERT_INT_EQ(s.closes, 0);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(s.closes, 1);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_journal_close(j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(local_driver_refuses_invalid_value_without_callback)
{
    uv_loop_t loop;
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_journal *j = open_rw();
    struct rt_params *p = NULL;
    RT_ASSERT_OK(rt_params_local_new(&loop, j, NULL, &p));
    struct seen s = {0};

    struct rt_param_value v;
    memset(&v, 0, sizeof(v));
    v.type = RT_PT_INT;
    snprintf(v.text, sizeof(v.text), "0"); /* below Minimum-Untrained-Images' minimum of 1 */
    RT_ASSERT_INT_EQ(p->ops->set(p, RT_P_MIN_UNTRAINED, &v, on_set, &s), RT_EINVAL);
    v.type = RT_PT_BOOL; /* wrong type for the parameter */
    snprintf(v.text, sizeof(v.text), "true");
    RT_ASSERT_INT_EQ(p->ops->set(p, RT_P_MIN_UNTRAINED, &v, on_set, &s), RT_EINVAL);
    RT_ASSERT_INT_EQ(p->ops->set(p, RT_P_COUNT, &v, on_set, &s), RT_EINVAL);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(s.sets, 0);
    char out[16];
    RT_ASSERT_INT_EQ(rt_journal_param_get(j, "Minimum-Untrained-Images", out, sizeof(out)),
                     RT_ENOTFOUND);

    p->ops->close(p, on_close, &s);
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_journal_close(j);
}

RT_TEST(local_driver_close_delivers_pending_then_closes)
{
    uv_loop_t loop;
    RT_ASSERT_OK(uv_loop_init(&loop));
    struct rt_journal *j = open_rw();
    struct rt_params *p = NULL;
    RT_ASSERT_OK(rt_params_local_new(&loop, j, NULL, &p));
    struct seen s = {0};
    struct rt_param_value v;
    RT_ASSERT_OK(rt_param_parse(rt_param_def_by_id(RT_P_ENABLE_A2I), "false", &v, NULL));

    RT_ASSERT_OK(p->ops->load(p, on_load, &s));
    RT_ASSERT_OK(p->ops->set(p, RT_P_ENABLE_A2I, &v, on_set, &s));
    p->ops->close(p, on_close, &s);
    RT_ASSERT_INT_EQ(s.n, 0);
    RT_ASSERT_INT_EQ(p->ops->load(p, on_load, &s), RT_ECANCELED); /* closing: refused */
    uv_run(&loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(s.n, 3);
    RT_ASSERT_INT_EQ(s.order[0], 'L');
    RT_ASSERT_INT_EQ(s.order[1], 'S');
    RT_ASSERT_INT_EQ(s.order[2], 'C');
    RT_ASSERT_INT_EQ(uv_loop_close(&loop), 0);
    rt_journal_close(j);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}
