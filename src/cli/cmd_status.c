/*
 * cmd_status.c - `retraind status -c FILE [--json]`: parameters, images per label, untrained
 * count, the active model and work in flight. Reads the journal and the store; never writes, and
 * works whether or not the daemon runs.
 */
#include <cjson/cJSON.h>
#include <stdio.h>

#include "cli.h"
#include "retraind/config.h"
#include "retraind/journal.h"
#include "retraind/report.h"

static void print_text(const cJSON *st)
{
    const cJSON *item;
    printf("daemon:    %s\n",
           cJSON_IsTrue(cJSON_GetObjectItem(st, "daemon_running")) ? "running" : "not running");
    printf("data_dir:  %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(st, "data_dir")));
    const cJSON *root = cJSON_GetObjectItem(st, "store_root");
    if (root)
        printf("store:     %s\n", cJSON_GetStringValue(root));
    printf("\nimages per label:\n");
    const cJSON *labels = cJSON_GetObjectItem(st, "labels");
    if (!cJSON_GetArraySize(labels))
        printf("  (none)\n");
    cJSON_ArrayForEach(item, labels) printf("  %-24s %6.0f\n", item->string, item->valuedouble);
    printf("  %-24s %6.0f\n", "total",
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "images_total")));
    printf("previous_trained_images: %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "previous_trained_images")));
    printf("last_attempted_images:   %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "last_attempted_images")));
    printf("untrained_images:        %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "untrained_images")));
    const cJSON *am = cJSON_GetObjectItem(st, "active_model");
    if (cJSON_IsObject(am))
        printf("\nactive model: %s  F1 %.3f  trained on %.0f images  deployed %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(am, "version")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(am, "f1")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(am, "images")),
               cJSON_GetStringValue(cJSON_GetObjectItem(am, "deployed_at")));
    else
        printf("\nactive model: none\n");
    printf("\nin flight:\n");
    const cJSON *fl = cJSON_GetObjectItem(st, "in_flight");
    if (!cJSON_GetArraySize(fl))
        printf("  (nothing)\n");
    cJSON_ArrayForEach(item, fl)
        printf("  %s  %s  %s  since %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(item, "id")),
               cJSON_GetStringValue(cJSON_GetObjectItem(item, "workflow")),
               cJSON_GetStringValue(cJSON_GetObjectItem(item, "state")),
               cJSON_GetStringValue(cJSON_GetObjectItem(item, "started_at")));
    printf("\nparameters:\n");
    cJSON_ArrayForEach(item, cJSON_GetObjectItem(st, "parameters"))
    {
        char *v = cJSON_PrintUnformatted(item);
        printf("  %-36s %s\n", item->string, v ? v : "?");
        cJSON_free(v);
    }
}

int rt_cmd_status(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT("json", 0, false), RT_OPT_END};
    struct rt_cli_args args;
    int rc = rt_cli_parse("status", argc, argv, 2, opts, &args);
    if (rc)
        return rc;
    if (args.n_words) {
        fprintf(stderr, "usage: retraind status -c FILE [--json]\n");
        return RT_EXIT_USAGE;
    }
    struct rt_config *cfg;
    if ((rc = rt_cli_load_config("status", opts, &cfg)))
        return rc;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_journal *j = NULL;
    rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READONLY, &j, &err);
    if (rc && rc != RT_ENOTFOUND) {
        char msg[800];
        fprintf(stderr, "retraind status: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        rt_config_destroy(cfg);
        return RT_EXIT_FAIL;
    }
    struct rt_label_counts counts;
    rt_error_clear(&err);
    rc = rt_report_count_labels(cfg, &counts, &err);
    if (rc) {
        char msg[800];
        fprintf(stderr, "retraind status: counting images failed: %s\n",
                rt_error_format(&err, msg, sizeof(msg)));
        if (j)
            rt_journal_close(j);
        rt_config_destroy(cfg);
        return RT_EXIT_FAIL;
    }
    cJSON *st = rt_report_status(cfg, j, &counts, rt_report_daemon_running(cfg->data_dir));
    rt_label_counts_cleanup(&counts);
    if (j)
        rt_journal_close(j);
    rt_config_destroy(cfg);
    if (opts[1].present)
        return rt_cli_print_json(st);
    print_text(st);
    cJSON_Delete(st);
    return RT_EXIT_OK;
}
