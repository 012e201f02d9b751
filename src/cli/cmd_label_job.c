/*
 * cmd_label_job.c - `retraind label-job create|status|list` (docs/labeling.md).
 *
 *   label-job create -c FILE --name N --prefix P --labels a,b[,..] --instructions TEXT
 *       [--good-example KEY [--good-text T]] [--bad-example KEY [--bad-text T]]
 *       [--workers-per-image K] [--max-workers M] [--min-confidence C] [--output-prefix P]
 *       [--fold] [--verify] [--auto-label [--target-accuracy A]]
 *   label-job status N -c FILE [--json]
 *   label-job list -c FILE [--json]
 *
 * Design: create checks everything it can before writing (a refused job changes nothing and
 * exits 2 naming the option), writes the job's row and a request of kind "label-job" in the
 * journal, and pokes the daemon, which starts the job's workflow at once; with no daemon running
 * the job starts when it does. status and list read the journal read-only, so they work while
 * the daemon runs.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/daemon.h"
#include "retraind/journal.h"
#include "retraind/journal_label_jobs.h"
#include "retraind/label_report.h"

#define USAGE                                                                                      \
    "usage: retraind label-job create -c FILE --name N --prefix P --labels A,B[,..] "              \
    "--instructions TEXT\n"                                                                        \
    "           [--good-example KEY [--good-text T]] [--bad-example KEY [--bad-text T]]\n"         \
    "           [--workers-per-image K] [--max-workers M] [--min-confidence C]\n"                  \
    "           [--output-prefix P] [--fold] [--verify]\n"                                         \
    "       retraind label-job status NAME -c FILE [--json]\n"                                     \
    "       retraind label-job list -c FILE [--json]\n"

#define DEFAULT_WORKERS 3
#define DEFAULT_MIN_CONFIDENCE 0.8
#define DEFAULT_TARGET_ACCURACY 0.95

__attribute__((format(printf, 1, 2))) static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "retraind label-job: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
    return RT_EXIT_USAGE;
}

/* Parses a whole number lo..hi from option name. Returns: 0 or RT_EXIT_USAGE (said why). */
static int parse_int(struct rt_cli_opt *opts, const char *name, int lo, int hi, int *out)
{
    const char *v = rt_cli_opt(opts, name)->value;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    long n = strtol(v, &end, 10);
    if (errno || end == v || *end || n < lo || n > hi) {
        return usage_error("--%s must be a whole number from %d to %d, not \"%s\"", name, lo, hi,
                           v);
    }
    *out = (int)n;
    return 0;
}

static int parse_fraction(struct rt_cli_opt *opts, const char *name, double *out)
{
    const char *v = rt_cli_opt(opts, name)->value;
    if (!v)
        return 0;
    char *end;
    errno = 0;
    double d = strtod(v, &end);
    if (errno || end == v || *end || !(d >= 0 && d <= 1))
        return usage_error("--%s must be a number from 0 to 1, not \"%s\"", name, v);
    *out = d;
    return 0;
}

/* Splits "a, b,c" into job->labels (owned). Returns: 0 or RT_EXIT_USAGE. */
static int parse_labels(const char *text, struct rt_label_job *job)
{
    job->labels = rt_calloc(RT_LABEL_JOB_MAX_LABELS + 1, sizeof(char *));
    if (!job->labels)
        return RT_EXIT_FAIL;
    const char *p = text;
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        while (len && (*p == ' ' || *p == '\t'))
            p++, len--;
        while (len && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (!len)
            return usage_error("--labels has an empty label in \"%s\"", text);
        if (job->n_labels == RT_LABEL_JOB_MAX_LABELS)
            return usage_error("--labels: at most 10 labels (Ground Truth's limit), not \"%s\"",
                               text);
        char *l = rt_malloc(len + 1);
        if (!l)
            return RT_EXIT_FAIL;
        memcpy(l, p, len);
        l[len] = '\0';
        job->labels[job->n_labels++] = l;
        if (!comma)
            break;
        p = comma + 1;
    }
    return 0;
}

static char *dup_opt(struct rt_cli_opt *opts, const char *name)
{
    const char *v = rt_cli_opt(opts, name)->value;
    return v ? rt_strdup(v) : NULL;
}

/* A prefix given without its final '/' means the folder. */
static char *folder_opt(struct rt_cli_opt *opts, const char *name)
{
    const char *v = rt_cli_opt(opts, name)->value;
    if (!v)
        return NULL;
    size_t n = strlen(v);
    char *s = rt_malloc(n + 2);
    if (!s)
        return NULL;
    memcpy(s, v, n + 1);
    if (n && v[n - 1] != '/')
        memcpy(s + n, "/", 2);
    return s;
}

static int build_job(struct rt_cli_opt *opts, struct rt_label_job *job)
{
    static const char *const required[] = {"name", "prefix", "labels", "instructions"};
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++)
        if (!rt_cli_opt(opts, required[i])->value)
            return usage_error("create needs --%s", required[i]);
    if (rt_cli_opt(opts, "good-text")->present && !rt_cli_opt(opts, "good-example")->present)
        return usage_error("--good-text describes --good-example, which is missing");
    if (rt_cli_opt(opts, "bad-text")->present && !rt_cli_opt(opts, "bad-example")->present)
        return usage_error("--bad-text describes --bad-example, which is missing");
    const char *name = rt_cli_opt(opts, "name")->value;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_label_job_name_check(name, &err))
        return usage_error("--name: %s", err.msg);
    snprintf(job->name, sizeof(job->name), "%s", name);
    bool verify = rt_cli_opt(opts, "verify")->present;
    snprintf(job->kind, sizeof(job->kind), "%s", verify ? "verify" : "label");
    snprintf(job->state, sizeof(job->state), "running");
    int rc = parse_labels(rt_cli_opt(opts, "labels")->value, job);
    if (rc)
        return rc;
    job->workers_per_image = DEFAULT_WORKERS;
    if ((rc = parse_int(opts, "workers-per-image", 1, 10, &job->workers_per_image)))
        return rc;
    job->max_workers = job->workers_per_image + 2 > 10 ? 10 : job->workers_per_image + 2;
    if ((rc = parse_int(opts, "max-workers", 1, 10, &job->max_workers)))
        return rc;
    if (job->max_workers < job->workers_per_image)
        return usage_error("--max-workers must be at least --workers-per-image");
    job->min_confidence = DEFAULT_MIN_CONFIDENCE;
    if ((rc = parse_fraction(opts, "min-confidence", &job->min_confidence)))
        return rc;
    job->target_accuracy = DEFAULT_TARGET_ACCURACY;
    job->auto_label = rt_cli_opt(opts, "auto-label")->present;
    if (rt_cli_opt(opts, "target-accuracy")->present && !job->auto_label)
        return usage_error("--target-accuracy applies to --auto-label, which is missing");
    if ((rc = parse_fraction(opts, "target-accuracy", &job->target_accuracy)))
        return rc;
    if (verify && job->auto_label)
        return usage_error("--auto-label does not apply to --verify");
    job->fold = rt_cli_opt(opts, "fold")->present;
    if (verify && job->fold)
        return usage_error("--fold does not apply to --verify (a verification moves the images "
                           "it finds wrong)");
    job->prefix = folder_opt(opts, "prefix");
    job->instructions = dup_opt(opts, "instructions");
    job->good_example = dup_opt(opts, "good-example");
    job->good_text = dup_opt(opts, "good-text");
    job->bad_example = dup_opt(opts, "bad-example");
    job->bad_text = dup_opt(opts, "bad-text");
    if (rt_cli_opt(opts, "output-prefix")->value) {
        job->output_prefix = folder_opt(opts, "output-prefix");
    } else {
        char p[128];
        snprintf(p, sizeof(p), "labeling-jobs/%s/", job->name);
        job->output_prefix = rt_strdup(p);
    }
    if (!job->prefix || !job->instructions || !job->output_prefix)
        return RT_EXIT_FAIL;
    if (!job->instructions[0])
        return usage_error("--instructions is empty: tell people what to look for");
    if (rt_label_job_check(job, &err))
        return usage_error("%s", err.msg);
    return 0;
}

static int job_create(struct rt_cli_opt *opts)
{
    struct rt_label_job job;
    memset(&job, 0, sizeof(job));
    int rc = build_job(opts, &job);
    struct rt_config *cfg = NULL;
    if (!rc)
        rc = rt_cli_load_config("label-job", opts, &cfg);
    if (rc) {
        rt_label_job_cleanup(&job);
        return rc;
    }
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_journal *j = NULL;
    rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READWRITE, &j, &err);
    int64_t now = rt_now_ms();
    if (!rc)
        rc = rt_journal_label_job_create(j, &job, now);
    if (!rc)
        rc = rt_journal_request_add(j, "label-job", now);
    if (j)
        rt_journal_close(j);
    int exit = RT_EXIT_OK;
    if (rc == RT_EBUSY) {
        fprintf(stderr,
                "retraind label-job: a labeling job named \"%s\" exists already (names are never "
                "reused; see retraind label-job list)\n",
                job.name);
        exit = RT_EXIT_FAIL;
    } else if (rc) {
        char msg[800];
        if (!err.code)
            rt_error_set(&err, rc, "%s", rt_strerror(rc));
        fprintf(stderr, "retraind label-job: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        exit = RT_EXIT_FAIL;
    } else {
        printf("labeling job %s created (%s, %d labels, %d workers per image); ", job.name,
               job.kind, job.n_labels, job.workers_per_image);
        if (rt_daemon_poke(cfg->data_dir) == 0)
            printf("the daemon starts it now: retraind label-job status %s\n", job.name);
        else
            printf("no daemon answered: it starts when the daemon starts\n");
    }
    rt_label_job_cleanup(&job);
    rt_config_destroy(cfg);
    return exit;
}

/* Opens the journal read-only. Returns: 0 with *j (NULL when none exists yet) or an exit code. */
static int open_ro(const struct rt_config *cfg, struct rt_journal **j)
{
    struct rt_error err;
    rt_error_clear(&err);
    *j = NULL;
    int rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READONLY, j, &err);
    if (rc && rc != RT_ENOTFOUND) {
        char msg[800];
        fprintf(stderr, "retraind label-job: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    return 0;
}

static void print_status(const cJSON *s)
{
    const char *name = cJSON_GetStringValue(cJSON_GetObjectItem(s, "name"));
    printf("job %s (%s): %s\n", name ? name : "?",
           cJSON_GetStringValue(cJSON_GetObjectItem(s, "kind")),
           cJSON_GetStringValue(cJSON_GetObjectItem(s, "state")));
    printf("  labeled %.0f of %.0f images, %.0f answers\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(s, "labeled")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(s, "total")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(s, "answers")));
    double machine = cJSON_GetNumberValue(cJSON_GetObjectItem(s, "machine_labeled"));
    double held = cJSON_GetNumberValue(cJSON_GetObjectItem(s, "held"));
    if (machine > 0 || held > 0)
        printf("  labeled by the machine %.0f, waiting for the machine's pass %.0f\n", machine,
               held);
    const cJSON *a = cJSON_GetObjectItem(s, "auto_label");
    const char *skipped = cJSON_GetStringValue(cJSON_GetObjectItem(a, "skipped"));
    if (skipped)
        printf("  automated labeling skipped: %s\n", skipped);
    else if (cJSON_IsNumber(cJSON_GetObjectItem(a, "threshold")))
        printf("  automated labeling: threshold %.1f, measured accuracy %.1f%% on %.0f held-out "
               "images (target %.0f%%)\n",
               cJSON_GetNumberValue(cJSON_GetObjectItem(a, "threshold")),
               100 * cJSON_GetNumberValue(cJSON_GetObjectItem(a, "measured_accuracy")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(a, "validation_at_threshold")),
               100 * cJSON_GetNumberValue(cJSON_GetObjectItem(a, "target_accuracy")));
    else if (a)
        printf("  automated labeling: no threshold met the target accuracy; people label the "
               "rest\n");
    const cJSON *it;
    printf("  labels:\n");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "labels"))
        printf("    %-24s %.0f\n", it->string, cJSON_GetNumberValue(it));
    printf("  workers (quality = estimated share of right answers):\n");
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(s, "workers"))
        printf("    %-24s %5.0f answers  quality %.2f\n", it->string,
               cJSON_GetNumberValue(cJSON_GetObjectItem(it, "answers")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(it, "quality")));
    const cJSON *rates = cJSON_GetObjectItem(s, "error_rate");
    if (rates) {
        printf("  estimated label error rate per folder:\n");
        cJSON_ArrayForEach(it, rates)
            printf("    %-24s %.1f%%\n", it->string, 100 * cJSON_GetNumberValue(it));
        printf("  moved to the right folder: %.0f\n",
               cJSON_GetNumberValue(cJSON_GetObjectItem(s, "moved")));
    }
    const char *manifest = cJSON_GetStringValue(cJSON_GetObjectItem(s, "output_manifest"));
    if (manifest)
        printf("  output manifest: %s\n", manifest);
}

static int job_status(struct rt_cli_opt *opts, const char *name)
{
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_label_job_name_check(name, &err))
        return usage_error("%s", err.msg);
    struct rt_config *cfg;
    int rc = rt_cli_load_config("label-job", opts, &cfg);
    if (rc)
        return rc;
    struct rt_journal *j;
    rc = open_ro(cfg, &j);
    rt_config_destroy(cfg);
    if (rc)
        return rc;
    char *json = NULL;
    rc = j ? rt_label_job_report(j, name, &json, &err) : RT_ENOTFOUND;
    if (j)
        rt_journal_close(j);
    if (rc == RT_ENOTFOUND) {
        fprintf(stderr, "retraind label-job: no such labeling job \"%s\"\n", name);
        return RT_EXIT_FAIL;
    }
    if (rc) {
        char msg[800];
        fprintf(stderr, "retraind label-job: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    cJSON *s = cJSON_Parse(json);
    rt_free(json);
    if (!s)
        return RT_EXIT_FAIL;
    if (rt_cli_opt(opts, "json")->present)
        return rt_cli_print_json(s);
    print_status(s);
    cJSON_Delete(s);
    return RT_EXIT_OK;
}

struct list_ctx {
    struct rt_journal *j;
    cJSON *out;
    int rc;
};

static int list_one(const struct rt_label_job *job, void *ud)
{
    struct list_ctx *l = ud;
    struct rt_label_job_counts c;
    int rc = rt_journal_label_job_counts(l->j, job->name, &c);
    if (rc)
        return l->rc = rc;
    cJSON *o = cJSON_CreateObject();
    if (!o || !cJSON_AddItemToArray(l->out, o)) {
        cJSON_Delete(o);
        return l->rc = RT_ENOMEM;
    }
    cJSON_AddStringToObject(o, "name", job->name);
    cJSON_AddStringToObject(o, "kind", job->kind);
    cJSON_AddStringToObject(o, "state", job->state);
    cJSON_AddStringToObject(o, "prefix", job->prefix ? job->prefix : "");
    cJSON_AddNumberToObject(o, "total", (double)c.total);
    cJSON_AddNumberToObject(o, "labeled", (double)c.answered);
    return 0;
}

static int job_list(struct rt_cli_opt *opts)
{
    struct rt_config *cfg;
    int rc = rt_cli_load_config("label-job", opts, &cfg);
    if (rc)
        return rc;
    struct rt_journal *j;
    rc = open_ro(cfg, &j);
    rt_config_destroy(cfg);
    if (rc)
        return rc;
    struct list_ctx l = {j, cJSON_CreateArray(), 0};
    if (!l.out)
        rc = RT_ENOMEM;
    else if (j)
        rc = rt_journal_label_job_list(j, list_one, &l);
    if (j)
        rt_journal_close(j);
    if (rc || l.rc) {
        fprintf(stderr, "retraind label-job list: cannot read the jobs: %s\n",
                rt_strerror(l.rc ? l.rc : rc));
        cJSON_Delete(l.out);
        return RT_EXIT_FAIL;
    }
    if (rt_cli_opt(opts, "json")->present)
        return rt_cli_print_json(l.out);
    if (!cJSON_GetArraySize(l.out))
        printf("no labeling jobs\n");
    else
        printf("%-24s %-7s %-9s %-12s %s\n", "NAME", "KIND", "STATE", "LABELED", "PREFIX");
    const cJSON *o;
    cJSON_ArrayForEach(o, l.out)
    {
        char done[32];
        snprintf(done, sizeof(done), "%.0f/%.0f",
                 cJSON_GetNumberValue(cJSON_GetObjectItem(o, "labeled")),
                 cJSON_GetNumberValue(cJSON_GetObjectItem(o, "total")));
        printf("%-24s %-7s %-9s %-12s %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(o, "name")),
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "kind")),
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "state")), done,
               cJSON_GetStringValue(cJSON_GetObjectItem(o, "prefix")));
    }
    cJSON_Delete(l.out);
    return RT_EXIT_OK;
}

int rt_cmd_label_job(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true),
                                RT_OPT("json", 0, false),
                                RT_OPT("name", 0, true),
                                RT_OPT("prefix", 0, true),
                                RT_OPT("labels", 0, true),
                                RT_OPT("instructions", 0, true),
                                RT_OPT("good-example", 0, true),
                                RT_OPT("good-text", 0, true),
                                RT_OPT("bad-example", 0, true),
                                RT_OPT("bad-text", 0, true),
                                RT_OPT("workers-per-image", 0, true),
                                RT_OPT("max-workers", 0, true),
                                RT_OPT("min-confidence", 0, true),
                                RT_OPT("output-prefix", 0, true),
                                RT_OPT("fold", 0, false),
                                RT_OPT("verify", 0, false),
                                RT_OPT("auto-label", 0, false),
                                RT_OPT("target-accuracy", 0, true),
                                RT_OPT_END};
    struct rt_cli_args a;
    int rc = rt_cli_parse("label-job", argc, argv, 2, opts, &a);
    if (rc)
        return rc;
    const char *sub = a.n_words ? a.words[0] : "";
    if (strcmp(sub, "create") == 0 && a.n_words == 1)
        return job_create(opts);
    if (strcmp(sub, "status") == 0 && a.n_words == 2)
        return job_status(opts, a.words[1]);
    if (strcmp(sub, "list") == 0 && a.n_words == 1)
        return job_list(opts);
    fprintf(stderr, USAGE);
    return RT_EXIT_USAGE;
}
