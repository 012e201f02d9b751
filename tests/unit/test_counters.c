/*
 * test_counters.c - the daemon's counters behind /metrics (src/daemon/counters.c): loaded once
 * from the journal (finished executions by workflow and end state, a coalesced check counting as
 * one more; detections by route), then moved by committed transitions only.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "counters.h"
#include "retraind/config.h"
#include "retraind/journal.h"
#include "retraind/report.h"
#include "rt_test.h"

static int64_t count(const struct rt_daemon_counters *c, const char *wf, const char *state)
{
    for (int i = 0; i < c->n_exec; i++)
        if (!strcmp(c->exec[i].workflow, wf) && !strcmp(c->exec[i].state, state))
            return c->exec[i].n;
    return -1; /* no such series */
}

static struct rt_journal *open_journal(void)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/data", rt_test_tmpdir());
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_journal *j = NULL;
    RT_ASSERT_OK(rt_journal_open(dir, RT_JOURNAL_READWRITE, &j, &err));
    return j;
}

RT_TEST(counters_load_counts_finished_executions_and_coalesced_checks)
{
    struct rt_journal *j = open_journal();
    RT_ASSERT_OK(rt_journal_exec_create(j, "tr-1", "training", "CHECK", NULL, NULL, 1000));
    RT_ASSERT_OK(rt_journal_exec_advance(j, "tr-1", NULL, NULL, "NOT_MET", true, NULL, 1001));
    for (int i = 0; i < 2; i++) { /* two more checks with the same outcome: one row */
        struct rt_jbatch *b = NULL;
        RT_ASSERT_OK(rt_jbatch_new(&b));
        RT_ASSERT_OK(rt_jbatch_exec_checked(b, "tr-1", 2000 + i));
        struct rt_error err;
        rt_error_clear(&err);
        RT_ASSERT_OK(rt_journal_apply(j, b, &err));
        rt_jbatch_free(b);
    }
    RT_ASSERT_OK(rt_journal_exec_create(j, "tr-2", "training", "CHECK", NULL, NULL, 3000));
    RT_ASSERT_OK(rt_journal_exec_advance(j, "tr-2", NULL, NULL, "DONE", true, NULL, 3001));
    RT_ASSERT_OK(rt_journal_exec_create(j, "de-3", "detection", "DETECT", NULL, NULL, 4000));
    RT_ASSERT_OK(rt_journal_exec_advance(j, "de-3", NULL, NULL, "WAIT_ANSWER", false, NULL, 4001));

    struct rt_daemon_counters c;
    RT_ASSERT_OK(rt_counters_load(&c, j));
    RT_ASSERT_INT_EQ(count(&c, "training", "NOT_MET"), 3);
    RT_ASSERT_INT_EQ(count(&c, "training", "DONE"), 1);
    /* every end state of every workflow exists at 0; an unfinished state is no series */
    RT_ASSERT_INT_EQ(count(&c, "detection", "ACCEPTED"), 0);
    RT_ASSERT_INT_EQ(count(&c, "sampling", "DONE"), 0);
    RT_ASSERT_INT_EQ(count(&c, "detection", "WAIT_ANSWER"), -1);
    int64_t unfinished = 0;
    RT_ASSERT_OK(rt_journal_exec_unfinished_count(j, &unfinished));
    RT_ASSERT_INT_EQ(unfinished, 1);
    rt_journal_close(j);
}

RT_TEST(counters_move_with_committed_transitions_only_at_ends_and_routes)
{
    struct rt_journal *j = open_journal();
    struct rt_daemon_counters c;
    RT_ASSERT_OK(rt_counters_load(&c, j));
    rt_journal_close(j);
    cJSON *ctx = cJSON_CreateObject();
    cJSON_AddStringToObject(ctx, "route", "review");
    struct rt_transition t = {"de-1", "detection", "ROUTE", "REVIEW", false, ctx};
    rt_counters_transition(&c, &t);
    RT_ASSERT_INT_EQ(c.review, 1);
    RT_ASSERT_INT_EQ(count(&c, "detection", "REVIEW"), -1); /* not an end */
    t = (struct rt_transition){"de-1", "detection", "WAIT_ANSWER", "FOLD", false, ctx};
    rt_counters_transition(&c, &t);
    RT_ASSERT_INT_EQ(c.review, 1); /* only the ROUTE transition counts a route */
    t = (struct rt_transition){"de-1", "detection", "FOLD", "DONE", true, ctx};
    rt_counters_transition(&c, &t);
    RT_ASSERT_INT_EQ(count(&c, "detection", "DONE"), 1);
    cJSON_ReplaceItemInObject(ctx, "route", cJSON_CreateString("accepted_low"));
    t = (struct rt_transition){"de-2", "detection", "ROUTE", "ACCEPTED", true, ctx};
    rt_counters_transition(&c, &t);
    RT_ASSERT_INT_EQ(c.accepted_low, 1);
    RT_ASSERT_INT_EQ(count(&c, "detection", "ACCEPTED"), 1);
    t = (struct rt_transition){"de-3", "detection", "ROUTE", "FAILED", true, ctx};
    rt_counters_transition(&c, &t);
    RT_ASSERT_INT_EQ(c.accepted_low, 1); /* a failed ROUTE has no route */
    RT_ASSERT_INT_EQ(count(&c, "detection", "FAILED"), 1);
    t = (struct rt_transition){"tr-9", "training", "CHECK", "NOT_MET", true, NULL};
    rt_counters_transition(&c, &t); /* a coalesced check: no context */
    RT_ASSERT_INT_EQ(count(&c, "training", "NOT_MET"), 1);
    cJSON_Delete(ctx);

    struct rt_buf b;
    rt_buf_init(&b, 1 << 16);
    RT_ASSERT_OK(rt_counters_write(&c, &b));
    RT_ASSERT(strstr(b.data, "# TYPE retraind_executions_total counter\n"));
    RT_ASSERT(
        strstr(b.data, "retraind_executions_total{workflow=\"detection\",state=\"DONE\"} 1\n"));
    RT_ASSERT(strstr(b.data, "retraind_detections_total{route=\"accepted_low\"} 1\n"));
    RT_ASSERT(strstr(b.data, "retraind_detections_total{route=\"review\"} 1\n"));
    rt_buf_cleanup(&b);
}

RT_TEST(counters_label_values_are_escaped)
{
    struct rt_buf b;
    rt_buf_init(&b, 256);
    RT_ASSERT_OK(rt_prom_label(&b, "v\"1\\x\ny"));
    RT_ASSERT_OK(rt_buf_append(&b, "", 1));
    RT_ASSERT_STR_EQ(b.data, "v\\\"1\\\\x\\ny");
    rt_buf_cleanup(&b);
}

/* status lists every training but at most RT_REPORT_IN_FLIGHT_OTHERS detections (those waiting
 * for people can be thousands), and counts them all in in_flight_total. */
RT_TEST(status_in_flight_lists_trainings_and_caps_the_others)
{
    struct rt_journal *j = open_journal();
    char id[64];
    for (int i = 0; i < 30; i++) {
        snprintf(id, sizeof(id), "de-%02d", i);
        RT_ASSERT_OK(rt_journal_exec_create(j, id, "detection", "DETECT", NULL, NULL, 1000 + i));
        RT_ASSERT_OK(rt_journal_exec_advance(j, id, NULL, NULL, "WAIT_ANSWER", false, NULL, 1100));
    }
    RT_ASSERT_OK(rt_journal_exec_create(j, "tr-old", "training", "TRAIN", NULL, NULL, 10));
    RT_ASSERT_OK(rt_journal_exec_create(j, "tr-done", "training", "CHECK", NULL, NULL, 20));
    RT_ASSERT_OK(rt_journal_exec_advance(j, "tr-done", NULL, NULL, "DONE", true, NULL, 30));
    char dir[512];
    snprintf(dir, sizeof(dir), "%s/data", rt_test_tmpdir());
    struct rt_config cfg;
    memset(&cfg, 0, sizeof(cfg));
    cfg.data_dir = dir;
    struct rt_param_set values;
    memset(&values, 0, sizeof(values));
    cJSON *st = rt_report_status(&cfg, j, NULL, &values, false, NULL);
    RT_ASSERT(st != NULL);
    const cJSON *fl = cJSON_GetObjectItem(st, "in_flight");
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(fl), 1 + RT_REPORT_IN_FLIGHT_OTHERS);
    RT_ASSERT_INT_EQ((int)cJSON_GetNumberValue(cJSON_GetObjectItem(st, "in_flight_total")), 31);
    bool training = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, fl)
    {
        const char *eid = cJSON_GetStringValue(cJSON_GetObjectItem(e, "id"));
        if (!strcmp(eid, "tr-old"))
            training = true;
        RT_ASSERT(strcmp(eid, "tr-done") != 0);
    }
    RT_ASSERT(training); /* the oldest execution of all, yet listed */
    /* newest first: de-29 (started last) leads */
    RT_ASSERT_STR_EQ(cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(fl, 0), "id")),
                     "de-29");
    const cJSON *rv = cJSON_GetObjectItem(st, "review");
    RT_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(rv, "open")));
    RT_ASSERT(cJSON_IsNull(cJSON_GetObjectItem(rv, "oldest_open_at")));
    const cJSON *d = cJSON_GetObjectItem(st, "detections");
    RT_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(d, "accepted_low")));
    RT_ASSERT(cJSON_IsObject(cJSON_GetObjectItem(st, "sampling_agreement")));
    cJSON_Delete(st);
    rt_journal_close(j);
}
