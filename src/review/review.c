/*
 * review.c - what every review driver and its callers share: task ids, the `review list --json`
 * shape, the A2I output key layout, and status codes as HTTP statuses.
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/journal_reviews.h"
#include "retraind/review.h"
#include "retraind/review_local.h"

int rt_review_task_id(const char *exec_id, char *out, size_t size)
{
    if (!exec_id || !*exec_id || !out || size == 0)
        return RT_EINVAL;
    char id[RT_REVIEW_TASK_ID_MAX + 1];
    size_t n = 0;
    id[n++] = 'r';
    id[n++] = 't';
    id[n++] = '-';
    for (const char *p = exec_id; *p; p++) {
        char c = *p;
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        else if (c == '_')
            c = '-';
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
        /* A2I human loop names: 1-63 of [a-z0-9-], starting and ending with a letter or digit. */
        if (!ok || n >= 63)
            return RT_EINVAL;
        id[n++] = c;
    }
    if (id[n - 1] == '-')
        return RT_EINVAL;
    id[n] = '\0';
    return rt_strlcpy(out, id, size) < 0 ? RT_EINVAL : 0;
}

int rt_review_http_status(int status)
{
    switch (status) {
    case 0:
        return 200;
    case RT_ENOTFOUND:
        return 404;
    case RT_EINVAL:
        return 400;
    case -EEXIST:
    case -EALREADY:
        return 409;
    case RT_ECANCELED:
        return 503;
    default:
        return 500;
    }
}

int rt_review_a2i_key(
    const char *prefix, int64_t created_ms, const char *task_id, char *out, size_t size)
{
    time_t secs = (time_t)(created_ms / 1000);
    struct tm tm;
    if (!gmtime_r(&secs, &tm))
        return RT_EINVAL;
    return rt_snprintf(out, size, "%s%s/%04d/%02d/%02d/%02d/%02d/%02d/%s/output.json",
                       prefix ? prefix : "", RT_REVIEW_LOCAL_FLOW, tm.tm_year + 1900, tm.tm_mon + 1,
                       tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, task_id)
               ? RT_ETOOBIG
               : 0;
}

/* ---- the list shape ---- */

static cJSON *str_or_null(const char *s)
{
    return s ? cJSON_CreateString(s) : cJSON_CreateNull();
}

static cJSON *time_or_null(int64_t ms)
{
    char t[40];
    return ms > 0 ? cJSON_CreateString(rt_time_rfc3339(ms, t, sizeof(t))) : cJSON_CreateNull();
}

/* Returns: the list object of t, or NULL when out of memory. */
static cJSON *task_object(const struct rt_journal_review *t)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    cJSON *options = t->options ? cJSON_Parse(t->options) : NULL;
    bool ok = cJSON_AddStringToObject(o, "id", t->id) &&
              cJSON_AddStringToObject(o, "key", t->key) &&
              cJSON_AddStringToObject(o, "source", t->source) &&
              cJSON_AddItemToObject(o, "detected_label", str_or_null(t->detected_label)) &&
              cJSON_AddItemToObject(o, "confidence",
                                    t->confidence >= 0 ? cJSON_CreateNumber(t->confidence)
                                                       : cJSON_CreateNull()) &&
              cJSON_AddItemToObject(o, "options", options ? options : cJSON_CreateArray()) &&
              cJSON_AddStringToObject(o, "state", t->state) &&
              cJSON_AddNumberToObject(o, "answers", t->answers) &&
              cJSON_AddNumberToObject(o, "answers_needed", t->answers_needed) &&
              cJSON_AddItemToObject(o, "result", str_or_null(t->result)) &&
              cJSON_AddItemToObject(o, "created_at", time_or_null(t->created_ms)) &&
              cJSON_AddItemToObject(o, "answered_at", time_or_null(t->answered_ms)) &&
              cJSON_AddItemToObject(o, "exec_id", str_or_null(*t->exec_id ? t->exec_id : NULL));
    if (!ok) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

struct list_ctx {
    cJSON *arr;
    int rc;
};

static int add_task(const struct rt_journal_review *t, void *ud)
{
    struct list_ctx *c = ud;
    cJSON *o = task_object(t);
    if (!o || !cJSON_AddItemToArray(c->arr, o)) {
        cJSON_Delete(o);
        c->rc = RT_ENOMEM;
        return 1;
    }
    return 0;
}

cJSON *rt_review_list_json(struct rt_journal *j, const struct rt_journal_review_filter *f, int *rc)
{
    struct list_ctx c = {.arr = cJSON_CreateArray()};
    if (!c.arr) {
        if (rc)
            *rc = RT_ENOMEM;
        return NULL;
    }
    if (j) {
        int r = rt_journal_review_list(j, f, add_task, &c);
        if (!c.rc)
            c.rc = r;
    }
    if (c.rc) {
        cJSON_Delete(c.arr);
        if (rc)
            *rc = c.rc;
        return NULL;
    }
    if (rc)
        *rc = 0;
    return c.arr;
}
