/*
 * cmd_history.c - `retraind history [EXECUTION] -c FILE [--json] [--limit N] [--workflow W]
 * [--state S]`: executions newest first, with their steps. Read-only.
 */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "retraind/config.h"
#include "retraind/journal.h"
#include "retraind/report.h"
#include "retraind/workflow.h"

static const char *str_or(const cJSON *o, const char *key, const char *dflt)
{
    const char *s = cJSON_GetStringValue(cJSON_GetObjectItem(o, key));
    return s ? s : dflt;
}

static void print_exec(const cJSON *e)
{
    printf("%s  %-9s %-13s started %s  finished %s\n", str_or(e, "id", "?"),
           str_or(e, "workflow", "?"), str_or(e, "state", "?"), str_or(e, "started_at", "-"),
           str_or(e, "finished_at", "-"));
    const char *err = str_or(e, "error", NULL);
    if (err)
        printf("    error: %s\n", err);
    /* A NOT_MET check repeated with the same outcome: one row standing for many polls. */
    double checks = cJSON_GetNumberValue(cJSON_GetObjectItem(e, "checks"));
    if (checks > 1)
        printf("    %.0f checks with this outcome, the last at %s\n", checks,
               str_or(e, "last_checked_at", "-"));
    const cJSON *s;
    cJSON_ArrayForEach(s, cJSON_GetObjectItem(e, "steps"))
    {
        const cJSON *out = cJSON_GetObjectItem(s, "output");
        char *o = cJSON_IsNull(out) || !out ? NULL : cJSON_PrintUnformatted(out);
        printf("    %s  %-13s %s%s%s\n", str_or(s, "at", "-"), str_or(s, "state", "?"), o ? o : "",
               str_or(s, "error", NULL) ? "  error: " : "", str_or(s, "error", ""));
        cJSON_free(o);
    }
}

static bool known_workflow(const char *name)
{
    for (const char *const *w = rt_workflow_names(); *w; w++)
        if (strcmp(*w, name) == 0)
            return true;
    return false;
}

static void list_workflows(char *out, size_t size)
{
    out[0] = '\0';
    for (const char *const *w = rt_workflow_names(); *w; w++) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "%s%s", len ? ", " : "", *w);
    }
}

int rt_cmd_history(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT("json", 0, false),
                                RT_OPT("limit", 0, true),    RT_OPT("workflow", 0, true),
                                RT_OPT("state", 0, true),    RT_OPT_END};
    struct rt_cli_args args;
    int rc = rt_cli_parse("history", argc, argv, 2, opts, &args);
    if (rc)
        return rc;
    if (args.n_words > 1) {
        fprintf(stderr, "usage: retraind history [EXECUTION] -c FILE [--json] [--limit N] "
                        "[--workflow W] [--state S]\n");
        return RT_EXIT_USAGE;
    }
    int limit = 100;
    if (opts[2].present) {
        char *end;
        errno = 0;
        long n = strtol(opts[2].value, &end, 10);
        if (errno || *end || n < 1 || n > 100000) {
            fprintf(stderr, "retraind history: --limit must be a whole number from 1 to 100000\n");
            return RT_EXIT_USAGE;
        }
        limit = (int)n;
    }
    /* An unknown workflow or state is a usage error, not an empty answer. */
    const char *workflow = opts[3].value, *state = opts[4].value;
    if (workflow && !known_workflow(workflow)) {
        char names[256];
        list_workflows(names, sizeof(names));
        fprintf(stderr, "retraind history: unknown workflow \"%s\" (known: %s)\n", workflow, names);
        return RT_EXIT_USAGE;
    }
    if (state && !rt_workflow_state_known(workflow, state)) {
        char names[512];
        rt_workflow_state_list(workflow, names, sizeof(names));
        fprintf(stderr, "retraind history: unknown state \"%s\"%s%s (known: %s)\n", state,
                workflow ? " for workflow " : "", workflow ? workflow : "", names);
        return RT_EXIT_USAGE;
    }
    struct rt_config *cfg;
    if ((rc = rt_cli_load_config("history", opts, &cfg)))
        return rc;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_journal *j = NULL;
    rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READONLY, &j, &err);
    rt_config_destroy(cfg);
    if (rc && rc != RT_ENOTFOUND) {
        char msg[800];
        fprintf(stderr, "retraind history: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    cJSON *out;
    if (args.n_words == 1) {
        out = rt_report_execution(j, args.words[0], &rc);
        if (j)
            rt_journal_close(j);
        if (!out) {
            fprintf(stderr, "retraind history: no such execution: %s\n", args.words[0]);
            return RT_EXIT_FAIL;
        }
        if (opts[1].present)
            return rt_cli_print_json(out);
        print_exec(out);
        cJSON_Delete(out);
        return RT_EXIT_OK;
    }
    struct rt_report_history_opts ho = {
        .workflow = opts[3].value, .state = opts[4].value, .limit = limit, .with_steps = true};
    out = rt_report_history(j, &ho);
    if (j)
        rt_journal_close(j);
    if (opts[1].present)
        return rt_cli_print_json(out);
    const cJSON *e;
    if (!cJSON_GetArraySize(out) && (workflow || state))
        printf("no executions match%s%s%s%s\n", workflow ? " --workflow " : "",
               workflow ? workflow : "", state ? " --state " : "", state ? state : "");
    else if (!cJSON_GetArraySize(out))
        printf("no executions yet\n");
    cJSON_ArrayForEach(e, out) print_exec(e);
    cJSON_Delete(out);
    return RT_EXIT_OK;
}
