/*
 * census.c - the labeled images of the store, counted by label and compared by key with the
 * manifests that were trained (see workflow.h).
 *
 * Design: DESIGN.md counts untrained images by identity, not by subtraction: an image is
 * untrained when its key is not in the deployed version's manifest, so deleting old images never
 * hides new ones, and an image uploaded again under another name counts as new. The MANIFEST step
 * records the sorted 64-bit hashes of its keys in the journal (8 bytes per image: 800 kB for
 * 100,000); the census loads the deployed set and, after a version that was not deployed, the
 * last attempted set, then streams the listing page by page and looks each key up. Memory is the
 * two sets plus one page, whatever the number of images.
 *
 * A manifest written before key sets existed (a journal from schema 1) has no set: the census
 * reads that manifest from the store once instead. If it cannot, the old count rule stands in
 * for that set (images minus the manifest's count) and the log says so.
 */
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/journal.h"
#include "retraind/log.h"
#include "retraind/manifest.h"
#include "retraind/workflow.h"

#define MANIFEST_MAX_BYTES ((size_t)512 << 20)
#define LABEL_ATTRIBUTE "retraind-label"
#define PAGE_KEYS 1000

/* One trained manifest to compare against. */
struct keyset {
    bool present;          /* there is such a manifest */
    bool by_count;         /* its keys are unknown: count rule */
    bool loaded;           /* set holds its keys */
    char exec_id[64];      /* the execution that wrote it */
    struct rt_hashset set; /* sealed */
    int64_t images;        /* lines in it */
};

struct run {
    struct rt_census_opts o;
    char *job_name; /* owned copy */
    rt_census_done_fn *cb;
    void *ud;
    struct rt_census c;
    struct keyset deployed, attempt;
    struct keyset *loading; /* the set whose manifest is being read from the store */
    struct rt_buf body;
    char created[40];
    int rc;
    struct rt_error err;
};

void rt_census_cleanup(struct rt_census *c)
{
    rt_label_counts_cleanup(&c->labels);
    rt_buf_cleanup(&c->manifest);
    rt_hashset_cleanup(&c->keys);
}

static void run_free(struct run *r)
{
    rt_census_cleanup(&r->c);
    rt_hashset_cleanup(&r->deployed.set);
    rt_hashset_cleanup(&r->attempt.set);
    rt_buf_cleanup(&r->body);
    rt_free(r->job_name);
    rt_free(r);
}

static void finish(struct run *r)
{
    if (!r->rc) {
        struct rt_census *c = &r->c;
        if (r->deployed.by_count)
            c->untrained = c->images > r->deployed.images ? c->images - r->deployed.images : 0;
        if (r->attempt.present && r->attempt.by_count)
            c->new_since_attempt =
                c->images > r->attempt.images ? c->images - r->attempt.images : 0;
        c->deployed_images = r->deployed.images;
        c->attempt_images = r->attempt.present ? r->attempt.images : 0;
        if (!r->attempt.present)
            c->new_since_attempt = -1;
        if (r->o.write_manifest)
            rt_hashset_seal(&c->keys);
    }
    r->cb(r->rc, r->rc ? NULL : &r->c, r->rc ? &r->err : NULL, r->ud);
    run_free(r);
}

/* ---- the listing ---- */

static int on_page(const struct rt_store_entry *entries,
                   size_t n,
                   bool last,
                   int status,
                   const struct rt_error *err,
                   void *ud)
{
    struct run *r = ud;
    struct rt_census *c = &r->c;
    const char *prefix = r->o.cfg->store.prefixes.labeled;
    for (size_t i = 0; i < n && !r->rc; i++) {
        struct rt_str label;
        if (!rt_store_training_label(prefix, entries[i].key, &label))
            continue;
        long idx = rt_label_counts_add(&c->labels, label);
        if (idx < 0) {
            r->rc = rt_error_set(&r->err, RT_ENOMEM, "out of memory while counting images");
            break;
        }
        c->images++;
        uint64_t h = rt_hash64(entries[i].key, strlen(entries[i].key));
        if (!r->deployed.present ||
            (!r->deployed.by_count && !rt_hashset_contains(&r->deployed.set, h)))
            c->untrained++;
        if (r->attempt.present && !r->attempt.by_count && !rt_hashset_contains(&r->attempt.set, h))
            c->new_since_attempt++;
        if (!r->o.write_manifest)
            continue;
        struct rt_manifest_line ml = {
            .bucket = r->o.store->bucket_name,
            .key = entries[i].key,
            .label = c->labels.items[idx].name,
            .class_index = (int)idx,
            .creation_date = r->created,
            .job_name = r->job_name,
        };
        int rc = rt_manifest_append(&c->manifest, LABEL_ATTRIBUTE, &ml, &r->err);
        if (!rc)
            rc = rt_hashset_add(&c->keys, h);
        if (rc)
            r->rc = rt_error_set(&r->err, rc, "the manifest is too large or out of memory");
    }
    if (status && !r->rc) {
        r->rc = status;
        if (err)
            r->err = *err;
        else
            rt_error_set(&r->err, status, "listing %s failed: %s", prefix, rt_strerror(status));
    }
    if (last || r->rc) {
        finish(r);
        return 1;
    }
    return 0;
}

/* Returns: 0 (pages follow) or an error in r->err (nothing started). */
static int start_listing(struct run *r)
{
    struct rt_store *s = r->o.store;
    const char *prefix = r->o.cfg->store.prefixes.labeled;
    r->c.new_since_attempt = 0;
    int rc = s->ops->list(s, prefix, PAGE_KEYS, RT_STORE_LIST_KEYS_ONLY, on_page, r);
    if (rc)
        rt_error_set(&r->err, rc, "listing %s failed: %s", prefix, rt_strerror(rc));
    return rc;
}

/* ---- key sets ---- */

static int load_next(struct run *r);

static int on_manifest_line(size_t line_no,
                            int status,
                            const struct rt_manifest_entry *e,
                            const struct rt_error *err,
                            void *ud)
{
    struct run *r = ud;
    (void)line_no;
    (void)err;
    if (status)
        return 0; /* a bad line names no key; the training skipped it too */
    if (rt_hashset_add(&r->loading->set, rt_hash64(e->key, strlen(e->key)))) {
        r->rc = rt_error_set(&r->err, RT_ENOMEM, "out of memory reading a manifest");
        return 1;
    }
    return 0;
}

static void manifest_read(int status, const struct rt_error *err, void *ud)
{
    struct run *r = ud;
    struct keyset *k = r->loading;
    if (status == RT_ENOMEM) {
        /* The manifest is there; this census cannot read it now. The count rule would give
         * another answer than the next census, so this one fails (the check runs again). */
        r->rc =
            rt_error_set(&r->err, status, "reading the manifest of %s: out of memory", k->exec_id);
    } else if (status) {
        k->by_count = true;
        RT_LOG(RT_LOG_WARNING, "workflow",
               "event=census_count_fallback exec=%s error=%s reason=\"no key set and the "
               "manifest cannot be read: untrained images are counted by subtraction\"",
               k->exec_id, rt_q(err ? err->msg : rt_strerror(status)));
    } else {
        /* A line the parser could not read for lack of memory looks like a bad line, which is
         * skipped: its image would count as untrained. */
        unsigned long failed = rt_alloc_failures();
        rt_manifest_parse(r->body.data ? r->body.data : "", r->body.len, NULL, on_manifest_line, r);
        if (!r->rc && rt_alloc_failures() != failed)
            r->rc = rt_error_set(&r->err, RT_ENOMEM, "out of memory reading the manifest of %s",
                                 k->exec_id);
        rt_hashset_seal(&k->set);
        RT_LOG(RT_LOG_INFO, "workflow", "event=census_keys_from_manifest exec=%s keys=%zu",
               k->exec_id, k->set.n);
    }
    k->loaded = true;
    rt_buf_cleanup(&r->body);
    r->loading = NULL;
    if (!r->rc)
        r->rc = load_next(r);
    if (r->rc)
        finish(r);
}

/* Reads the manifest of k from the store (a set recorded before key sets existed). */
static int read_manifest(struct run *r, struct keyset *k)
{
    char key[RT_STORE_KEY_MAX + 1];
    if (rt_snprintf(key, sizeof(key), "%s%s.manifest", r->o.cfg->store.prefixes.manifests,
                    k->exec_id) != 0)
        return RT_ETOOBIG;
    r->loading = k;
    rt_buf_init(&r->body, MANIFEST_MAX_BYTES);
    struct rt_store *s = r->o.store;
    int rc = s->ops->get(s, key, &r->body, manifest_read, r);
    if (rc)
        r->loading = NULL;
    return rc;
}

/* Reads the next set that still needs its manifest, or starts the listing.
 * Returns: 0 (a callback follows) or an error in r->err (nothing started). */
static int load_next(struct run *r)
{
    struct keyset *sets[] = {&r->deployed, &r->attempt};
    for (size_t i = 0; i < 2; i++) {
        struct keyset *k = sets[i];
        if (!k->present || k->by_count || k->loaded)
            continue;
        if (k->images == 0) {
            k->loaded = true; /* an empty manifest: an empty set */
            continue;
        }
        int rc = read_manifest(r, k);
        if (rc == 0)
            return 0;
        if (rc == RT_ENOMEM)
            return rt_error_set(&r->err, rc, "reading the manifest of %s: out of memory",
                                k->exec_id);
        k->by_count = true;
    }
    return start_listing(r);
}

/* Fills k from the journal's key set of exec_id. Returns: 0 (a missing set is not an error:
 * load_next reads the manifest) or the journal's error. */
static int load_keys(struct run *r, struct keyset *k, const char *exec_id, int64_t images)
{
    k->present = true;
    k->images = images;
    rt_strlcpy(k->exec_id, exec_id, sizeof(k->exec_id));
    uint64_t *v = NULL;
    size_t n = 0;
    int64_t listed = 0;
    int rc = rt_journal_manifest_keys_get(r->o.journal, exec_id, &v, &n, &listed);
    if (rc == RT_ENOTFOUND)
        return 0;
    if (rc)
        return rt_error_set(&r->err, rc, "reading the key set of %s: %s", exec_id, rt_strerror(rc));
    k->set.v = v;
    k->set.n = k->set.cap = n;
    k->images = listed;
    k->loaded = true;
    return 0;
}

/* Finds the deployed and last attempted manifests. Every journal error is an error: a census
 * that silently treated "unknown" as "nothing trained" would retrain every image. */
static int load_sets(struct run *r)
{
    struct rt_journal *j = r->o.journal;
    if (!j)
        return 0;
    struct rt_journal_model active;
    int rc = rt_journal_model_get_active(j, &active);
    if (rc && rc != RT_ENOTFOUND)
        return rt_error_set(&r->err, rc, "reading the active model: %s", rt_strerror(rc));
    bool deployed = rc == 0;
    if (deployed && active.exec_id[0]) {
        if ((rc = load_keys(r, &r->deployed, active.exec_id, active.images)) != 0)
            return rc;
    } else if (deployed) {
        /* A version with no execution behind it: its count is all there is. */
        r->deployed.present = r->deployed.by_count = true;
        r->deployed.images = active.images;
    }
    char attempt[64];
    rc = rt_journal_state_get(j, RT_STATE_LAST_ATTEMPT_EXEC, attempt, sizeof(attempt));
    if (rc == RT_ENOTFOUND || (rc == 0 && deployed && strcmp(attempt, active.exec_id) == 0))
        return 0;
    if (rc)
        return rt_error_set(&r->err, rc, "reading the last attempt: %s", rt_strerror(rc));
    int64_t attempted = 0;
    rc = rt_journal_state_get_i64(j, RT_STATE_LAST_ATTEMPTED, 0, &attempted);
    if (rc)
        return rt_error_set(&r->err, rc, "reading last_attempted_images: %s", rt_strerror(rc));
    return load_keys(r, &r->attempt, attempt, attempted);
}

int rt_census_start(const struct rt_census_opts *o,
                    rt_census_done_fn *cb,
                    void *ud,
                    struct rt_error *err)
{
    if (!o || !o->store || !o->cfg || !cb)
        return rt_error_set(err, RT_EINVAL, "census: missing store, config or callback");
    struct run *r = rt_calloc(1, sizeof(*r));
    if (!r)
        return rt_error_set(err, RT_ENOMEM, "census: out of memory");
    r->o = *o;
    r->cb = cb;
    r->ud = ud;
    r->job_name = rt_strdup(o->job_name ? o->job_name : "retraind");
    rt_buf_init(&r->c.manifest, MANIFEST_MAX_BYTES);
    rt_error_clear(&r->err);
    rt_manifest_date(rt_now_ms(), r->created, sizeof(r->created)); /* as Ground Truth writes it */
    int rc = r->job_name ? load_sets(r) : rt_error_set(&r->err, RT_ENOMEM, "out of memory");
    if (!rc)
        rc = load_next(r);
    if (rc) {
        if (err)
            *err = r->err;
        run_free(r);
        return rc;
    }
    return 0;
}
