/*
 * ratelimit.c - failed sign-ins counted per user name and per client address.
 *
 * Design: a key may fail max_fails times within window_ms; the next attempt inside the window is
 * refused (429, Retry-After) before any password is checked, so guessing costs the guesser time
 * and not the daemon CPU. Each key keeps a ring of its last failure times. The table is fixed in
 * size: when full, the entry whose newest failure is oldest makes room, so a flood of made-up
 * names cannot grow memory (at worst it lets an old record go early).
 */
#include <string.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/error.h"

int rt__http_rl_init(struct rt_http_ratelimit *rl,
                     int max_entries,
                     int max_fails,
                     int64_t window_ms)
{
    rl->v = rt_calloc((size_t)max_entries, sizeof(*rl->v));
    if (!rl->v)
        return RT_ENOMEM;
    rl->max = max_entries;
    rl->max_fails = max_fails > RT_HTTP_RL_MAX_FAILS ? RT_HTTP_RL_MAX_FAILS : max_fails;
    rl->window_ms = window_ms;
    return 0;
}

void rt__http_rl_cleanup(struct rt_http_ratelimit *rl)
{
    rt_free(rl->v);
    rl->v = NULL;
    rl->max = 0;
}

static struct rt_http_rl_entry *find(struct rt_http_ratelimit *rl, const char *key)
{
    for (int i = 0; i < rl->max; i++)
        if (rl->v[i].key[0] && strcmp(rl->v[i].key, key) == 0)
            return &rl->v[i];
    return NULL;
}

/* Returns: the newest failure time of e. */
static int64_t newest(const struct rt_http_rl_entry *e)
{
    int64_t t = 0;
    for (int i = 0; i < e->n; i++)
        if (e->fails[i] > t)
            t = e->fails[i];
    return t;
}

/* Returns: how many failures of e lie in the window, and the oldest of them in *oldest. */
static int recent(const struct rt_http_ratelimit *rl,
                  const struct rt_http_rl_entry *e,
                  int64_t now,
                  int64_t *oldest)
{
    int n = 0;
    *oldest = INT64_MAX;
    for (int i = 0; i < e->n; i++)
        if (now - e->fails[i] < rl->window_ms) {
            n++;
            if (e->fails[i] < *oldest)
                *oldest = e->fails[i];
        }
    return n;
}

int rt__http_rl_blocked(struct rt_http_ratelimit *rl, const char *key, int64_t now)
{
    struct rt_http_rl_entry *e = find(rl, key);
    if (!e)
        return 0;
    int64_t oldest;
    if (recent(rl, e, now, &oldest) < rl->max_fails)
        return 0;
    int64_t wait_ms = oldest + rl->window_ms - now;
    int s = (int)((wait_ms + 999) / 1000);
    return s < 1 ? 1 : s;
}

void rt__http_rl_fail(struct rt_http_ratelimit *rl, const char *key, int64_t now)
{
    struct rt_http_rl_entry *e = find(rl, key);
    if (!e) {
        /* A free slot, else one whose failures all left the window, else the stalest. */
        for (int i = 0; i < rl->max && !e; i++)
            if (!rl->v[i].key[0])
                e = &rl->v[i];
        for (int i = 0; i < rl->max && !e; i++)
            if (now - newest(&rl->v[i]) >= rl->window_ms)
                e = &rl->v[i];
        if (!e) {
            e = &rl->v[0];
            for (int i = 1; i < rl->max; i++)
                if (newest(&rl->v[i]) < newest(e))
                    e = &rl->v[i];
        }
        memset(e, 0, sizeof(*e));
        rt_strlcpy(e->key, key, sizeof(e->key)); /* a cut key still limits its prefix */
    }
    e->fails[e->next] = now;
    e->next = (e->next + 1) % rl->max_fails;
    if (e->n < rl->max_fails)
        e->n++;
}

void rt__http_rl_clear(struct rt_http_ratelimit *rl, const char *key)
{
    struct rt_http_rl_entry *e = find(rl, key);
    if (e)
        memset(e, 0, sizeof(*e));
}
