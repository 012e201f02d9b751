/*
 * test_census.c - the census of labeled images over a real local store and journal: counts by
 * label, untrained by key identity against the deployed manifest's key set, the last attempt's
 * set, the manifest text and key set it builds, the fallback to a manifest recorded before key
 * sets existed, and a journal that cannot be read failing the census instead of "nothing
 * trained".
 */
#include <sqlite3.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "retraind/alloc.h"
#include "retraind/config.h"
#include "retraind/hash.h"
#include "retraind/journal.h"
#include "retraind/manifest.h"
#include "retraind/store.h"
#include "retraind/workflow.h"
#include "rt_test.h"

struct fx {
    char dir[256], root[300];
    struct rt_config *cfg;
    struct rt_journal *j;
    uv_loop_t loop;
    struct rt_store *store;
};

static void touch(struct fx *f, const char *key)
{
    char path[4096], dir[4096];
    snprintf(path, sizeof(path), "%s/%s", f->root, key);
    snprintf(dir, sizeof(dir), "%s", path);
    for (char *p = dir + strlen(f->root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(dir, 0755);
            *p = '/';
        }
    }
    FILE *fp = fopen(path, "w");
    RT_ASSERT(fp);
    fputs("x", fp);
    fclose(fp);
}

static void fx_open(struct fx *f)
{
    memset(f, 0, sizeof(*f));
    snprintf(f->dir, sizeof(f->dir), "%s", rt_test_tmpdir());
    snprintf(f->root, sizeof(f->root), "%s/bucket", f->dir);
    char yaml[1500];
    snprintf(yaml, sizeof(yaml), "data_dir: %s/data\nstore: {driver: local, root: %s}\n", f->dir,
             f->root);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_config_load_string(yaml, strlen(yaml), "t.yaml", f->dir, &f->cfg, &err));
    RT_ASSERT_OK(rt_journal_open(f->cfg->data_dir, RT_JOURNAL_READWRITE, &f->j, &err));
    uv_loop_init(&f->loop);
    struct rt_store_local_opts o = {.root = f->root};
    RT_ASSERT_OK(rt_store_local_new(&f->loop, &o, &f->store, &err));
}

static void closed(void *ud)
{
    (void)ud;
}

static void fx_close(struct fx *f)
{
    f->store->ops->close(f->store, closed, NULL);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    RT_ASSERT_INT_EQ(uv_loop_close(&f->loop), 0);
    rt_journal_close(f->j);
    rt_config_destroy(f->cfg);
}

struct result {
    bool done;
    int status;
    struct rt_census c;
    char err[600];
};

static void on_census(int status, struct rt_census *c, const struct rt_error *err, void *ud)
{
    struct result *r = ud;
    r->done = true;
    r->status = status;
    if (status) {
        snprintf(r->err, sizeof(r->err), "%s", err ? err->msg : "");
        return;
    }
    r->c = *c; /* take it over */
    memset(c, 0, sizeof(*c));
}

static int census(struct fx *f, bool manifest, struct result *r)
{
    memset(r, 0, sizeof(*r));
    struct rt_census_opts o = {.store = f->store,
                               .journal = f->j,
                               .cfg = f->cfg,
                               .write_manifest = manifest,
                               .job_name = "tr-test"};
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_census_start(&o, on_census, r, &err);
    if (rc) {
        snprintf(r->err, sizeof(r->err), "%s", err.msg);
        return rc;
    }
    RT_ASSERT(!r->done); /* never inside the call */
    while (!r->done)
        uv_run(&f->loop, UV_RUN_ONCE);
    return r->status;
}

static void key_of(char *out, size_t size, const char *label, int i)
{
    snprintf(out, size, "images_labeled_by_folder/%s/%04d.png", label, i);
}

/* Records exec's manifest key set (the keys given) and makes version model-<exec> active. */
static void deploy(struct fx *f, const char *exec, const char *const *keys, size_t n)
{
    struct rt_hashset s = {0};
    for (size_t i = 0; i < n; i++)
        RT_ASSERT_OK(rt_hashset_add(&s, rt_hash64(keys[i], strlen(keys[i]))));
    rt_hashset_seal(&s);
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_manifest_keys(b, exec, s.v, s.n, (int64_t)n));
    struct rt_journal_model m = {.f1 = 0.9, .images = (int64_t)n, .created_ms = 1};
    snprintf(m.version, sizeof(m.version), "model-%s", exec);
    snprintf(m.exec_id, sizeof(m.exec_id), "%s", exec);
    snprintf(m.status, sizeof(m.status), "RUNNING");
    RT_ASSERT_OK(rt_jbatch_model_put(b, &m));
    RT_ASSERT_OK(rt_jbatch_model_set_active(b, m.version, 2));
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_apply(f->j, b, &err));
    rt_jbatch_free(b);
    rt_hashset_cleanup(&s);
}

RT_TEST(nothing_deployed_everything_untrained)
{
    struct fx f;
    fx_open(&f);
    char key[128];
    for (int i = 0; i < 7; i++) {
        key_of(key, sizeof(key), i < 4 ? "cat" : "dog", i);
        touch(&f, key);
    }
    touch(&f, "images_labeled_by_folder/cat/readme.txt");   /* not an image */
    touch(&f, "images_labeled_by_folder/cat/deeper/x.png"); /* nested: not an image */
    touch(&f, "images_for_detection/y.png");                /* another prefix */
    struct result r;
    RT_ASSERT_OK(census(&f, true, &r));
    RT_ASSERT_INT_EQ(r.c.images, 7);
    RT_ASSERT_INT_EQ(r.c.untrained, 7);
    RT_ASSERT_INT_EQ(r.c.new_since_attempt, -1);
    RT_ASSERT_INT_EQ(r.c.labels.n, 2);
    RT_ASSERT_INT_EQ(r.c.keys.n, 7);
    /* The manifest it built has one parseable line per image. */
    RT_ASSERT(r.c.manifest.len > 0);
    size_t lines = 0;
    for (size_t i = 0; i < r.c.manifest.len; i++)
        lines += r.c.manifest.data[i] == '\n';
    RT_ASSERT_INT_EQ(lines, 7);
    RT_ASSERT_CONTAINS(r.c.manifest.data, "\"job-name\":\"labeling-job/tr-test\"");
    rt_census_cleanup(&r.c);
    fx_close(&f);
}

RT_TEST(untrained_by_identity_not_by_count)
{
    struct fx f;
    fx_open(&f);
    char keys[20][128];
    const char *ptrs[20];
    for (int i = 0; i < 20; i++) {
        key_of(keys[i], sizeof(keys[i]), i % 2 ? "cat" : "dog", i);
        touch(&f, keys[i]);
        ptrs[i] = keys[i];
    }
    deploy(&f, "tr-1", ptrs, 20);
    /* 15 trained images deleted, 10 new ones: a count would say 15 - 20 < 0 untrained. */
    for (int i = 0; i < 15; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", f.root, keys[i]);
        RT_ASSERT_OK(unlink(path));
    }
    char key[128];
    for (int i = 100; i < 110; i++) {
        key_of(key, sizeof(key), "cat", i);
        touch(&f, key);
    }
    /* A trained image under a new name counts as new too. */
    char from[4096], to[4096];
    snprintf(from, sizeof(from), "%s/%s", f.root, keys[19]);
    snprintf(to, sizeof(to), "%s/images_labeled_by_folder/cat/renamed.png", f.root);
    RT_ASSERT_OK(rename(from, to));
    struct result r;
    RT_ASSERT_OK(census(&f, false, &r));
    RT_ASSERT_INT_EQ(r.c.images, 15);
    RT_ASSERT_INT_EQ(r.c.untrained, 11);
    RT_ASSERT_INT_EQ(r.c.deployed_images, 20);
    rt_census_cleanup(&r.c);
    fx_close(&f);
}

RT_TEST(last_attempt_counts_separately)
{
    struct fx f;
    fx_open(&f);
    char keys[30][128];
    const char *ptrs[30];
    for (int i = 0; i < 30; i++) {
        key_of(keys[i], sizeof(keys[i]), "cat", i);
        touch(&f, keys[i]);
        ptrs[i] = keys[i];
    }
    deploy(&f, "tr-1", ptrs, 10);
    /* A later attempt over 25 images that was not deployed. */
    struct rt_hashset s = {0};
    for (int i = 0; i < 25; i++)
        RT_ASSERT_OK(rt_hashset_add(&s, rt_hash64(keys[i], strlen(keys[i]))));
    rt_hashset_seal(&s);
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    RT_ASSERT_OK(rt_jbatch_manifest_keys(b, "tr-2", s.v, s.n, 25));
    RT_ASSERT_OK(rt_jbatch_state_set(b, RT_STATE_LAST_ATTEMPT_EXEC, "tr-2"));
    RT_ASSERT_OK(rt_jbatch_state_set_i64(b, RT_STATE_LAST_ATTEMPTED, 25));
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_apply(f.j, b, &err));
    rt_jbatch_free(b);
    rt_hashset_cleanup(&s);
    struct result r;
    RT_ASSERT_OK(census(&f, false, &r));
    RT_ASSERT_INT_EQ(r.c.untrained, 20);
    RT_ASSERT_INT_EQ(r.c.new_since_attempt, 5);
    RT_ASSERT_INT_EQ(r.c.attempt_images, 25);
    rt_census_cleanup(&r.c);
    fx_close(&f);
}

/* A journal from before key sets: the deployed manifest is read from the store instead. */
RT_TEST(manifest_without_key_set_is_read_from_the_store)
{
    struct fx f;
    fx_open(&f);
    char key[128];
    struct rt_buf man;
    rt_buf_init(&man, 1 << 20);
    for (int i = 0; i < 12; i++) {
        key_of(key, sizeof(key), i % 2 ? "cat" : "dog", i);
        touch(&f, key);
        if (i >= 8)
            continue; /* 8 trained, 4 new */
        struct rt_manifest_line ml = {.bucket = "local",
                                      .key = key,
                                      .label = i % 2 ? "cat" : "dog",
                                      .class_index = i % 2,
                                      .creation_date = "2026-01-01T00:00:00Z",
                                      .job_name = "tr-old"};
        RT_ASSERT_OK(rt_manifest_append(&man, "retraind-label", &ml, NULL));
    }
    touch(&f, "manifests/tr-old.manifest");
    char path[4096];
    snprintf(path, sizeof(path), "%s/manifests/tr-old.manifest", f.root);
    FILE *fp = fopen(path, "w");
    RT_ASSERT(fp);
    fwrite(man.data, 1, man.len, fp);
    fclose(fp);
    rt_buf_cleanup(&man);
    struct rt_journal_model m = {.f1 = 0.9, .images = 8, .created_ms = 1};
    snprintf(m.version, sizeof(m.version), "model-tr-old");
    snprintf(m.exec_id, sizeof(m.exec_id), "tr-old");
    snprintf(m.status, sizeof(m.status), "RUNNING");
    RT_ASSERT_OK(rt_journal_model_put(f.j, &m));
    RT_ASSERT_OK(rt_journal_model_set_active(f.j, m.version, 2));
    struct result r;
    RT_ASSERT_OK(census(&f, false, &r));
    RT_ASSERT_INT_EQ(r.c.images, 12);
    RT_ASSERT_INT_EQ(r.c.untrained, 4);
    rt_census_cleanup(&r.c);
    /* Without the manifest either, the old count rule stands in (12 - 8). */
    RT_ASSERT_OK(unlink(path));
    RT_ASSERT_OK(census(&f, false, &r));
    RT_ASSERT_INT_EQ(r.c.untrained, 4);
    rt_census_cleanup(&r.c);
    fx_close(&f);
}

/* A broken journal fails the census: never "nothing trained", which would retrain everything. */
RT_TEST(journal_error_fails_instead_of_retraining_everything)
{
    struct fx f;
    fx_open(&f);
    char key[128];
    key_of(key, sizeof(key), "cat", 1);
    touch(&f, key);
    const char *ptrs[] = {key};
    deploy(&f, "tr-1", ptrs, 1);
    /* Corrupt the key set: a blob whose length is not a whole number of hashes. */
    struct rt_jbatch *b = NULL;
    RT_ASSERT_OK(rt_jbatch_new(&b));
    uint64_t v = 1;
    RT_ASSERT_OK(rt_jbatch_manifest_keys(b, "tr-1", &v, 1, 1));
    struct rt_error err;
    RT_ASSERT_OK(rt_journal_apply(f.j, b, &err));
    rt_jbatch_free(b);
    char path[4096];
    snprintf(path, sizeof(path), "%s/journal.db", f.cfg->data_dir);
    sqlite3 *db = NULL;
    RT_ASSERT(sqlite3_open(path, &db) == SQLITE_OK);
    RT_ASSERT(sqlite3_exec(db, "UPDATE manifest_keys SET hashes = x'0102'", NULL, NULL, NULL) ==
              SQLITE_OK);
    sqlite3_close(db);
    struct result r;
    int rc = census(&f, false, &r);
    RT_ASSERT(rc != 0);
    RT_ASSERT_CONTAINS(r.err, "tr-1");
    fx_close(&f);
}
