/*
 * counters.c - finished executions by workflow and end state, detections by route: loaded once
 * at start, then kept from the machine's committed transitions (see counters.h).
 */
#include "counters.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <string.h>

#include "retraind/journal.h"
#include "retraind/journal_detections.h"
#include "retraind/log.h"

static struct rt_exec_count *slot(struct rt_daemon_counters *c, const char *wf, const char *state)
{
    for (int i = 0; i < c->n_exec; i++)
        if (!strcmp(c->exec[i].workflow, wf) && !strcmp(c->exec[i].state, state))
            return &c->exec[i];
    if (c->n_exec == RT_COUNTERS_MAX || strlen(wf) >= sizeof(c->exec[0].workflow) ||
        strlen(state) >= sizeof(c->exec[0].state))
        return NULL;
    struct rt_exec_count *e = &c->exec[c->n_exec++];
    rt_strlcpy(e->workflow, wf, sizeof(e->workflow));
    rt_strlcpy(e->state, state, sizeof(e->state));
    e->n = 0;
    return e;
}

static int add_count(const char *wf, const char *state, int64_t n, void *ud)
{
    struct rt_exec_count *e = slot(ud, wf, state);
    if (e)
        e->n += n;
    return 0;
}

/* Every end state of every workflow, at 0: a counter exists before its first increment. */
static void add_end_states(struct rt_daemon_counters *c)
{
    char *text = rt_workflow_graph_json();
    cJSON *g = text ? cJSON_Parse(text) : NULL;
    cJSON_free(text);
    const cJSON *wf;
    cJSON_ArrayForEach(wf, g)
    {
        const cJSON *st;
        cJSON_ArrayForEach(st, cJSON_GetObjectItemCaseSensitive(wf, "terminal"))
        {
            if (cJSON_IsString(st))
                slot(c, wf->string, st->valuestring);
        }
    }
    cJSON_Delete(g);
}

int rt_counters_load(struct rt_daemon_counters *c, struct rt_journal *j)
{
    memset(c, 0, sizeof(*c));
    add_end_states(c);
    int rc = rt_journal_exec_end_counts(j, add_count, c);
    struct rt_detection_counts d;
    int drc = rt_journal_detection_counts(j, &d);
    if (!drc) {
        c->accepted = d.accepted;
        c->accepted_low = d.accepted_low;
        c->review = d.review;
    }
    if (rc || drc)
        RT_LOG(RT_LOG_WARNING, "daemon", "event=counters_load_failed error=%s",
               rt_q(rt_strerror(rc ? rc : drc)));
    return rc ? rc : drc;
}

void rt_counters_transition(struct rt_daemon_counters *c, const struct rt_transition *t)
{
    if (t->terminal) {
        struct rt_exec_count *e = slot(c, t->workflow, t->to);
        if (e)
            e->n++;
    }
    if (!strcmp(t->workflow, "detection") && !strcmp(t->from, "ROUTE")) {
        const char *route =
            cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive((const cJSON *)t->ctx, "route"));
        if (!route || !strcmp(t->to, "FAILED"))
            return;
        if (!strcmp(route, RT_ROUTE_ACCEPTED))
            c->accepted++;
        else if (!strcmp(route, RT_ROUTE_ACCEPTED_LOW))
            c->accepted_low++;
        else if (!strcmp(route, RT_ROUTE_REVIEW))
            c->review++;
    }
}

int rt_prom_label(struct rt_buf *out, const char *value)
{
    int rc = 0;
    for (const char *p = value; !rc && *p; p++) {
        if (*p == '\\')
            rc = rt_buf_append_str(out, "\\\\");
        else if (*p == '"')
            rc = rt_buf_append_str(out, "\\\"");
        else if (*p == '\n')
            rc = rt_buf_append_str(out, "\\n");
        else
            rc = rt_buf_append(out, p, 1);
    }
    return rc;
}

int rt_counters_write(const struct rt_daemon_counters *c, struct rt_buf *out)
{
    int rc = rt_buf_append_str(out, "# HELP retraind_executions_total Finished executions, by "
                                    "workflow and end state.\n"
                                    "# TYPE retraind_executions_total counter\n");
    for (int i = 0; !rc && i < c->n_exec; i++) {
        rc = rt_buf_append_str(out, "retraind_executions_total{workflow=\"");
        if (!rc)
            rc = rt_prom_label(out, c->exec[i].workflow);
        if (!rc)
            rc = rt_buf_append_str(out, "\",state=\"");
        if (!rc)
            rc = rt_prom_label(out, c->exec[i].state);
        if (!rc)
            rc = rt_buf_printf(out, "\"} %" PRId64 "\n", c->exec[i].n);
    }
    if (!rc)
        rc = rt_buf_printf(out,
                           "# HELP retraind_detections_total Images detected, by route.\n"
                           "# TYPE retraind_detections_total counter\n"
                           "retraind_detections_total{route=\"accepted\"} %" PRId64 "\n"
                           "retraind_detections_total{route=\"accepted_low\"} %" PRId64 "\n"
                           "retraind_detections_total{route=\"review\"} %" PRId64 "\n",
                           c->accepted, c->accepted_low, c->review);
    return rc;
}
