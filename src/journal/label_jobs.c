/*
 * label_jobs.c - labeling jobs (see journal_label_jobs.h).
 *
 * Design: what a job asks for (prefix, labels, instructions, examples, counts, flags) is one
 * JSON column, `spec`, written once at create and never changed; the columns beside it are what
 * changes (state, execution, end, manifest, stats). The create write - synchronous or from a
 * batch - goes through apply_create with the spec as a blob, so both paths check and insert
 * with the same code. The reads over a job's tasks use the partial index review_tasks_job.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "journal_int.h"
#include "retraind/alloc.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/log.h"

enum {
    S_INSERT = RT__EXT_LABEL,
    S_EXISTS,
    S_GET,
    S_LIST,
    S_STARTED,
    S_STATS,
    S_FINISH,
    S_COUNTS,
    S_ANSWERS,
    S_TASKS,
    S_HOLD,
    S_RELEASE,
    S_PREDICTED,
    S_MACHINE,
    S_LAST
};
_Static_assert(S_LAST <= RT__EXT_LABEL + 32, "label_jobs.c owns 32 statement slots");

#define JOB_COLUMNS                                                                                \
    "name, kind, state, spec, exec_id, created_at, finished_at, output_manifest, stats"

static const char *const sql_insert =
    "INSERT INTO label_jobs (name, kind, state, spec, created_at) VALUES (?1, ?2, 'running', ?3, "
    "?4)";
static const char *const sql_exists = "SELECT 1 FROM label_jobs WHERE name = ?1";
static const char *const sql_get = "SELECT " JOB_COLUMNS " FROM label_jobs WHERE name = ?1";
static const char *const sql_list =
    "SELECT " JOB_COLUMNS " FROM label_jobs ORDER BY created_at DESC, name DESC";
static const char *const sql_started = "UPDATE label_jobs SET exec_id = ?2 WHERE name = ?1";
static const char *const sql_stats = "UPDATE label_jobs SET stats = ?2 WHERE name = ?1";
static const char *const sql_finish =
    "UPDATE label_jobs SET state = ?2, output_manifest = ?3, finished_at = ?4 WHERE name = ?1 "
    "AND state = 'running'";
static const char *const sql_counts =
    "SELECT count(*), ifnull(sum(state = 'answered'), 0), ifnull(sum(answers), 0), "
    "ifnull(sum(state = 'held'), 0), ifnull(sum(state = 'answered' AND answers_needed = 0), 0) "
    "FROM review_tasks WHERE job = ?1";
static const char *const sql_tasks =
    "SELECT id, key, state, detected_label, confidence, model_version, result, answers, "
    "answers_needed FROM review_tasks WHERE job = ?1 ORDER BY id";
/* A task with no answer yet waits for the machine's pass: not served (serving takes 'open'). */
static const char *const sql_hold =
    "UPDATE review_tasks SET state = 'held' WHERE id = ?1 AND state = 'open' AND answers = 0";
static const char *const sql_release =
    "UPDATE review_tasks SET state = 'open' WHERE id = ?1 AND state = 'held'";
static const char *const sql_predicted =
    "UPDATE review_tasks SET detected_label = ?2, confidence = ?3, model_version = ?4 WHERE id = "
    "?1";
/* Labeled by the machine: answered with no answer needed; never one a person answered. */
static const char *const sql_machine =
    "UPDATE review_tasks SET state = 'answered', answers_needed = 0, result = ?2, answered_at = "
    "?3 WHERE id = ?1 AND answers = 0 AND state IN ('open', 'held')";
static const char *const sql_answers =
    "SELECT t.id, t.key, a.worker, a.label, a.answered_at, t.state = 'answered' FROM "
    "review_tasks t JOIN review_answers "
    "a ON a.task_id = t.id WHERE t.job = ?1 ORDER BY t.id, a.answered_at, a.rowid";

void rt_label_job_cleanup(struct rt_label_job *job)
{
    if (!job)
        return;
    for (int i = 0; job->labels && i < job->n_labels; i++)
        rt_free(job->labels[i]);
    rt_free(job->labels);
    rt_free(job->prefix);
    rt_free(job->instructions);
    rt_free(job->good_example);
    rt_free(job->good_text);
    rt_free(job->bad_example);
    rt_free(job->bad_text);
    rt_free(job->output_prefix);
    rt_free(job->output_manifest);
    rt_free(job->stats);
    memset(job, 0, sizeof(*job));
}

/* The message is "<what>" with arg in place of the one %s: callers pass literals only. */
__attribute__((format(printf, 2, 3))) static int fail(struct rt_error *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        char msg[sizeof(err->msg)];
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        rt_error_set(err, RT_EINVAL, "%s", msg);
    }
    return RT_EINVAL;
}

int rt_label_job_name_check(const char *name, struct rt_error *err)
{
    if (!name || !name[0])
        return fail(err, "a labeling job needs a name");
    size_t n = strlen(name);
    if (n > RT_LABEL_JOB_NAME_MAX)
        return fail(err, "job name \"%s\" is longer than 63 characters", name);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || (c == '-' && i > 0);
        if (!ok)
            return fail(err,
                        "job name \"%s\": only a-z, 0-9 and '-' (not first) are allowed, as in "
                        "cats-dogs-1",
                        name);
    }
    return 0;
}

/* A label: non-empty, at most 127 bytes, no control characters (it is shown and written into
 * manifests and folder names). */
static bool label_ok(const char *l)
{
    size_t n = l ? strlen(l) : 0;
    if (n == 0 || n > 127 || strcmp(l, ".") == 0 || strcmp(l, "..") == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)l[i] < 0x20 || l[i] == 0x7f || l[i] == '/')
            return false;
    return true;
}

/* A folder of the store given by a person: relative, no '.' or '..' segment, no empty segment,
 * no control character, ending with '/' (so "cats" never matches "cats-old/"). */
static const char *folder_problem(const char *p)
{
    size_t n = p ? strlen(p) : 0;
    if (n == 0)
        return "is empty";
    if (n > 900)
        return "is longer than 900 bytes";
    if (p[n - 1] != '/')
        return "must end with '/'";
    if (p[0] == '/')
        return "must be relative to the store (no leading '/')";
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)p[i] < 0x20 || p[i] == 0x7f)
            return "has a control character";
    for (const char *seg = p; *seg;) {
        const char *end = strchr(seg, '/');
        size_t len = (size_t)(end - seg);
        if (len == 0)
            return "has an empty segment (\"//\")";
        if ((len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return "has a '.' or '..' segment";
        seg = end + 1;
    }
    return NULL;
}

int rt_label_job_check(const struct rt_label_job *job, struct rt_error *err)
{
    int rc = rt_label_job_name_check(job ? job->name : NULL, err);
    if (rc)
        return rc;
    if (strcmp(job->kind, "label") != 0 && strcmp(job->kind, "verify") != 0)
        return fail(err, "job kind \"%s\" is neither label nor verify", job->kind);
    if (!job->prefix || !job->prefix[0])
        return fail(err, "job %s has no prefix", job->name);
    const char *why = folder_problem(job->prefix);
    if (why)
        return fail(err, "job %s: the prefix \"%s\" %s", job->name, job->prefix, why);
    if (job->output_prefix && (why = folder_problem(job->output_prefix)))
        return fail(err, "job %s: the output prefix \"%s\" %s", job->name, job->output_prefix, why);
    if (job->auto_label && strcmp(job->kind, "label") != 0)
        return fail(err, "job %s: automated labeling applies to labeling jobs, not to verification",
                    job->name);
    if (job->n_labels < 2 || job->n_labels > RT_LABEL_JOB_MAX_LABELS || !job->labels)
        return fail(err, "job %s needs 2 to 10 labels", job->name);
    for (int i = 0; i < job->n_labels; i++) {
        if (!label_ok(job->labels[i]))
            return fail(err, "label \"%s\" is empty, too long, or has '/' or a control character",
                        job->labels[i]);
        for (int k = 0; k < i; k++)
            if (strcmp(job->labels[i], job->labels[k]) == 0)
                return fail(err, "label \"%s\" is given twice", job->labels[i]);
    }
    if (job->workers_per_image < 1 || job->workers_per_image > 10)
        return fail(err, "job %s: workers per image must be 1 to 10", job->name);
    if (job->max_workers < job->workers_per_image || job->max_workers > 10)
        return fail(err, "job %s: the most workers per image must be from workers per image to 10",
                    job->name);
    if (!(job->min_confidence >= 0 && job->min_confidence <= 1))
        return fail(err, "job %s: the minimum confidence must be 0 to 1", job->name);
    if (!(job->target_accuracy >= 0 && job->target_accuracy <= 1))
        return fail(err, "job %s: the target accuracy must be 0 to 1", job->name);
    return 0;
}

/* ---- the spec column ---- */

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
}

static char *spec_of(const struct rt_label_job *job)
{
    cJSON *o = cJSON_CreateObject();
    if (!o)
        return NULL;
    add_str(o, "prefix", job->prefix);
    cJSON *labels = cJSON_AddArrayToObject(o, "labels");
    for (int i = 0; labels && i < job->n_labels; i++)
        cJSON_AddItemToArray(labels, cJSON_CreateString(job->labels[i]));
    add_str(o, "instructions", job->instructions);
    add_str(o, "good_example", job->good_example);
    add_str(o, "good_text", job->good_text);
    add_str(o, "bad_example", job->bad_example);
    add_str(o, "bad_text", job->bad_text);
    cJSON_AddNumberToObject(o, "workers_per_image", job->workers_per_image);
    cJSON_AddNumberToObject(o, "max_workers", job->max_workers);
    cJSON_AddNumberToObject(o, "min_confidence", job->min_confidence);
    add_str(o, "output_prefix", job->output_prefix);
    cJSON_AddBoolToObject(o, "fold", job->fold);
    cJSON_AddBoolToObject(o, "auto_label", job->auto_label);
    cJSON_AddNumberToObject(o, "target_accuracy", job->target_accuracy);
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    return text;
}

static int dup_str(const cJSON *o, const char *k, char **out)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    *out = NULL;
    if (!cJSON_IsString(v))
        return 0;
    return (*out = rt_strdup(v->valuestring)) ? 0 : RT_ENOMEM;
}

static double num(const cJSON *o, const char *k, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

/* Fills the spec fields of job from spec's text. Returns: 0, RT_EPARSE or RT_ENOMEM. */
static int spec_read(const char *text, struct rt_label_job *job)
{
    cJSON *o = cJSON_Parse(text ? text : "");
    if (!cJSON_IsObject(o)) {
        cJSON_Delete(o);
        return RT_EPARSE;
    }
    int rc = dup_str(o, "prefix", &job->prefix);
    if (!rc)
        rc = dup_str(o, "instructions", &job->instructions);
    if (!rc)
        rc = dup_str(o, "good_example", &job->good_example);
    if (!rc)
        rc = dup_str(o, "good_text", &job->good_text);
    if (!rc)
        rc = dup_str(o, "bad_example", &job->bad_example);
    if (!rc)
        rc = dup_str(o, "bad_text", &job->bad_text);
    if (!rc)
        rc = dup_str(o, "output_prefix", &job->output_prefix);
    const cJSON *labels = cJSON_GetObjectItemCaseSensitive(o, "labels");
    int n = cJSON_IsArray(labels) ? cJSON_GetArraySize(labels) : 0;
    if (!rc && n > 0) {
        job->labels = rt_calloc((size_t)n, sizeof(char *));
        if (!job->labels)
            rc = RT_ENOMEM;
        const cJSON *l;
        cJSON_ArrayForEach(l, labels)
        {
            if (rc)
                break;
            if (!cJSON_IsString(l))
                rc = RT_EPARSE;
            else if (!(job->labels[job->n_labels++] = rt_strdup(l->valuestring)))
                rc = RT_ENOMEM;
        }
    }
    job->workers_per_image = (int)num(o, "workers_per_image", 1);
    job->max_workers = (int)num(o, "max_workers", job->workers_per_image);
    job->min_confidence = num(o, "min_confidence", 0);
    job->target_accuracy = num(o, "target_accuracy", 0.95);
    job->fold = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "fold"));
    job->auto_label = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "auto_label"));
    cJSON_Delete(o);
    return rc;
}

/* ---- writes ---- */

/* s[0] name, s[1] kind, blob the spec; i[0] now. */
static int apply_create(struct rt_journal *j, const struct rt__op_args *a)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_EXISTS, sql_exists, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, a->s[0]);
    int s = sqlite3_step(st);
    rt__stmt_ext_done(j, S_EXISTS, st);
    if (s == SQLITE_ROW)
        return RT_EBUSY;
    if (s != SQLITE_DONE)
        return rt__fail(j, "label job exists", s);
    if ((rc = rt__stmt_ext(j, S_INSERT, sql_insert, &st)))
        return rc;
    rt__bind_text(st, 1, a->s[0]);
    rt__bind_text(st, 2, a->s[1]);
    sqlite3_bind_text(st, 3, a->blob, (int)a->blob_len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, a->i[0]);
    rc = rt__step_done(j, st, "label job create");
    rt__stmt_ext_done(j, S_INSERT, st);
    return rc == -EEXIST ? RT_EBUSY : rc;
}

static int create_args(const struct rt_label_job *job, int64_t now_ms, struct rt__op_args *a)
{
    int rc = rt_label_job_check(job, NULL);
    if (rc)
        return rc;
    char *spec = spec_of(job);
    if (!spec)
        return RT_ENOMEM;
    *a = (struct rt__op_args){
        .s = {job->name, job->kind}, .i = {now_ms}, .blob = spec, .blob_len = strlen(spec)};
    return 0;
}

int rt_journal_label_job_create(struct rt_journal *j,
                                const struct rt_label_job *job,
                                int64_t now_ms)
{
    struct rt__op_args a;
    int rc = create_args(job, now_ms, &a);
    if (rc)
        return rc;
    struct rt_jbatch *b = NULL;
    rc = rt_jbatch_new(&b);
    if (!rc)
        rc = rt__jbatch_add_ext(b, apply_create, "label_job_create", &a);
    cJSON_free((void *)a.blob);
    struct rt_error err;
    rt_error_clear(&err);
    if (!rc)
        rc = rt_journal_apply(j, b, &err);
    rt_jbatch_free(b);
    return rc;
}

int rt_jbatch_label_job_create(struct rt_jbatch *b, const struct rt_label_job *job, int64_t now_ms)
{
    struct rt__op_args a;
    int rc = create_args(job, now_ms, &a);
    if (rc)
        return rc;
    rc = rt__jbatch_add_ext(b, apply_create, "label_job_create", &a);
    cJSON_free((void *)a.blob);
    return rc;
}

/* s[0] name, s[1] value; i[0] the slot. */
static int apply_set(struct rt_journal *j, const struct rt__op_args *a)
{
    int slot = (int)a->i[0];
    const char *sql = slot == S_STARTED ? sql_started : sql_stats;
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, slot, sql, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, a->s[0]);
    rt__bind_text(st, 2, a->s[1]);
    rc = rt__step_done(j, st, slot == S_STARTED ? "label job started" : "label job stats");
    rt__stmt_ext_done(j, slot, st);
    return rc;
}

int rt_jbatch_label_job_started(struct rt_jbatch *b, const char *name, const char *exec_id)
{
    if (!name || !exec_id)
        return RT_EINVAL;
    struct rt__op_args a = {.s = {name, exec_id}, .i = {S_STARTED}};
    return rt__jbatch_add_ext(b, apply_set, "label_job_started", &a);
}

int rt_jbatch_label_job_stats(struct rt_jbatch *b, const char *name, const char *stats_json)
{
    if (!name || !stats_json)
        return RT_EINVAL;
    struct rt__op_args a = {.s = {name, stats_json}, .i = {S_STATS}};
    return rt__jbatch_add_ext(b, apply_set, "label_job_stats", &a);
}

/* s[0] name, s[1] state, s[2] manifest; i[0] now. */
static int apply_finish(struct rt_journal *j, const struct rt__op_args *a)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_FINISH, sql_finish, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, a->s[0]);
    rt__bind_text(st, 2, a->s[1]);
    rt__bind_text(st, 3, a->s[2]);
    sqlite3_bind_int64(st, 4, a->i[0]);
    rc = rt__step_done(j, st, "label job finish");
    rt__stmt_ext_done(j, S_FINISH, st);
    return rc;
}

int rt_jbatch_label_job_finish(struct rt_jbatch *b,
                               const char *name,
                               const char *state,
                               const char *output_manifest,
                               int64_t now_ms)
{
    if (!name || !state ||
        (strcmp(state, "done") != 0 && strcmp(state, "failed") != 0 &&
         strcmp(state, "cancelled") != 0))
        return RT_EINVAL;
    struct rt__op_args a = {.s = {name, state, output_manifest}, .i = {now_ms}};
    return rt__jbatch_add_ext(b, apply_finish, "label_job_finish", &a);
}

/* ---- reads ---- */

static int read_job(sqlite3_stmt *st, struct rt_label_job *job)
{
    memset(job, 0, sizeof(*job));
    int rc = rt__col_copy(st, 0, job->name, sizeof(job->name));
    if (!rc)
        rc = rt__col_copy(st, 1, job->kind, sizeof(job->kind));
    if (!rc)
        rc = rt__col_copy(st, 2, job->state, sizeof(job->state));
    if (!rc)
        rc = spec_read((const char *)sqlite3_column_text(st, 3), job);
    if (!rc && sqlite3_column_type(st, 4) != SQLITE_NULL)
        rc = rt__col_copy(st, 4, job->exec_id, sizeof(job->exec_id));
    job->created_ms = sqlite3_column_int64(st, 5);
    job->finished_ms = sqlite3_column_int64(st, 6);
    if (!rc)
        job->output_manifest = rt__col_dup(st, 7, &rc);
    if (!rc)
        job->stats = rt__col_dup(st, 8, &rc);
    if (rc)
        rt_label_job_cleanup(job);
    return rc;
}

int rt_journal_label_job_get(struct rt_journal *j, const char *name, struct rt_label_job *out)
{
    memset(out, 0, sizeof(*out));
    if (!name)
        return RT_EINVAL;
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_GET, sql_get, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, name);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW)
        rc = read_job(st, out);
    else if (s == SQLITE_DONE)
        rc = RT_ENOTFOUND;
    else
        rc = rt__fail(j, "label job get", s);
    rt__stmt_ext_done(j, S_GET, st);
    return rc;
}

int rt_journal_label_job_list(struct rt_journal *j, rt_label_job_fn *cb, void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_LIST, sql_list, &st);
    if (rc)
        return rc;
    int s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_label_job job;
        rc = read_job(st, &job);
        if (!rc) {
            rc = cb(&job, ud);
            rt_label_job_cleanup(&job);
        }
    }
    if (!rc && s != SQLITE_DONE)
        rc = rt__fail(j, "label job list", s);
    rt__stmt_ext_done(j, S_LIST, st);
    return rc;
}

int rt_journal_label_job_counts(struct rt_journal *j,
                                const char *name,
                                struct rt_label_job_counts *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_COUNTS, sql_counts, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, name);
    int s = sqlite3_step(st);
    if (s == SQLITE_ROW) {
        out->total = sqlite3_column_int64(st, 0);
        out->answered = sqlite3_column_int64(st, 1);
        out->answers = sqlite3_column_int64(st, 2);
        out->held = sqlite3_column_int64(st, 3);
        out->machine = sqlite3_column_int64(st, 4);
    } else {
        rc = rt__fail(j, "label job counts", s);
    }
    rt__stmt_ext_done(j, S_COUNTS, st);
    return rc;
}

int rt_journal_label_job_answers(struct rt_journal *j,
                                 const char *name,
                                 rt_label_job_answer_fn *cb,
                                 void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_ANSWERS, sql_answers, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, name);
    int s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_label_job_answer a = {.task_id = (const char *)sqlite3_column_text(st, 0),
                                        .key = (const char *)sqlite3_column_text(st, 1),
                                        .worker = (const char *)sqlite3_column_text(st, 2),
                                        .label = (const char *)sqlite3_column_text(st, 3),
                                        .at_ms = sqlite3_column_int64(st, 4),
                                        .task_answered = sqlite3_column_int(st, 5) != 0};
        rc = cb(&a, ud);
    }
    if (!rc && s != SQLITE_DONE)
        rc = rt__fail(j, "label job answers", s);
    rt__stmt_ext_done(j, S_ANSWERS, st);
    return rc;
}

int rt_journal_label_job_tasks(struct rt_journal *j,
                               const char *name,
                               rt_label_job_task_fn *cb,
                               void *ud)
{
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, S_TASKS, sql_tasks, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, name);
    int s;
    while (!rc && (s = sqlite3_step(st)) == SQLITE_ROW) {
        struct rt_label_job_task t = {.id = (const char *)sqlite3_column_text(st, 0),
                                      .key = (const char *)sqlite3_column_text(st, 1),
                                      .state = (const char *)sqlite3_column_text(st, 2),
                                      .detected_label = (const char *)sqlite3_column_text(st, 3),
                                      .confidence = sqlite3_column_type(st, 4) == SQLITE_NULL
                                                        ? -1
                                                        : sqlite3_column_double(st, 4),
                                      .model_version = (const char *)sqlite3_column_text(st, 5),
                                      .result = (const char *)sqlite3_column_text(st, 6),
                                      .answers = sqlite3_column_int(st, 7),
                                      .answers_needed = sqlite3_column_int(st, 8)};
        rc = cb(&t, ud);
    }
    if (!rc && s != SQLITE_DONE)
        rc = rt__fail(j, "label job tasks", s);
    rt__stmt_ext_done(j, S_TASKS, st);
    return rc;
}

/* i[0] the statement slot; s[0] the task, s[1] a label, s[2] a version; d a confidence; i[1]
 * a time. */
static int apply_task(struct rt_journal *j, const struct rt__op_args *a)
{
    int slot = (int)a->i[0];
    const char *sql = slot == S_HOLD        ? sql_hold
                      : slot == S_RELEASE   ? sql_release
                      : slot == S_PREDICTED ? sql_predicted
                                            : sql_machine;
    sqlite3_stmt *st;
    int rc = rt__stmt_ext(j, slot, sql, &st);
    if (rc)
        return rc;
    rt__bind_text(st, 1, a->s[0]);
    if (slot == S_PREDICTED) {
        rt__bind_text(st, 2, a->s[1]);
        sqlite3_bind_double(st, 3, a->d);
        rt__bind_text(st, 4, a->s[2]);
    } else if (slot == S_MACHINE) {
        rt__bind_text(st, 2, a->s[1]);
        sqlite3_bind_int64(st, 3, a->i[1]);
    }
    rc = rt__step_done(j, st, "label task update");
    rt__stmt_ext_done(j, slot, st);
    return rc;
}

int rt_jbatch_label_task_hold(struct rt_jbatch *b, const char *task_id)
{
    if (!task_id)
        return RT_EINVAL;
    struct rt__op_args a = {.s = {task_id}, .i = {S_HOLD}};
    return rt__jbatch_add_ext(b, apply_task, "label_task_hold", &a);
}

int rt_jbatch_label_task_release(struct rt_jbatch *b, const char *task_id)
{
    if (!task_id)
        return RT_EINVAL;
    struct rt__op_args a = {.s = {task_id}, .i = {S_RELEASE}};
    return rt__jbatch_add_ext(b, apply_task, "label_task_release", &a);
}

int rt_jbatch_label_task_predicted(struct rt_jbatch *b,
                                   const char *task_id,
                                   const char *label,
                                   double confidence,
                                   const char *version)
{
    if (!task_id || !label || !version || !(confidence >= 0 && confidence <= 100))
        return RT_EINVAL;
    struct rt__op_args a = {.s = {task_id, label, version}, .i = {S_PREDICTED}, .d = confidence};
    return rt__jbatch_add_ext(b, apply_task, "label_task_predicted", &a);
}

int rt_jbatch_label_task_machine(struct rt_jbatch *b,
                                 const char *task_id,
                                 const char *label,
                                 int64_t now_ms)
{
    if (!task_id || !label)
        return RT_EINVAL;
    struct rt__op_args a = {.s = {task_id, label}, .i = {S_MACHINE, now_ms}};
    return rt__jbatch_add_ext(b, apply_task, "label_task_machine", &a);
}
