/*
 * writer.c - the journal's writer thread: group commit of the daemon's write batches.
 *
 * Design: SQLite with synchronous=FULL makes every commit an fsync, and a writer may wait up to
 * the busy timeout for a lock the CLI holds; neither may happen on the loop thread, which also
 * runs the watchdog, the timers, curl and the HTTP server. So the loop only builds batches (data,
 * see batch.c) and hands them here. The thread takes every batch queued since its last commit and
 * applies them in one transaction: one fsync makes all of them durable (group commit), so the
 * more callers write at once, the more each commit carries. Each batch runs as a nested
 * transaction inside the group; if one fails, the group is rolled back and its batches are
 * applied again one by one, so a bad batch fails alone and never takes the others with it.
 *
 * Threads: the queue of submitted batches and the list of finished ones are the only shared
 * state, each a hand-off of whole requests under one mutex (the pattern of libuv's own thread
 * pool); the thread owns a request between taking it and putting it on the finished list, and
 * the loop owns it before and after. Completions go back through a uv_async_t and run on the
 * loop in submission order. The thread has its own SQLite connection; the loop's connection is
 * switched to reads only while the writer runs.
 */
#include <string.h>
#include <uv.h>

#include "journal_int.h"
#include "retraind/alloc.h"
#include "retraind/log.h"

/* At most this many batches in one transaction: bounds the work lost to a rollback and the time
 * one commit holds the write lock. */
#define MAX_GROUP 2048

struct wreq {
    struct wreq *next;
    struct rt_jbatch *batch; /* owned */
    rt_journal_write_fn *cb;
    void *ud;
    int status;
    struct rt_error err;
};

struct rt__writer {
    struct rt_journal *j;  /* borrowed: the loop's journal */
    struct rt_journal *wj; /* owned: the thread's connection */
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cv;
    /* Under mu. */
    struct wreq *in_head, **in_tail;
    struct wreq *out_head, **out_tail;
    bool stop, exited;
    struct rt_journal_writer_stats stats;
    /* Loop thread only. */
    uv_async_t async;
    int pending;
    bool closing, joined;
    void (*close_cb)(void *ud);
    void *close_ud;
};

/* ---- the thread ---- */

static void fail_all(struct wreq *group, int rc, const char *why, const char *path)
{
    for (struct wreq *r = group; r; r = r->next)
        r->status = rt_error_set(&r->err, rc, "journal %s: %s: %s", path, why, rt_strerror(rc));
}

/* Applies the batches of group; fills each request's status. */
static void apply_group(struct rt__writer *w, struct wreq *group, int n)
{
    struct rt_journal *wj = w->wj;
    int rc = rt_journal_begin(wj);
    if (rc) {
        /* Locked past the busy timeout, or the disk refuses: every caller retries by policy. */
        fail_all(group, rc, "cannot start a transaction (locked or unwritable)", wj->path);
        return;
    }
    bool failed = false;
    for (struct wreq *r = group; r && !failed; r = r->next) {
        rt_error_clear(&r->err);
        r->status = rt__batch_run(wj, r->batch, &r->err);
        failed = r->status != 0;
    }
    if (failed) {
        rt_journal_rollback(wj);
    } else {
        rc = rt_journal_commit(wj);
        if (rc == 0)
            return;
        failed = true;
        if (n == 1) {
            group->status = rt_error_set(&group->err, rc, "journal %s: commit failed: %s", wj->path,
                                         rt_strerror(rc));
            return;
        }
    }
    if (n == 1)
        return;
    /* Something failed: nothing of the group is written. Apply each batch alone so that only
     * the one at fault fails. */
    for (struct wreq *r = group; r; r = r->next) {
        rt_error_clear(&r->err);
        r->status = rt__batch_run(wj, r->batch, &r->err);
    }
}

static void thread_main(void *arg)
{
    struct rt__writer *w = arg;
    uv_mutex_lock(&w->mu);
    for (;;) {
        while (!w->in_head && !w->stop)
            uv_cond_wait(&w->cv, &w->mu);
        if (!w->in_head)
            break; /* stopping and nothing left */
        struct wreq *group = w->in_head, *last = group;
        int n = 1;
        while (last->next && n < MAX_GROUP) {
            last = last->next;
            n++;
        }
        w->in_head = last->next;
        if (!w->in_head)
            w->in_tail = &w->in_head;
        last->next = NULL;
        uv_mutex_unlock(&w->mu);

        apply_group(w, group, n);

        uv_mutex_lock(&w->mu);
        int ok = 0;
        for (struct wreq *r = group; r; r = r->next)
            ok += r->status == 0;
        w->stats.batches += ok;
        w->stats.failures += n - ok;
        if (ok) {
            w->stats.commits++;
            if (n > w->stats.max_group)
                w->stats.max_group = n;
        }
        *w->out_tail = group;
        w->out_tail = &last->next;
        uv_mutex_unlock(&w->mu);
        uv_async_send(&w->async);
        uv_mutex_lock(&w->mu);
    }
    w->exited = true;
    uv_mutex_unlock(&w->mu);
    uv_async_send(&w->async);
}

/* ---- the loop side ---- */

static void writer_free(uv_handle_t *h)
{
    struct rt__writer *w = h->data;
    void (*cb)(void *) = w->close_cb;
    void *ud = w->close_ud;
    while (w->out_head) { /* only after rt__writer_abandon: nobody waits for these any more */
        struct wreq *next = w->out_head->next;
        rt_jbatch_free(w->out_head->batch);
        rt_free(w->out_head);
        w->out_head = next;
    }
    uv_cond_destroy(&w->cv);
    uv_mutex_destroy(&w->mu);
    rt_free(w);
    if (cb)
        cb(ud);
}

/* Joins the exited thread and closes its connection; the loop's connection may write again. */
static void join(struct rt__writer *w)
{
    if (w->joined)
        return;
    uv_thread_join(&w->thread);
    w->joined = true;
    rt_journal_close(w->wj);
    w->wj = NULL;
    if (w->j) {
        w->j->reads_only = false;
        w->j->writer = NULL;
    }
}

static void on_async(uv_async_t *a)
{
    struct rt__writer *w = a->data;
    uv_mutex_lock(&w->mu);
    struct wreq *done = w->out_head;
    w->out_head = NULL;
    w->out_tail = &w->out_head;
    bool exited = w->exited;
    uv_mutex_unlock(&w->mu);
    while (done) {
        struct wreq *next = done->next;
        w->pending--;
        if (done->status) {
            RT_LOG(RT_LOG_WARNING, "journal", "event=write_failed error=%s", rt_q(done->err.msg));
            done->cb(done->status, &done->err, done->ud);
        } else {
            done->cb(0, NULL, done->ud);
        }
        rt_jbatch_free(done->batch);
        rt_free(done);
        done = next;
    }
    if (w->pending == 0 && !w->closing)
        uv_unref((uv_handle_t *)&w->async);
    if (exited && w->closing && !uv_is_closing((uv_handle_t *)&w->async)) {
        join(w);
        uv_close((uv_handle_t *)&w->async, writer_free);
    }
}

int rt_journal_writer_start(struct rt_journal *j, struct uv_loop_s *loop, struct rt_error *err)
{
    if (j->mode != RT_JOURNAL_READWRITE)
        return rt_error_set(err, RT_EINVAL, "journal %s: the writer needs a read-write journal",
                            j->path);
    if (j->writer)
        return rt_error_set(err, RT_EINVAL, "journal %s: the writer is already running", j->path);
    if (j->depth > 0)
        return rt_error_set(err, RT_EINVAL, "journal %s: a transaction is open", j->path);
    struct rt__writer *w = rt_calloc(1, sizeof(*w));
    if (!w)
        return rt_error_set(err, RT_ENOMEM, "journal: out of memory");
    w->j = j;
    w->in_tail = &w->in_head;
    w->out_tail = &w->out_head;
    int rc = rt_journal_open(j->data_dir, RT_JOURNAL_READWRITE, &w->wj, err);
    if (rc) {
        rt_free(w);
        return rc;
    }
    if (j->busy_timeout_ms > 0)
        rt_journal_set_busy_timeout(w->wj, j->busy_timeout_ms);
    if ((rc = uv_mutex_init(&w->mu)) != 0) {
        rt_journal_close(w->wj);
        rt_free(w);
        return rt_error_set(err, rc, "journal writer: %s", uv_strerror(rc));
    }
    if ((rc = uv_cond_init(&w->cv)) != 0) {
        uv_mutex_destroy(&w->mu);
        rt_journal_close(w->wj);
        rt_free(w);
        return rt_error_set(err, rc, "journal writer: %s", uv_strerror(rc));
    }
    rc = uv_async_init(loop, &w->async, on_async);
    if (rc) {
        uv_cond_destroy(&w->cv);
        uv_mutex_destroy(&w->mu);
        rt_journal_close(w->wj);
        rt_free(w);
        return rt_error_set(err, rc, "journal writer: %s", uv_strerror(rc));
    }
    w->async.data = w;
    /* The handle keeps the loop alive only while batches are pending (or the writer closes), so
     * an idle writer never stops a loop from ending on its own. */
    uv_unref((uv_handle_t *)&w->async);
    rc = uv_thread_create(&w->thread, thread_main, w);
    if (rc) {
        rt_journal_close(w->wj);
        w->wj = NULL;
        w->joined = true;
        w->j = NULL;
        uv_close((uv_handle_t *)&w->async, writer_free);
        return rt_error_set(err, rc, "journal writer: cannot start the thread: %s",
                            uv_strerror(rc));
    }
    j->writer = w;
    j->reads_only = true;
    RT_LOG(RT_LOG_DEBUG, "journal", "event=writer_started path=%s", rt_q(j->path));
    return 0;
}

int rt_journal_submit(struct rt_journal *j, struct rt_jbatch *b, rt_journal_write_fn *cb, void *ud)
{
    struct rt__writer *w = j->writer;
    if (!b)
        return RT_EINVAL;
    if (!w || !cb) {
        rt_jbatch_free(b);
        return RT_EINVAL;
    }
    if (w->closing) {
        rt_jbatch_free(b);
        return RT_ECANCELED;
    }
    struct wreq *r = rt_calloc(1, sizeof(*r));
    if (!r) {
        rt_jbatch_free(b);
        return RT_ENOMEM;
    }
    r->batch = b;
    r->cb = cb;
    r->ud = ud;
    uv_mutex_lock(&w->mu);
    *w->in_tail = r;
    w->in_tail = &r->next;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    if (w->pending++ == 0)
        uv_ref((uv_handle_t *)&w->async);
    return 0;
}

bool rt_journal_writer_running(const struct rt_journal *j)
{
    return j->writer != NULL && !j->writer->closing;
}

int rt_journal_writer_pending(const struct rt_journal *j)
{
    return j->writer ? j->writer->pending : 0;
}

void rt_journal_writer_stats(const struct rt_journal *j, struct rt_journal_writer_stats *out)
{
    memset(out, 0, sizeof(*out));
    struct rt__writer *w = j->writer;
    if (!w)
        return;
    uv_mutex_lock(&w->mu);
    *out = w->stats;
    uv_mutex_unlock(&w->mu);
}

void rt_journal_writer_close(struct rt_journal *j, void (*cb)(void *ud), void *ud)
{
    struct rt__writer *w = j->writer;
    if (!w || w->closing) {
        RT_LOG(RT_LOG_CRIT, "journal", "event=writer_close_twice path=%s", rt_q(j->path));
        return;
    }
    w->closing = true;
    w->close_cb = cb;
    w->close_ud = ud;
    uv_ref((uv_handle_t *)&w->async); /* the loop waits for the thread's last word */
    uv_mutex_lock(&w->mu);
    w->stop = true;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    /* The thread answers with a last uv_async_send once it has drained the queue; on_async then
     * joins it and closes the handle. */
}

/* Called by rt_journal_close when the owner forgot rt_journal_writer_close: stops the thread at
 * once (batches not yet applied are dropped without callbacks) so the file is not left open. */
void rt__writer_abandon(struct rt_journal *j)
{
    struct rt__writer *w = j->writer;
    RT_LOG(RT_LOG_CRIT, "journal", "event=writer_abandoned path=%s pending=%d", rt_q(j->path),
           w->pending);
    uv_mutex_lock(&w->mu);
    w->stop = true;
    struct wreq *r = w->in_head;
    w->in_head = NULL;
    w->in_tail = &w->in_head;
    uv_cond_signal(&w->cv);
    uv_mutex_unlock(&w->mu);
    while (r) {
        struct wreq *next = r->next;
        rt_jbatch_free(r->batch);
        rt_free(r);
        r = next;
    }
    w->closing = true;
    join(w);
    if (!uv_is_closing((uv_handle_t *)&w->async))
        uv_close((uv_handle_t *)&w->async, writer_free);
}
