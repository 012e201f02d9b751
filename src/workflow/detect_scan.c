/*
 * detect_scan.c - the detection service (detect.h): scanner, dispatcher, results flusher and
 * sampler, all on the loop thread.
 *
 * Scanner. A scan lists the detection prefix page by page. For each image (.jpg/.jpeg/.png,
 * case-insensitive) whose (key, etag) has no row yet, it remembers size and etag in the pending
 * map; when a later scan sees the same size and etag again, the file is stable and its row is
 * queued (one journal batch per page; INSERT OR IGNORE, so a repeat is harmless); a store whose
 * listings show only complete objects (S3: listed_complete) is queued on the first look. A scan
 * that leaves entries pending is followed by another ~300 ms later, and so is a change reported by
 * the store's watch, so a file dropped into the folder is queued within about a second while a
 * file still being written keeps changing its etag and waits. The pending map is bounded
 * (PENDING_MAX): what does not fit is seen on a later scan. A row in the journal is never queued
 * again, across rescans and restarts: the check is one indexed query per listed image.
 *
 * Dispatcher. With an active model, it reads the first queued rows by seq (a few at a time) and
 * starts one detection execution per row not already in flight, up to detection.concurrency.
 * The row stays 'queued' until DETECT's transition marks it 'detecting'; the in-flight slots
 * (exec, seq) keep the dispatcher from taking it twice meanwhile. A slot frees when its execution
 * leaves DETECT (the machine's settle hook), so executions waiting for people hold no slot.
 *
 * Flusher. Every detection.results_flush_ms, at 1,000 new results, and at close, it plans a batch
 * of at most 1,000 unflushed results by seq (result_key = detection-results/YYYY/MM/DD/HH/
 * <first execution id>.jsonl, hour of the first result; written in one transaction), then writes
 * the file from exactly the planned rows, then marks them flushed. A crash between the steps
 * finds the planned batch at start and writes the same file with the same lines again.
 *
 * Sampler. Every Automatic-Human-Sampling-Frequency while Enable-Automatic-Human-Sampling is
 * true (and on `trigger sampling`), it walks the detections after the last sampled one, marks
 * every Human-Sampling-Interval-th sampled (one batch) and then starts a sampling execution for
 * each. Sampled rows that no execution owns (a crash between the two) are started at start.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "detect_int.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/detect.h"
#include "retraind/engine.h"
#include "retraind/hash.h"
#include "retraind/journal_detections.h"
#include "retraind/log.h"
#include "retraind/review.h"
#include "retraind/store.h"

#define SETTLE_MS 300
#define PENDING_MAX 20000
#define PENDING_BUCKETS 4096
#define SCAN_PAGE 1000 /* S3's largest page: a listing round costs as few calls as it can */
#define FLUSH_MAX 1000
#define FLUSH_CHUNK 100
#define SAMPLE_MAX 1000
#define LABELS_TTL_MS 60000
#define EVENTS_TICK_MS 1000 /* the dispatcher's tick when listings are rare (store events) */

struct pending {
    struct pending *next;
    int64_t size;
    uint32_t gen; /* the scan that saw it last */
    uint32_t first_gen;
    char etag[96];
    char key[]; /* NUL-terminated */
};

struct slot {
    struct rt_exec *x; /* NULL: free */
    int64_t seq;
};

struct flush_build {
    struct rt_buf out;
    int64_t n;
    int64_t last_seq;
    int rc;
};

struct rt_detect {
    struct rt_machine *m;       /* borrowed; not used once stopped (it closes before this) */
    struct rt_workflow_env env; /* a copy: the flush at close runs after the machine is gone */
    uv_loop_t *loop;
    /* scanner */
    uv_timer_t scan_timer;   /* periodic: store.scan_ms */
    uv_timer_t settle_timer; /* one-shot: the second look */
    uv_timer_t dispatch_timer;
    uv_timer_t flush_timer;
    uv_timer_t sample_timer;
    int timers_open;
    struct rt_store_watch *watch;
    struct rt_store_events *events; /* the store's event source (s3: SQS), or NULL */
    int event_writes;               /* event batches with the writer */
    int64_t scan_ms, last_scan_ms;  /* store.scan; mono ms of the last periodic listing */
    bool listing, rescan_wanted, overflow;
    uint32_t gen;
    struct pending *buckets[PENDING_BUCKETS];
    size_t n_pending;
    int queue_writes; /* queue batches with the writer */
    /* dispatcher */
    struct slot *slots;
    int n_slots, used;
    int call_limit, calls, call_wins; /* adaptive concurrency of engine calls */
    int64_t last_cut_ms;
    /* engine.idle_stop: the active version stopped while idle, started when images arrive */
    enum { IDLE_SERVING, IDLE_STOPPING, IDLE_STOPPED, IDLE_STARTING, IDLE_PROBING } idle;
    int64_t last_busy_ms, last_poll_ms;
    struct idle_call *idle_call; /* the engine call in flight, or NULL */
    char idle_version[128];
    bool waiting_model_logged;
    /* flusher */
    bool flushing, flush_again;
    int64_t new_results;  /* results written by this process and not yet flushed */
    int64_t plan_counted; /* how many of them the batch being flushed can hold */
    char flush_key[RT_STORE_KEY_MAX + 1];
    int64_t flush_n;
    uv_timer_t build_timer; /* builds the file a chunk per turn */
    struct flush_build build;
    int64_t build_after;
    /* label folders for review options */
    char labels[RT_REVIEW_MAX_OPTIONS][128];
    size_t n_labels;
    int64_t labels_at; /* mono ms; 0 = never */
    /* sampler */
    bool sampling;
    /* life */
    bool started, stopped, closing, no_review_warned;
    void (*close_cb)(void *ud);
    void *close_ud;
    struct rt_detect_stats stats;
};

static const struct rt_workflow_env *env(struct rt_detect *d)
{
    return &d->env;
}

void rt__detect_warn_no_review(struct rt_machine *m)
{
    struct rt_detect *d = m->detect;
    if (d && d->no_review_warned)
        return;
    if (d)
        d->no_review_warned = true;
    RT_LOG(RT_LOG_WARNING, "workflow",
           "event=review_unavailable reason=\"no review driver runs: Enable-A2I-Workflow counts "
           "as false and sampling is skipped\"");
}

size_t rt__detect_labels_get(struct rt_machine *m, char out[][128], size_t max)
{
    struct rt_detect *d = m->detect;
    if (!d || !d->labels_at || rt_mono_ms() - d->labels_at > LABELS_TTL_MS)
        return 0;
    size_t n = d->n_labels < max ? d->n_labels : max;
    for (size_t i = 0; i < n; i++)
        rt_strlcpy(out[i], d->labels[i], 128);
    return n;
}

void rt__detect_labels_put(struct rt_machine *m, char *const *labels, size_t n)
{
    struct rt_detect *d = m->detect;
    if (!d)
        return;
    d->n_labels = 0;
    for (size_t i = 0; i < n && i < RT_REVIEW_MAX_OPTIONS; i++)
        rt_strlcpy(d->labels[d->n_labels++], labels[i], sizeof(d->labels[0]));
    d->labels_at = rt_mono_ms();
}

/* ---- the pending map ---- */

static struct pending **pending_slot(struct rt_detect *d, const char *key)
{
    uint64_t h = rt_hash64(key, strlen(key));
    struct pending **p = &d->buckets[h % PENDING_BUCKETS];
    while (*p && strcmp((*p)->key, key) != 0)
        p = &(*p)->next;
    return p;
}

static void pending_remove(struct rt_detect *d, struct pending **p)
{
    struct pending *e = *p;
    *p = e->next;
    rt_free(e);
    d->n_pending--;
}

/* Drops entries the last scan did not see (deleted or renamed away). */
static void pending_sweep(struct rt_detect *d, bool all)
{
    for (size_t b = 0; b < PENDING_BUCKETS; b++) {
        struct pending **p = &d->buckets[b];
        while (*p) {
            if (all || (*p)->gen != d->gen)
                pending_remove(d, p);
            else
                p = &(*p)->next;
        }
    }
}

/* ---- scanner ---- */

static void kick_dispatch(struct rt_detect *d);
static void scan_start(struct rt_detect *d);
static void on_settle_timer(uv_timer_t *t)
{
    scan_start(t->data);
}
static void maybe_closed(struct rt_detect *d);

static void queued_written(int status, const struct rt_error *err, void *ud)
{
    struct rt_detect *d = ud;
    d->queue_writes--;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=queue_write_failed error=%s",
               rt_q(err ? err->msg : rt_strerror(status)));
    else
        kick_dispatch(d);
    maybe_closed(d);
}

static int scan_page(const struct rt_store_entry *e,
                     size_t n,
                     bool last,
                     int status,
                     const struct rt_error *err,
                     void *ud)
{
    struct rt_detect *d = ud;
    if (d->stopped) {
        d->listing = false;
        maybe_closed(d);
        return 1;
    }
    struct rt_journal *j = env(d)->journal;
    struct rt_jbatch *b = NULL;
    size_t queued = 0;
    int64_t now = rt_now_ms();
    /* One read lock for the page's lookups, not one each. */
    bool snapshot = rt_journal_read_begin(j) == 0;
    for (size_t i = 0; i < n; i++) {
        if (!e[i].etag || !rt_store_is_image_key(e[i].key))
            continue;
        int known = rt_journal_detection_known(j, e[i].key, e[i].etag);
        struct pending **p = pending_slot(d, e[i].key);
        if (known != 0) {
            /* Known (or unreadable journal: try again next scan). */
            if (*p)
                pending_remove(d, p);
            continue;
        }
        if (env(d)->store->ops->listed_complete ||
            (*p && (*p)->size == e[i].size && strcmp((*p)->etag, e[i].etag) == 0 &&
             (*p)->first_gen != d->gen)) {
            /* Same size and etag on two looks (or a store that lists only complete objects):
             * stable. */
            if (!b && rt_jbatch_new(&b) != 0)
                break;
            if (rt_jbatch_detection_queue(b, e[i].key, e[i].etag, e[i].size, now) != 0)
                break;
            queued++;
            if (*p)
                pending_remove(d, p);
            continue;
        }
        if (*p) {
            if ((*p)->size != e[i].size || strcmp((*p)->etag, e[i].etag) != 0) {
                (*p)->first_gen = d->gen; /* changed: start over */
                (*p)->size = e[i].size;
                rt_strlcpy((*p)->etag, e[i].etag, sizeof((*p)->etag));
            }
            (*p)->gen = d->gen;
            continue;
        }
        if (d->n_pending >= PENDING_MAX) {
            d->overflow = true;
            continue;
        }
        size_t klen = strlen(e[i].key);
        struct pending *np = rt_malloc(sizeof(*np) + klen + 1);
        if (!np)
            break;
        memcpy(np->key, e[i].key, klen + 1);
        np->size = e[i].size;
        np->gen = np->first_gen = d->gen;
        rt_strlcpy(np->etag, e[i].etag, sizeof(np->etag));
        np->next = NULL;
        *p = np;
        d->n_pending++;
    }
    if (snapshot)
        rt_journal_read_end(j);
    if (b && queued) {
        d->queue_writes++;
        if (rt_journal_submit(j, b, queued_written, d) != 0)
            d->queue_writes--;
        else
            d->stats.queued += (int64_t)queued;
    } else {
        rt_jbatch_free(b);
    }
    if (!last)
        return 0;
    d->listing = false;
    d->stats.scans++;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=scan_failed key=%s error=%s",
               rt_q(env(d)->cfg->store.prefixes.detection),
               rt_q(err ? err->msg : rt_strerror(status)));
    else
        pending_sweep(d, false);
    if (queued || d->n_pending)
        RT_LOG(RT_LOG_DEBUG, "workflow", "event=scan_done pending=%zu", d->n_pending);
    if (!d->stopped && (d->n_pending > 0 || d->overflow || d->rescan_wanted)) {
        /* The second look (or the look a change during this listing asked for). */
        d->overflow = false;
        d->rescan_wanted = false;
        uv_timer_start(&d->settle_timer, on_settle_timer, SETTLE_MS, 0);
    }
    maybe_closed(d);
    return 0;
}

/* ---- store events (the s3 store: S3 event notifications through SQS) ---- */

struct event_write {
    struct rt_detect *d;
    struct rt_store_events *sub; /* the subscription the batch came from */
};

static void events_written(int status, const struct rt_error *err, void *ud)
{
    struct event_write *w = ud;
    struct rt_detect *d = w->d;
    d->event_writes--;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=queue_write_failed source=events error=%s",
               rt_q(err ? err->msg : rt_strerror(status)));
    /* After a stop the subscription is gone: the messages stay in the queue and come back. */
    if (d->events && d->events == w->sub)
        env(d)->store->ops->events_done(env(d)->store, d->events, status);
    rt_free(w);
    if (!status)
        kick_dispatch(d);
    maybe_closed(d);
}

/*
 * Objects created under the detection prefix, from the store's event source. S3 reports an
 * object once it is complete, so an image is queued at once (no second look); the same
 * (key, etag) rule as the scanner's applies, so an event delivered twice, or an event for an
 * image a listing queued already, adds no row. The source forgets the batch (SQS DeleteMessage)
 * only once the rows are committed.
 */
static void on_events(const struct rt_store_event *ev, size_t n, void *ud)
{
    struct rt_detect *d = ud;
    struct rt_store *s = env(d)->store;
    struct rt_journal *j = env(d)->journal;
    struct rt_jbatch *b = NULL;
    size_t queued = 0;
    int rc = 0;
    int64_t now = rt_now_ms();
    for (size_t i = 0; i < n && !rc; i++) {
        if (!ev[i].etag || !rt_store_is_image_key(ev[i].key))
            continue;
        int known = rt_journal_detection_known(j, ev[i].key, ev[i].etag);
        if (known < 0) {
            rc = known;
            break;
        }
        struct pending **p = pending_slot(d, ev[i].key);
        if (*p)
            pending_remove(d, p); /* the scanner's second look is not needed any more */
        if (known)
            continue;
        if (!b)
            rc = rt_jbatch_new(&b);
        if (!rc)
            rc = rt_jbatch_detection_queue(b, ev[i].key, ev[i].etag,
                                           ev[i].size > 0 ? ev[i].size : 0, now);
        if (!rc) {
            queued++;
            RT_LOG(RT_LOG_DEBUG, "workflow", "event=queued source=events key=%s etag=%s",
                   rt_q(ev[i].key), rt_q(ev[i].etag));
        }
    }
    if (rc || !queued) {
        rt_jbatch_free(b);
        if (rc)
            RT_LOG(RT_LOG_WARNING, "workflow", "event=queue_write_failed source=events error=%s",
                   rt_q(rt_strerror(rc)));
        s->ops->events_done(s, d->events, rc);
        return;
    }
    struct event_write *w = rt_malloc(sizeof(*w));
    if (!w) {
        rt_jbatch_free(b);
        s->ops->events_done(s, d->events, RT_ENOMEM);
        return;
    }
    *w = (struct event_write){d, d->events};
    d->event_writes++;
    rc = rt_journal_submit(j, b, events_written, w);
    if (rc) {
        d->event_writes--;
        rt_free(w);
        s->ops->events_done(s, d->events, rc);
        return;
    }
    d->stats.queued += (int64_t)queued;
    d->stats.events += (int64_t)queued;
}

static void scan_start(struct rt_detect *d)
{
    if (d->stopped)
        return;
    if (d->listing) {
        d->rescan_wanted = true;
        return;
    }
    struct rt_store *s = env(d)->store;
    d->gen++;
    d->listing = true;
    int rc = s->ops->list(s, env(d)->cfg->store.prefixes.detection, SCAN_PAGE, RT_STORE_LIST_FULL,
                          scan_page, d);
    if (rc) {
        d->listing = false;
        RT_LOG(RT_LOG_WARNING, "workflow", "event=scan_failed error=%s", rt_q(rt_strerror(rc)));
    }
}

static void on_watch(void *ud)
{
    struct rt_detect *d = ud;
    if (d->stopped)
        return;
    /* A burst of events costs one scan: the timer is armed once, not pushed back. */
    if (!uv_is_active((uv_handle_t *)&d->settle_timer))
        uv_timer_start(&d->settle_timer, on_settle_timer, SETTLE_MS, 0);
}

static void flush_start(struct rt_detect *d);

static void idle_tick(struct rt_detect *d);
static void on_scan_timer(uv_timer_t *t)
{
    struct rt_detect *d = t->data;
    /* With store events the timer ticks every EVENTS_TICK_MS for the dispatcher and idle_stop,
     * and the listing, the safety net, runs only every store.scan. */
    int64_t now = rt_mono_ms();
    if (!d->events || d->last_scan_ms == 0 || now - d->last_scan_ms >= d->scan_ms) {
        d->last_scan_ms = now;
        scan_start(d);
    }
    idle_tick(d);
    kick_dispatch(d); /* a version deployed since the last tick */
}

static bool idle_ready(struct rt_detect *d, const struct rt_journal_model *active);

/* ---- engine.idle_stop ----
 *
 * With engine.idle_stop, the scan tick stops the active version once nothing was dispatched or
 * in flight for that long and nothing is queued (IDLE_SERVING -> IDLE_STOPPING -> IDLE_STOPPED);
 * the dispatcher, finding queued rows while the version is stopped, starts it (IDLE_STARTING)
 * and dispatches nothing until a describe (at most every engine.status_poll, on the scan tick)
 * says RUNNING. The active version stays the active version throughout. At start the state is
 * probed once (IDLE_PROBING): a version left stopped by an earlier process reads IDLE_STOPPED.
 * An engine call's callback reaches the service through a ticket that close() detaches. */
struct idle_call {
    struct rt_detect *d; /* NULL once the service closed */
};

static struct idle_call *idle_ticket(struct rt_detect *d)
{
    struct idle_call *t = rt_calloc(1, sizeof(*t));
    if (t) {
        t->d = d;
        d->idle_call = t;
    }
    return t;
}

/* Returns: the service of a ticket (NULL: closed), freeing the ticket. */
static struct rt_detect *idle_back(void *ud)
{
    struct idle_call *t = ud;
    struct rt_detect *d = t->d;
    rt_free(t);
    if (d)
        d->idle_call = NULL;
    return d;
}

static void
idle_described(int status, const struct rt_model_info *info, const struct rt_error *err, void *ud)
{
    struct rt_detect *d = idle_back(ud);
    if (!d)
        return;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=idle_describe_failed version=%s error=%s",
               rt_q(d->idle_version), rt_q(err ? err->msg : rt_strerror(status)));
        if (d->idle == IDLE_PROBING)
            d->idle = IDLE_SERVING;
        return;
    }
    if (info->status == RT_MODEL_RUNNING) {
        if (d->idle == IDLE_STARTING)
            RT_LOG(RT_LOG_NOTICE, "workflow", "event=model_resumed version=%s",
                   rt_q(d->idle_version));
        d->idle = IDLE_SERVING;
        d->last_busy_ms = rt_mono_ms();
        kick_dispatch(d);
    } else if (d->idle == IDLE_PROBING) {
        d->idle = info->status == RT_MODEL_STOPPED || info->status == RT_MODEL_TRAINING_COMPLETED
                      ? IDLE_STOPPED
                      : IDLE_SERVING;
        kick_dispatch(d);
    }
}

static void idle_describe(struct rt_detect *d)
{
    struct rt_engine *e = env(d)->engine;
    struct idle_call *t = idle_ticket(d);
    if (!t)
        return;
    d->last_poll_ms = rt_mono_ms();
    if (e->ops->describe(e, d->idle_version, idle_described, t) != 0)
        idle_back(t);
}

static void idle_started(int status, const struct rt_error *err, void *ud)
{
    struct rt_detect *d = idle_back(ud);
    if (!d)
        return;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=model_start_failed version=%s error=%s",
               rt_q(d->idle_version), rt_q(err ? err->msg : rt_strerror(status)));
        d->idle = IDLE_STOPPED; /* the next dispatch tries again */
        return;
    }
    d->last_poll_ms = rt_mono_ms();
}

static void idle_stopped(int status, const struct rt_error *err, void *ud)
{
    struct rt_detect *d = idle_back(ud);
    if (!d)
        return;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=model_idle_stop_failed version=%s error=%s",
               rt_q(d->idle_version), rt_q(err ? err->msg : rt_strerror(status)));
        d->idle = IDLE_SERVING;
        d->last_busy_ms = rt_mono_ms();
        return;
    }
    d->idle = IDLE_STOPPED;
    kick_dispatch(d); /* rows queued meanwhile start it again */
}

/* The dispatcher may hand out work only while the active version serves. */
static bool idle_ready(struct rt_detect *d, const struct rt_journal_model *active)
{
    if (env(d)->cfg->engine.idle_stop_ms <= 0)
        return true;
    if (d->idle == IDLE_SERVING && strcmp(d->idle_version, active->version) != 0) {
        /* A training deployed another version (it is RUNNING): follow it. */
        rt_strlcpy(d->idle_version, active->version, sizeof(d->idle_version));
    }
    if (d->idle == IDLE_SERVING)
        return true;
    if (d->idle != IDLE_STOPPED || d->idle_call)
        return false;
    int64_t queued = 0;
    if (rt_journal_detection_queued_count(env(d)->journal, &queued) != 0 || queued == 0)
        return false;
    struct rt_engine *e = env(d)->engine;
    rt_strlcpy(d->idle_version, active->version, sizeof(d->idle_version));
    struct idle_call *t = idle_ticket(d);
    if (!t)
        return false;
    int units = (int)env(d)->params->v[RT_P_MIN_INFERENCE_UNITS].i;
    d->idle = IDLE_STARTING;
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=model_start_on_demand version=%s queued=%lld",
           rt_q(d->idle_version), (long long)queued);
    if (e->ops->start(e, d->idle_version, units, idle_started, t) != 0) {
        idle_back(t);
        d->idle = IDLE_STOPPED;
    }
    return false;
}

/* The scan tick: probe once, stop when idle, poll a starting version. */
static void idle_tick(struct rt_detect *d)
{
    int64_t idle_ms = env(d)->cfg->engine.idle_stop_ms;
    if (idle_ms <= 0 || d->idle_call || d->stopped)
        return;
    int64_t now = rt_mono_ms();
    struct rt_journal_model active;
    if (rt_journal_model_get_active(env(d)->journal, &active) != 0)
        return;
    if (d->idle == IDLE_PROBING) {
        rt_strlcpy(d->idle_version, active.version, sizeof(d->idle_version));
        idle_describe(d);
        return;
    }
    if (d->idle == IDLE_STARTING) {
        int64_t poll = env(d)->engine_poll_ms > 0 ? env(d)->engine_poll_ms : 1000;
        if (now - d->last_poll_ms >= poll)
            idle_describe(d);
        return;
    }
    if (d->idle != IDLE_SERVING)
        return;
    if (d->used > 0 || d->calls > 0) {
        d->last_busy_ms = now;
        return;
    }
    if (now - d->last_busy_ms < idle_ms)
        return;
    int64_t queued = 0;
    if (rt_journal_detection_queued_count(env(d)->journal, &queued) != 0 || queued > 0)
        return;
    struct rt_engine *e = env(d)->engine;
    rt_strlcpy(d->idle_version, active.version, sizeof(d->idle_version));
    struct idle_call *t = idle_ticket(d);
    if (!t)
        return;
    d->idle = IDLE_STOPPING;
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=model_idle_stop version=%s idle_ms=%lld",
           rt_q(d->idle_version), (long long)(now - d->last_busy_ms));
    if (e->ops->stop(e, d->idle_version, idle_stopped, t) != 0) {
        idle_back(t);
        d->idle = IDLE_SERVING;
        d->last_busy_ms = now;
    }
}

/* ---- dispatcher ---- */

void rt__detect_slot_free(struct rt_detect *d, struct rt_exec *x)
{
    for (int i = 0; i < d->n_slots; i++) {
        if (d->slots[i].x == x) {
            d->slots[i].x = NULL;
            d->used--;
            kick_dispatch(d);
            return;
        }
    }
}

bool rt__detect_call_begin(struct rt_machine *m)
{
    struct rt_detect *d = m->detect;
    if (!d)
        return true;
    if (d->calls >= d->call_limit)
        return false;
    d->calls++;
    return true;
}

void rt__detect_call_end(struct rt_machine *m, int outcome)
{
    struct rt_detect *d = m->detect;
    if (!d)
        return;
    if (d->calls > 0)
        d->calls--;
    if (outcome == RT_ETHROTTLED) {
        d->call_wins = 0;
        int64_t now = rt_mono_ms();
        if (d->call_limit > 1 && now - d->last_cut_ms >= 1000) {
            d->call_limit = d->call_limit / 2 > 1 ? d->call_limit / 2 : 1;
            d->last_cut_ms = now;
            RT_LOG(RT_LOG_NOTICE, "workflow", "event=detect_slowdown limit=%d reason=throttled",
                   d->call_limit);
        }
    } else if (outcome == 0 && d->call_limit < d->n_slots && ++d->call_wins >= d->call_limit) {
        d->call_wins = 0;
        d->call_limit++;
        RT_LOG(RT_LOG_INFO, "workflow", "event=detect_speedup limit=%d", d->call_limit);
    }
    if (d->calls < d->call_limit)
        kick_dispatch(d);
}

void rt__detect_result_written(struct rt_detect *d)
{
    d->stats.results++;
    if (++d->new_results >= FLUSH_MAX)
        flush_start(d);
}

static bool in_flight(struct rt_detect *d, int64_t seq)
{
    for (int i = 0; i < d->n_slots; i++)
        if (d->slots[i].x && d->slots[i].seq == seq)
            return true;
    return false;
}

static int start_one(const struct rt_detection_row *r, void *ud)
{
    struct rt_detect *d = ud;
    if (d->used >= d->n_slots)
        return 1;
    if (in_flight(d, r->seq))
        return 0;
    int free_i = -1;
    for (int i = 0; i < d->n_slots && free_i < 0; i++)
        if (!d->slots[i].x)
            free_i = i;
    if (free_i < 0)
        return 1;
    cJSON *in = cJSON_CreateObject();
    cJSON_AddNumberToObject(in, "seq", (double)r->seq);
    cJSON_AddStringToObject(in, "key", r->key);
    cJSON_AddStringToObject(in, "etag", r->etag);
    char *input = cJSON_PrintUnformatted(in);
    cJSON_Delete(in);
    int rc = 0;
    struct rt_exec *x = input ? rt__exec_start(d->m, &rt__detection_def, input, &rc) : NULL;
    cJSON_free(input);
    if (!x) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=dispatch_failed key=%s error=%s", rt_q(r->key),
               rt_q(rt_strerror(rc ? rc : RT_ENOMEM)));
        return 1;
    }
    rt__ctx_set_int(x, "seq", r->seq);
    rt__ctx_set_str(x, "key", r->key);
    rt__ctx_set_str(x, "etag", r->etag);
    d->slots[free_i].x = x;
    d->slots[free_i].seq = r->seq;
    d->used++;
    d->stats.dispatched++;
    d->last_busy_ms = rt_mono_ms();
    return 0;
}

static void on_dispatch(uv_timer_t *t)
{
    struct rt_detect *d = t->data;
    if (d->stopped || !d->started || d->used >= d->n_slots)
        return;
    struct rt_journal_model active;
    int rc = rt_journal_model_get_active(env(d)->journal, &active);
    if (rc) {
        if (!d->waiting_model_logged)
            RT_LOG(RT_LOG_NOTICE, "workflow",
                   "event=detection_waiting reason=\"no active model: images stay queued until "
                   "a version is deployed\"");
        d->waiting_model_logged = true;
        return;
    }
    if (d->waiting_model_logged)
        RT_LOG(RT_LOG_NOTICE, "workflow", "event=detection_resumed version=%s",
               rt_q(active.version));
    d->waiting_model_logged = false;
    if (!idle_ready(d, &active))
        return; /* queued rows wait in the journal while the version starts */
    rc = rt_journal_detection_queued(env(d)->journal, d->n_slots * 2, start_one, d);
    if (rc)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=dispatch_read_failed error=%s",
               rt_q(rt_strerror(rc)));
}

static void kick_dispatch(struct rt_detect *d)
{
    if (!d->stopped && d->started)
        uv_timer_start(&d->dispatch_timer, on_dispatch, 0, 0);
}

/* Executions the machine resumed in DETECT hold a slot too. */
static void adopt_resumed(struct rt_detect *d)
{
    for (struct rt_exec *x = d->m->execs; x; x = x->next) {
        if (x->def != &rt__detection_def || x->done || x->state != rt__detection_def.initial)
            continue;
        for (int i = 0; i < d->n_slots; i++) {
            if (!d->slots[i].x) {
                d->slots[i].x = x;
                d->slots[i].seq = rt__ctx_int(x, "seq", 0);
                d->used++;
                break;
            }
        }
    }
}

/* ---- flusher ---- */

static void json_line(struct flush_build *f, const struct rt_detection_row *r)
{
    cJSON *o = cJSON_CreateObject();
    char at[40];
    rt_time_rfc3339(r->detected_ms, at, sizeof(at));
    cJSON_AddStringToObject(o, "key", r->key);
    cJSON_AddStringToObject(o, "etag", r->etag);
    cJSON_AddStringToObject(o, "content_hash", r->content_hash);
    cJSON_AddStringToObject(o, "request_id", r->request_id);
    cJSON_AddStringToObject(o, "label", r->label);
    cJSON_AddNumberToObject(o, "confidence", r->confidence);
    cJSON_AddNumberToObject(o, "threshold", r->threshold);
    cJSON_AddStringToObject(o, "route", r->route);
    cJSON_AddStringToObject(o, "model_version", r->model_version);
    cJSON_AddBoolToObject(o, "review_enabled", r->review_enabled);
    cJSON_AddBoolToObject(o, "sampled", r->sampled);
    cJSON_AddStringToObject(o, "detected_at", at);
    cJSON_AddStringToObject(o, "execution_id", r->exec_id);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text) {
        f->rc = RT_ENOMEM;
        return;
    }
    if (!f->rc)
        f->rc = rt_buf_printf(&f->out, "%s\n", text);
    cJSON_free(text);
    f->n++;
    f->last_seq = r->seq;
}

static int build_row(const struct rt_detection_row *r, void *ud)
{
    json_line(ud, r);
    return 0;
}

static void flush_end(struct rt_detect *d, bool ok)
{
    d->flushing = false;
    if (ok && (d->flush_again || d->flush_n >= FLUSH_MAX || d->closing)) {
        d->flush_again = false;
        flush_start(d);
        return;
    }
    maybe_closed(d);
}

static void marked_flushed(int status, const struct rt_error *err, void *ud)
{
    struct rt_detect *d = ud;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=results_mark_failed key=%s error=%s",
               rt_q(d->flush_key), rt_q(err ? err->msg : rt_strerror(status)));
        flush_end(d, false);
        return;
    }
    d->stats.flushes++;
    d->stats.flushed += d->flush_n;
    /* A batch also holds results written before a restart (never counted here), so it takes
     * off at most what was counted when it was planned: results counted after that are not in
     * it and must keep the next tick's flush coming. */
    int64_t done = d->plan_counted < d->flush_n ? d->plan_counted : d->flush_n;
    d->new_results = d->new_results > done ? d->new_results - done : 0;
    RT_LOG(RT_LOG_INFO, "workflow", "event=results_flushed key=%s lines=%lld", rt_q(d->flush_key),
           (long long)d->flush_n);
    flush_end(d, true);
}

static void results_put(int status, const struct rt_error *err, void *ud)
{
    struct rt_detect *d = ud;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=results_write_failed key=%s error=%s",
               rt_q(d->flush_key), rt_q(err ? err->msg : rt_strerror(status)));
        flush_end(d, false);
        return;
    }
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    if (!rc && (rc = rt_jbatch_detection_flushed(b, d->flush_key, rt_now_ms())) != 0)
        rt_jbatch_free(b);
    if (!rc)
        rc = rt_journal_submit(env(d)->journal, b, marked_flushed, d);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=results_mark_failed key=%s error=%s",
               rt_q(d->flush_key), rt_q(rt_strerror(rc)));
        flush_end(d, false);
    }
}

static void on_build_timer(uv_timer_t *t);

/* Writes the planned batch d->flush_key from its rows: read and formatted FLUSH_CHUNK rows per
 * loop turn, so a batch of 1,000 never holds the loop for long. */
static void write_planned(struct rt_detect *d)
{
    rt_buf_cleanup(&d->build.out);
    memset(&d->build, 0, sizeof(d->build));
    rt_buf_init(&d->build.out, 64 * 1024 * 1024);
    d->build_after = 0;
    d->flush_n = 0;
    uv_timer_start(&d->build_timer, on_build_timer, 0, 0);
}

static void on_build_timer(uv_timer_t *t)
{
    struct rt_detect *d = t->data;
    struct flush_build *f = &d->build;
    int64_t before = f->n;
    d->stats.build_chunks++;
    int rc = rt_journal_detection_batch_rows(env(d)->journal, d->flush_key, d->build_after,
                                             FLUSH_CHUNK, build_row, f);
    if (!rc)
        rc = f->rc;
    d->build_after = f->last_seq;
    if (!rc && f->n - before == FLUSH_CHUNK) {
        /* The next chunk on a later turn: a timer re-armed with 0 from its own callback would
         * run again in the same timer pass (libuv 1.44), building the whole batch at once. */
        uv_timer_start(&d->build_timer, on_build_timer, 1, 0);
        return;
    }
    d->flush_n = f->n;
    if (!rc && f->n == 0) {
        rt_buf_cleanup(&f->out);
        flush_end(d, true);
        return;
    }
    struct rt_store *s = env(d)->store;
    if (!rc)
        rc = s->ops->put(s, d->flush_key, f->out.data, f->out.len, "application/x-ndjson",
                         results_put, d);
    rt_buf_cleanup(&f->out);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=results_write_failed key=%s error=%s",
               rt_q(d->flush_key), rt_q(rt_strerror(rc)));
        flush_end(d, false);
    }
}

static void planned(int status, const struct rt_error *err, void *ud)
{
    struct rt_detect *d = ud;
    if (status) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=results_plan_failed key=%s error=%s",
               rt_q(d->flush_key), rt_q(err ? err->msg : rt_strerror(status)));
        flush_end(d, false);
        return;
    }
    write_planned(d);
}

struct plan_build {
    int64_t seqs[FLUSH_MAX];
    size_t n;
    char first_exec[64];
    int64_t first_ms;
};

/* The results file of a batch: the hour of its first result, named by its execution. */
static void result_key(struct rt_detect *d, const struct plan_build *p, char *out, size_t size)
{
    time_t t = (time_t)(p->first_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    rt_snprintf(out, size, "%s%04d/%02d/%02d/%02d/%s.jsonl", env(d)->cfg->store.prefixes.results,
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                p->first_exec[0] ? p->first_exec : "unknown");
}

static void flush_start(struct rt_detect *d)
{
    if (d->flushing) {
        d->flush_again = true;
        return;
    }
    struct rt_journal *j = env(d)->journal;
    d->flushing = true;
    /* A batch planned before a crash (or a failed write) first, exactly as planned. */
    int rc = rt_journal_detection_planned(j, d->flush_key, sizeof(d->flush_key));
    if (rc == 0) {
        d->plan_counted = 0; /* planned by an earlier process: none of it was counted here */
        write_planned(d);
        return;
    }
    struct plan_build *p = rc == RT_ENOTFOUND ? rt_calloc(1, sizeof(*p)) : NULL;
    if (p)
        rc = rt_journal_detection_unplanned_seqs(j, FLUSH_MAX, p->seqs, &p->n, p->first_exec,
                                                 sizeof(p->first_exec), &p->first_ms);
    if (!p || rc || p->n == 0) {
        if (p && !rc)
            d->new_results = 0; /* nothing unflushed: the idle ticks need no query */
        rt_free(p);
        flush_end(d, false);
        return;
    }
    d->plan_counted = d->new_results;
    result_key(d, p, d->flush_key, sizeof(d->flush_key));
    struct rt_jbatch *b = NULL;
    rc = rt_jbatch_new(&b);
    if (!rc && (rc = rt_jbatch_detection_plan(b, d->flush_key, p->seqs, p->n)) != 0)
        rt_jbatch_free(b);
    rt_free(p);
    if (!rc)
        rc = rt_journal_submit(j, b, planned, d);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=results_plan_failed error=%s",
               rt_q(rt_strerror(rc)));
        flush_end(d, false);
    }
}

static void on_flush_timer(uv_timer_t *t)
{
    struct rt_detect *d = t->data;
    if (d->new_results > 0) /* idle: no query */
        flush_start(d);
}

/* ---- sampler ---- */

struct sample_pick {
    int64_t interval, count;
    int64_t seqs[SAMPLE_MAX];
    size_t n;
};

static int pick_row(const struct rt_detection_row *r, void *ud)
{
    struct sample_pick *p = ud;
    (void)r;
    if (++p->count % p->interval == 0)
        p->seqs[p->n++] = r->seq;
    return p->n >= SAMPLE_MAX;
}

static void start_sample(struct rt_detect *d, int64_t seq)
{
    char input[64];
    rt_snprintf(input, sizeof(input), "{\"seq\":%lld}", (long long)seq);
    int rc = 0;
    struct rt_exec *x = rt__exec_start(d->m, &rt__sampling_def, input, &rc);
    if (!x) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=sample_start_failed seq=%lld error=%s",
               (long long)seq, rt_q(rt_strerror(rc)));
        return;
    }
    rt__ctx_set_int(x, "seq", seq);
    d->stats.sampled++;
}

struct sample_batch {
    struct rt_detect *d;
    size_t n;
    int64_t seqs[];
};

static void samples_marked(int status, const struct rt_error *err, void *ud)
{
    struct sample_batch *sb = ud;
    struct rt_detect *d = sb->d;
    d->sampling = false;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=sampling_failed error=%s",
               rt_q(err ? err->msg : rt_strerror(status)));
    else if (!d->stopped)
        for (size_t i = 0; i < sb->n; i++)
            start_sample(d, sb->seqs[i]);
    rt_free(sb);
    maybe_closed(d);
}

static int sample_round(struct rt_detect *d, const char *reason)
{
    if (d->stopped || d->sampling)
        return d->sampling ? RT_EBUSY : RT_ECANCELED;
    if (!env(d)->review) {
        rt__detect_warn_no_review(d->m);
        return RT_ENOTIMPL;
    }
    struct rt_journal *j = env(d)->journal;
    int64_t last = 0;
    int rc = rt_journal_detection_last_sampled(j, &last);
    if (rc)
        return rc;
    struct sample_pick *p = rt_calloc(1, sizeof(*p));
    if (!p)
        return RT_ENOMEM;
    p->interval = env(d)->params->v[RT_P_SAMPLING_INTERVAL].i;
    if (p->interval < 1)
        p->interval = 1;
    rc = rt_journal_detection_detected_after(j, last, (int)(p->interval * SAMPLE_MAX), pick_row, p);
    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=sampling reason=%s after_seq=%lld detections=%lld interval=%lld sampled=%zu",
           reason, (long long)last, (long long)p->count, (long long)p->interval, p->n);
    if (rc || p->n == 0) {
        rt_free(p);
        return rc;
    }
    struct sample_batch *sb = rt_malloc(sizeof(*sb) + p->n * sizeof(int64_t));
    struct rt_jbatch *b = NULL;
    rc = sb ? rt_jbatch_new(&b) : RT_ENOMEM;
    for (size_t i = 0; !rc && i < p->n; i++)
        rc = rt_jbatch_detection_sampled(b, p->seqs[i]);
    if (!rc) {
        sb->d = d;
        sb->n = p->n;
        memcpy(sb->seqs, p->seqs, p->n * sizeof(int64_t));
        d->sampling = true;
        rc = rt_journal_submit(j, b, samples_marked, sb);
        b = NULL;
        if (rc)
            d->sampling = false;
    }
    if (rc) {
        rt_jbatch_free(b);
        rt_free(sb);
    }
    rt_free(p);
    return rc;
}

static void on_sample_timer(uv_timer_t *t)
{
    struct rt_detect *d = t->data;
    sample_round(d, "schedule");
}

static void arm_sampling(struct rt_detect *d)
{
    if (d->stopped)
        return;
    const struct rt_param_set *p = env(d)->params;
    if (!p->v[RT_P_ENABLE_SAMPLING].b) {
        uv_timer_stop(&d->sample_timer);
        return;
    }
    uint64_t period = (uint64_t)p->v[RT_P_SAMPLING_FREQ].ms;
    if (period == 0)
        period = 3600 * 1000;
    uv_timer_start(&d->sample_timer, on_sample_timer, period, period);
    RT_LOG(RT_LOG_INFO, "workflow", "event=sampling_armed period_ms=%llu",
           (unsigned long long)period);
}

static int adopt_orphan(const struct rt_detection_row *r, void *ud)
{
    start_sample(ud, r->seq);
    return 0;
}

int rt_detect_trigger_sampling(struct rt_detect *d)
{
    return sample_round(d, "trigger");
}

void rt_detect_param_changed(struct rt_detect *d, enum rt_param_id id)
{
    if (!d || !d->started)
        return;
    if (id == RT_P_ENABLE_SAMPLING || id == RT_P_SAMPLING_FREQ)
        arm_sampling(d);
}

/* ---- life cycle ---- */

int rt_detect_new(struct rt_machine *m, struct rt_detect **out)
{
    struct rt_detect *d = rt_calloc(1, sizeof(*d));
    if (!d)
        return RT_ENOMEM;
    d->n_slots = m->env.cfg->detection.concurrency > 0 ? m->env.cfg->detection.concurrency : 8;
    d->call_limit = d->n_slots;
    d->slots = rt_calloc((size_t)d->n_slots, sizeof(*d->slots));
    if (!d->slots) {
        rt_free(d);
        return RT_ENOMEM;
    }
    d->m = m;
    d->loop = m->env.loop;
    uv_timer_t *timers[] = {&d->scan_timer,  &d->settle_timer, &d->dispatch_timer,
                            &d->flush_timer, &d->sample_timer, &d->build_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_init(d->loop, timers[i]);
        timers[i]->data = d;
        d->timers_open++;
    }
    d->env = m->env;
    m->detect = d;
    *out = d;
    return 0;
}

int rt_detect_start(struct rt_detect *d)
{
    const struct rt_workflow_env *e = env(d);
    d->started = true;
    d->last_busy_ms = rt_mono_ms();
    d->idle = e->cfg->engine.idle_stop_ms > 0 ? IDLE_PROBING : IDLE_SERVING;
    adopt_resumed(d);
    struct rt_store *s = e->store;
    if (s->ops->watch) {
        int rc = s->ops->watch(s, e->cfg->store.prefixes.detection, on_watch, d, &d->watch);
        if (rc)
            RT_LOG(RT_LOG_WARNING, "workflow", "event=watch_failed key=%s error=%s",
                   rt_q(e->cfg->store.prefixes.detection), rt_q(rt_strerror(rc)));
    }
    if (s->ops->events) {
        int rc = s->ops->events(s, e->cfg->store.prefixes.detection, on_events, d, &d->events);
        if (rc && rc != RT_ENOTIMPL)
            RT_LOG(RT_LOG_WARNING, "workflow", "event=events_failed key=%s error=%s",
                   rt_q(e->cfg->store.prefixes.detection), rt_q(rt_strerror(rc)));
    }
    uint64_t scan = (uint64_t)(e->cfg->store.scan_ms > 0 ? e->cfg->store.scan_ms : 10000);
    d->scan_ms = (int64_t)scan;
    uv_timer_start(&d->scan_timer, on_scan_timer, 0,
                   d->events && scan > EVENTS_TICK_MS ? EVENTS_TICK_MS : scan);
    uint64_t flush =
        (uint64_t)(e->cfg->detection.results_flush_ms > 0 ? e->cfg->detection.results_flush_ms
                                                          : 60000);
    uv_timer_start(&d->flush_timer, on_flush_timer, flush, flush);
    flush_start(d); /* a batch a crash left planned, and what was not flushed */
    if (e->review)
        rt_journal_detection_sample_orphans(e->journal, adopt_orphan, d);
    arm_sampling(d);
    kick_dispatch(d);
    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=detection_started key=%s concurrency=%d scan_ms=%llu flush_ms=%llu watch=%s "
           "events=%s",
           rt_q(e->cfg->store.prefixes.detection), d->n_slots, (unsigned long long)scan,
           (unsigned long long)flush, d->watch ? "yes" : "no", d->events ? "yes" : "no");
    return 0;
}

void rt_detect_stop(struct rt_detect *d)
{
    if (!d || d->stopped)
        return;
    d->stopped = true;
    if (d->idle_call) {
        d->idle_call->d = NULL; /* its answer is dropped */
        d->idle_call = NULL;
    }
    uv_timer_stop(&d->scan_timer);
    uv_timer_stop(&d->settle_timer);
    uv_timer_stop(&d->dispatch_timer);
    uv_timer_stop(&d->sample_timer);
    if (d->watch) {
        env(d)->store->ops->unwatch(env(d)->store, d->watch);
        d->watch = NULL;
    }
    if (d->events) {
        /* Cancels the long poll in flight; a batch being written stays in the queue. */
        env(d)->store->ops->unevents(env(d)->store, d->events);
        d->events = NULL;
    }
}

static void timer_closed(uv_handle_t *h)
{
    struct rt_detect *d = h->data;
    if (--d->timers_open > 0)
        return;
    void (*cb)(void *) = d->close_cb;
    void *ud = d->close_ud;
    pending_sweep(d, true);
    rt_buf_cleanup(&d->build.out);
    rt_free(d->slots);
    rt_free(d);
    if (cb)
        cb(ud);
}

static void maybe_closed(struct rt_detect *d)
{
    if (!d->closing || d->listing || d->flushing || d->queue_writes > 0 || d->event_writes > 0 ||
        d->sampling || uv_is_closing((uv_handle_t *)&d->scan_timer))
        return;
    uv_timer_t *timers[] = {&d->scan_timer,  &d->settle_timer, &d->dispatch_timer,
                            &d->flush_timer, &d->sample_timer, &d->build_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        uv_close((uv_handle_t *)timers[i], timer_closed);
}

void rt_detect_close(struct rt_detect *d, void (*cb)(void *ud), void *ud)
{
    rt_detect_stop(d);
    d->closing = true;
    d->close_cb = cb;
    d->close_ud = ud;
    uv_timer_stop(&d->flush_timer);
    if (d->started && !d->flushing)
        flush_start(d); /* what is left, once; flush_end goes on while batches are full */
    maybe_closed(d);
}

void rt_detect_stats(const struct rt_detect *d, struct rt_detect_stats *out)
{
    *out = d->stats;
    out->in_flight = d->used;
}
