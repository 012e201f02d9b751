/*
 * metrics.c - HTTP requests counted by route and status, for /metrics.
 *
 * Routes are the static names of the route table ("/api/reviews/:id/answer"), never a path from
 * the request, so the label set is small and fixed: a flood of made-up paths all count under
 * "other".
 */
#include <inttypes.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/error.h"

void rt__http_metrics_count(struct rt_http_metrics *m, const char *route, int code)
{
    for (int i = 0; i < m->n; i++)
        if (m->v[i].route == route && m->v[i].code == code) {
            m->v[i].n++;
            return;
        }
    if (m->n == m->cap) {
        int cap = m->cap ? m->cap * 2 : 32;
        struct rt_http_counter *v = rt_realloc(m->v, (size_t)cap * sizeof(*v));
        if (!v)
            return; /* a lost count is better than a failed request */
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (struct rt_http_counter){.route = route, .code = code, .n = 1};
}

int rt__http_metrics_write(const struct rt_http_metrics *m, struct rt_buf *out)
{
    int rc = rt_buf_append_str(out, "# HELP retraind_http_requests_total HTTP requests answered, "
                                    "by route and status.\n"
                                    "# TYPE retraind_http_requests_total counter\n");
    for (int i = 0; !rc && i < m->n; i++)
        rc = rt_buf_printf(out,
                           "retraind_http_requests_total{route=\"%s\",code=\"%d\"} %" PRIu64 "\n",
                           m->v[i].route, m->v[i].code, m->v[i].n);
    return rc;
}

void rt__http_metrics_cleanup(struct rt_http_metrics *m)
{
    rt_free(m->v);
    m->v = NULL;
    m->n = m->cap = 0;
}
