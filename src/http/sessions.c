/*
 * sessions.c - signed-in portal sessions, held in memory only.
 *
 * Design: a fixed table (no growth under a flood of sign-ins: the least recently used session
 * goes when it is full). A session id and its CSRF token are 32 bytes from getrandom each, as hex;
 * lookups compare in constant time. A session ends after idle_ms without a request or max_age_ms
 * after sign-in; a restart of the daemon signs everybody out, which is acceptable for a portal on
 * one machine and keeps secrets off the disk.
 */
#include <openssl/crypto.h>
#include <string.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/error.h"

int rt__http_sessions_init(struct rt_http_sessions *ss,
                           int max,
                           int64_t idle_ms,
                           int64_t max_age_ms)
{
    ss->v = rt_calloc((size_t)max, sizeof(*ss->v));
    if (!ss->v)
        return RT_ENOMEM;
    ss->max = max;
    ss->idle_ms = idle_ms;
    ss->max_age_ms = max_age_ms;
    return 0;
}

void rt__http_sessions_cleanup(struct rt_http_sessions *ss)
{
    if (ss->v) {
        OPENSSL_cleanse(ss->v, (size_t)ss->max * sizeof(*ss->v));
        rt_free(ss->v);
    }
    ss->v = NULL;
    ss->max = 0;
}

void rt__http_sessions_end(struct rt_http_sessions *ss, struct rt_http_session *s)
{
    (void)ss;
    OPENSSL_cleanse(s, sizeof(*s));
}

static bool expired(const struct rt_http_sessions *ss, const struct rt_http_session *s, int64_t now)
{
    return now - s->last_ms > ss->idle_ms || now - s->created_ms > ss->max_age_ms;
}

struct rt_http_session *rt__http_sessions_create(struct rt_http_sessions *ss,
                                                 const char *user,
                                                 enum rt_role role,
                                                 int64_t now)
{
    struct rt_http_session *slot = NULL;
    for (int i = 0; i < ss->max && !slot; i++)
        if (!ss->v[i].used || expired(ss, &ss->v[i], now))
            slot = &ss->v[i];
    if (!slot) { /* full of live sessions: the least recently used goes */
        slot = &ss->v[0];
        for (int i = 1; i < ss->max; i++)
            if (ss->v[i].last_ms < slot->last_ms)
                slot = &ss->v[i];
    }
    OPENSSL_cleanse(slot, sizeof(*slot));
    if (rt__http_random_hex(slot->id, RT_HTTP_SESSION_ID_HEX / 2) ||
        rt__http_random_hex(slot->csrf, RT_HTTP_SESSION_ID_HEX / 2)) {
        OPENSSL_cleanse(slot, sizeof(*slot));
        return NULL;
    }
    if (rt_strlcpy(slot->user, user, sizeof(slot->user))) {
        OPENSSL_cleanse(slot, sizeof(*slot));
        return NULL;
    }
    slot->role = role;
    slot->created_ms = slot->last_ms = now;
    slot->used = true;
    return slot;
}

struct rt_http_session *
rt__http_sessions_find(struct rt_http_sessions *ss, const char *id, int64_t now)
{
    if (strlen(id) != RT_HTTP_SESSION_ID_HEX)
        return NULL;
    struct rt_http_session *found = NULL;
    for (int i = 0; i < ss->max; i++) {
        struct rt_http_session *s = &ss->v[i];
        /* Every used slot is compared, so the time does not say which one matched. */
        if (s->used && CRYPTO_memcmp(s->id, id, RT_HTTP_SESSION_ID_HEX) == 0)
            found = s;
    }
    if (!found)
        return NULL;
    if (expired(ss, found, now)) {
        OPENSSL_cleanse(found, sizeof(*found));
        return NULL;
    }
    found->last_ms = now;
    return found;
}
