/*
 * cmd_review.c - `retraind review list -c FILE [--json] [--state open|answered|cancelled]
 * [--source S] [--limit N]` and `retraind review answer TASK LABEL -c FILE [--as NAME]`.
 *
 * Design: both work on the journal directly, with or without the daemon. `list` opens it
 * read-only (it never creates or migrates it; none yet lists nothing). `answer` writes the answer
 * in one transaction of its own connection, waiting on the busy timeout while the daemon holds
 * the lock; the journal checks the task's rules in that transaction, and a daemon waiting for the
 * task notices the answer within a second (its review driver polls answered tasks while someone
 * waits). The worker is `cli:<unix user>` unless --as names another.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/journal.h"
#include "retraind/journal_reviews.h"
#include "retraind/review_local.h"

#define LIST_USAGE                                                                                 \
    "usage: retraind review list -c FILE [--json] [--state open|answered|cancelled] "              \
    "[--source S] [--limit N]\n"
#define ANSWER_USAGE "usage: retraind review answer TASK LABEL -c FILE [--as NAME]\n"

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    return s ? s : dflt;
}

static void print_table(const cJSON *tasks)
{
    printf("%-32s %-12s %-9s %-8s %-8s %-14s %s\n", "TASK", "SOURCE", "STATE", "ANSWERS", "CONF",
           "DETECTED", "KEY");
    const cJSON *t;
    cJSON_ArrayForEach(t, tasks)
    {
        char answers[32], conf[16] = "-";
        snprintf(answers, sizeof(answers), "%.0f/%.0f",
                 cJSON_GetNumberValue(cJSON_GetObjectItem(t, "answers")),
                 cJSON_GetNumberValue(cJSON_GetObjectItem(t, "answers_needed")));
        const cJSON *c = cJSON_GetObjectItem(t, "confidence");
        if (cJSON_IsNumber(c))
            snprintf(conf, sizeof(conf), "%.1f", c->valuedouble);
        printf("%-32s %-12s %-9s %-8s %-8s %-14s %s", str_or(t, "id", "?"),
               str_or(t, "source", "?"), str_or(t, "state", "?"), answers, conf,
               str_or(t, "detected_label", "-"), str_or(t, "key", "?"));
        const char *result = str_or(t, "result", NULL);
        if (result)
            printf("  -> %s", result);
        printf("\n");
    }
}

/* Opens the journal of the config read-only. Returns: 0 with *j (NULL when there is none yet),
 * or an exit code after saying why. */
static int open_ro(const char *what, const struct rt_config *cfg, struct rt_journal **j)
{
    struct rt_error err;
    rt_error_clear(&err);
    *j = NULL;
    int rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READONLY, j, &err);
    if (rc && rc != RT_ENOTFOUND) {
        char msg[800];
        fprintf(stderr, "retraind review %s: %s\n", what, rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    return 0;
}

static int review_list(struct rt_cli_opt *opts, const struct rt_cli_args *args)
{
    if (args->n_words != 1 || rt_cli_opt(opts, "as")->present) {
        fprintf(stderr, LIST_USAGE);
        return RT_EXIT_USAGE;
    }
    const char *state = rt_cli_opt(opts, "state")->value;
    if (state && strcmp(state, "open") != 0 && strcmp(state, "answered") != 0 &&
        strcmp(state, "cancelled") != 0) {
        fprintf(stderr,
                "retraind review list: unknown state \"%s\" (known: open, answered, "
                "cancelled)\n",
                state);
        return RT_EXIT_USAGE;
    }
    const char *source = rt_cli_opt(opts, "source")->value;
    if (source && strcmp(source, RT_REVIEW_SOURCE_DETECTION) != 0 &&
        strcmp(source, RT_REVIEW_SOURCE_SAMPLING) != 0 &&
        strcmp(source, RT_REVIEW_SOURCE_LABELING_JOB) != 0) {
        fprintf(stderr,
                "retraind review list: unknown source \"%s\" (known: detection, "
                "sampling, labeling-job)\n",
                source);
        return RT_EXIT_USAGE;
    }
    int limit = 100;
    const char *lim = rt_cli_opt(opts, "limit")->value;
    if (lim) {
        char *end;
        errno = 0;
        long n = strtol(lim, &end, 10);
        if (errno || *end || n < 1 || n > 100000) {
            fprintf(stderr, "retraind review list: --limit must be a whole number from 1 to "
                            "100000\n");
            return RT_EXIT_USAGE;
        }
        limit = (int)n;
    }
    struct rt_config *cfg;
    int rc = rt_cli_load_config("review", opts, &cfg);
    if (rc)
        return rc;
    struct rt_journal *j;
    rc = open_ro("list", cfg, &j);
    rt_config_destroy(cfg);
    if (rc)
        return rc;
    struct rt_journal_review_filter f = {.state = state, .source = source, .limit = limit};
    int err = 0;
    cJSON *tasks = rt_review_list_json(j, &f, &err);
    if (j)
        rt_journal_close(j);
    if (!tasks) {
        fprintf(stderr, "retraind review list: cannot read the tasks: %s\n", rt_strerror(err));
        return RT_EXIT_FAIL;
    }
    if (rt_cli_opt(opts, "json")->present)
        return rt_cli_print_json(tasks);
    if (!cJSON_GetArraySize(tasks))
        printf("no review tasks%s%s\n", state ? " in state " : "", state ? state : "");
    else
        print_table(tasks);
    cJSON_Delete(tasks);
    return RT_EXIT_OK;
}

/* Writes "a, b, c" from the JSON array text options into out. */
static void options_text(const char *options, char *out, size_t size)
{
    out[0] = '\0';
    cJSON *a = options ? cJSON_Parse(options) : NULL;
    const cJSON *o;
    cJSON_ArrayForEach(o, a)
    {
        size_t len = strlen(out);
        const char *s = cJSON_GetStringValue(o);
        if (s)
            snprintf(out + len, size - len, "%s\"%s\"", len ? ", " : "", s);
    }
    cJSON_Delete(a);
}

static int review_answer(struct rt_cli_opt *opts, const struct rt_cli_args *args)
{
    if (args->n_words != 3 || rt_cli_opt(opts, "json")->present ||
        rt_cli_opt(opts, "state")->present || rt_cli_opt(opts, "source")->present ||
        rt_cli_opt(opts, "limit")->present) {
        fprintf(stderr, ANSWER_USAGE);
        return RT_EXIT_USAGE;
    }
    const char *task = args->words[1], *label = args->words[2];
    char worker[160];
    const char *as = rt_cli_opt(opts, "as")->value;
    if (as) {
        if (!*as || strlen(as) >= 128) {
            fprintf(stderr, "retraind review answer: --as needs a name of 1 to 127 bytes\n");
            return RT_EXIT_USAGE;
        }
        snprintf(worker, sizeof(worker), "%s", as);
    } else {
        const struct passwd *pw = getpwuid(geteuid());
        const char *user = pw && pw->pw_name ? pw->pw_name : getenv("USER");
        if (user && strlen(user) < 100)
            snprintf(worker, sizeof(worker), "cli:%s", user);
        else
            snprintf(worker, sizeof(worker), "cli:%u", (unsigned)geteuid());
    }
    struct rt_config *cfg;
    int rc = rt_cli_load_config("review", opts, &cfg);
    if (rc)
        return rc;
    /* No journal yet means no task; answering never creates one. */
    struct rt_journal *j;
    rc = open_ro("answer", cfg, &j);
    if (!rc && !j) {
        rt_config_destroy(cfg);
        fprintf(stderr, "retraind review answer: no such task: %s\n", task);
        return RT_EXIT_FAIL;
    }
    if (j)
        rt_journal_close(j);
    if (rc) {
        rt_config_destroy(cfg);
        return rc;
    }
    struct rt_error err;
    rt_error_clear(&err);
    rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READWRITE, &j, &err);
    rt_config_destroy(cfg);
    if (rc) {
        char msg[800];
        fprintf(stderr, "retraind review answer: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    struct rt_journal_review_outcome out;
    rc = rt_journal_review_answer(j, task, worker, label, rt_now_ms(), &out);
    int code = RT_EXIT_OK;
    if (rc == RT_ENOTFOUND) {
        fprintf(stderr, "retraind review answer: no such task: %s\n", task);
        code = RT_EXIT_FAIL;
    } else if (rc == RT_EINVAL) {
        struct rt_journal_review t;
        char names[1400] = "";
        if (rt_journal_review_get(j, task, &t) == 0) {
            options_text(t.options, names, sizeof(names));
            rt_journal_review_cleanup(&t);
        }
        fprintf(stderr,
                "retraind review answer: \"%s\" is not an option of task %s (options: %s)\n", label,
                task, names);
        code = RT_EXIT_USAGE;
    } else if (rc == -EEXIST) {
        fprintf(stderr, "retraind review answer: %s has answered task %s already\n", worker, task);
        code = RT_EXIT_FAIL;
    } else if (rc == -EALREADY) {
        fprintf(stderr, "retraind review answer: task %s needs no more answers\n", task);
        code = RT_EXIT_FAIL;
    } else if (rc) {
        fprintf(stderr, "retraind review answer: cannot record the answer: %s\n", rt_strerror(rc));
        code = RT_EXIT_FAIL;
    } else if (out.completed) {
        printf("%s: answered \"%s\" as %s; the task is answered (%s)\n", task, label, worker,
               out.result);
    } else {
        printf("%s: answered \"%s\" as %s; %d of %d answers\n", task, label, worker, out.answers,
               out.answers_needed);
    }
    rt_journal_close(j);
    return code;
}

int rt_cmd_review(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true),
                                RT_OPT("json", 0, false),
                                RT_OPT("state", 0, true),
                                RT_OPT("source", 0, true),
                                RT_OPT("limit", 0, true),
                                RT_OPT("as", 0, true),
                                RT_OPT_END};
    struct rt_cli_args args;
    int rc = rt_cli_parse("review", argc, argv, 2, opts, &args);
    if (rc)
        return rc;
    if (args.n_words >= 1 && strcmp(args.words[0], "list") == 0)
        return review_list(opts, &args);
    if (args.n_words >= 1 && strcmp(args.words[0], "answer") == 0)
        return review_answer(opts, &args);
    fprintf(stderr, LIST_USAGE "       retraind review answer TASK LABEL -c FILE [--as NAME]\n");
    return RT_EXIT_USAGE;
}
