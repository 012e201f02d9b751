/*
 * cmd_status.c - `retraind status -c FILE [--json]`: parameters, images per label, untrained
 * count, the active model and work in flight. Reads the journal and the store; never writes, and
 * works whether or not the daemon runs.
 */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "retraind/config.h"
#include "retraind/journal.h"
#include "retraind/report.h"

/*
 * Display width of text in a terminal column, for labels like "chat-noir-été" or "猫" (printf's
 * %-24s pads by bytes). Computed here from UTF-8 rather than with wcwidth(), which depends on the
 * process locale. The tables are the blocks that matter for names, not all of Unicode: combining
 * marks, zero-width characters and variation selectors take no column; the East Asian Wide and
 * Fullwidth blocks (CJK, kana, Hangul, fullwidth forms, the common emoji blocks) take two. A byte
 * that is not valid UTF-8 takes one column, as terminals usually show it as one replacement mark.
 */
struct cp_range {
    uint32_t lo, hi;
};

static const struct cp_range zero_width[] = {
    {0x0300, 0x036F}, {0x0483, 0x0489}, {0x0591, 0x05BD}, {0x0610, 0x061A},   {0x064B, 0x065F},
    {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x200B, 0x200F}, {0x2060, 0x2064},   {0x20D0, 0x20FF},
    {0xFE00, 0xFE0F}, {0xFE20, 0xFE2F}, {0xFEFF, 0xFEFF}, {0x1F3FB, 0x1F3FF}, {0xE0100, 0xE01EF},
};

static const struct cp_range wide[] = {
    {0x1100, 0x115F},   {0x231A, 0x231B},   {0x2329, 0x232A},   {0x2E80, 0x303E},
    {0x3041, 0x33FF},   {0x3400, 0x4DBF},   {0x4E00, 0x9FFF},   {0xA000, 0xA4CF},
    {0xA960, 0xA97F},   {0xAC00, 0xD7A3},   {0xF900, 0xFAFF},   {0xFE10, 0xFE19},
    {0xFE30, 0xFE6F},   {0xFF00, 0xFF60},   {0xFFE0, 0xFFE6},   {0x16FE0, 0x16FE4},
    {0x17000, 0x18AFF}, {0x1B000, 0x1B2FF}, {0x1F200, 0x1F251}, {0x1F300, 0x1F64F},
    {0x1F680, 0x1F6FF}, {0x1F900, 0x1F9FF}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD},
};

static bool in_ranges(uint32_t cp, const struct cp_range *r, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (cp >= r[i].lo && cp <= r[i].hi)
            return true;
    return false;
}

/* Returns: the number of terminal columns s takes. */
static size_t display_width(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t width = 0;
    while (*p) {
        uint32_t cp;
        size_t n;
        if (*p < 0x80) {
            cp = *p;
            n = 1;
        } else if (*p >= 0xC2 && *p <= 0xDF) {
            cp = *p & 0x1F;
            n = 2;
        } else if (*p >= 0xE0 && *p <= 0xEF) {
            cp = *p & 0x0F;
            n = 3;
        } else if (*p >= 0xF0 && *p <= 0xF4) {
            cp = *p & 0x07;
            n = 4;
        } else {
            width++; /* not a lead byte */
            p++;
            continue;
        }
        size_t k = 1;
        for (; k < n && (p[k] & 0xC0) == 0x80; k++)
            cp = (cp << 6) | (p[k] & 0x3F);
        if (k < n) {
            width++; /* truncated sequence: count its lead byte, resume after it */
            p++;
            continue;
        }
        p += n;
        if (in_ranges(cp, zero_width, sizeof(zero_width) / sizeof(zero_width[0])))
            continue;
        width += in_ranges(cp, wide, sizeof(wide) / sizeof(wide[0])) ? 2 : 1;
    }
    return width;
}

/* Prints "  NAME" padded with spaces to columns display columns, then " COUNT" right-aligned. */
static void print_count_row(const char *name, size_t columns, double count)
{
    size_t w = display_width(name);
    int pad = w < columns ? (int)(columns - w) : 0;
    printf("  %s%*s %6.0f\n", name, pad, "", count);
}

static void print_text(const cJSON *st)
{
    const cJSON *item;
    printf("daemon:    %s\n",
           cJSON_IsTrue(cJSON_GetObjectItem(st, "daemon_running")) ? "running" : "not running");
    printf("data_dir:  %s\n", cJSON_GetStringValue(cJSON_GetObjectItem(st, "data_dir")));
    const char *http = cJSON_GetStringValue(cJSON_GetObjectItem(st, "http"));
    if (http)
        printf("http:      http://%s/\n", http);
    const cJSON *root = cJSON_GetObjectItem(st, "store_root");
    if (root)
        printf("store:     %s\n", cJSON_GetStringValue(root));
    printf("\nimages per label:\n");
    const cJSON *labels = cJSON_GetObjectItem(st, "labels");
    if (!cJSON_GetArraySize(labels))
        printf("  (none)\n");
    cJSON_ArrayForEach(item, labels) print_count_row(item->string, 24, item->valuedouble);
    print_count_row("total", 24, cJSON_GetNumberValue(cJSON_GetObjectItem(st, "images_total")));
    printf("previous_trained_images: %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "previous_trained_images")));
    printf("last_attempted_images:   %.0f\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "last_attempted_images")));
    printf("untrained_images:        %.0f  (labeled images not in the deployed manifest)\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(st, "untrained_images")));
    const cJSON *since = cJSON_GetObjectItem(st, "new_since_last_attempt");
    if (cJSON_IsNumber(since))
        printf("new_since_last_attempt:  %.0f  (not in the last version that was not deployed)\n",
               since->valuedouble);
    const cJSON *period = cJSON_GetObjectItem(st, "poll_period");
    const char *next = cJSON_GetStringValue(cJSON_GetObjectItem(st, "next_check_at"));
    printf("\ntraining check: every %s (%.0f s); next %s\n",
           cJSON_GetStringValue(cJSON_GetObjectItem(period, "text")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(period, "seconds")),
           next ? next
           : cJSON_IsTrue(cJSON_GetObjectItem(st, "daemon_running"))
               ? "not scheduled (Enable-Automatic-Training is false)"
               : "when the daemon runs");
    const cJSON *am = cJSON_GetObjectItem(st, "active_model");
    if (cJSON_IsObject(am))
        printf("\nactive model: %s  F1 %.3f  trained on %.0f images  deployed %s\n",
               cJSON_GetStringValue(cJSON_GetObjectItem(am, "version")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(am, "f1")),
               cJSON_GetNumberValue(cJSON_GetObjectItem(am, "images")),
               cJSON_GetStringValue(cJSON_GetObjectItem(am, "deployed_at")));
    const cJSON *hours = cJSON_GetObjectItem(am, "running_hours");
    if (cJSON_IsNumber(hours))
        printf("running hours: %.3f  (time in RUNNING; %s)\n", hours->valuedouble,
               cJSON_IsTrue(cJSON_GetObjectItem(am, "running")) ? "running now" : "stopped now");
    if (!cJSON_IsObject(am))
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
    double total = cJSON_GetNumberValue(cJSON_GetObjectItem(st, "in_flight_total"));
    if (total > cJSON_GetArraySize(fl))
        printf("  ... %.0f in flight in all\n", total);
    const cJSON *det = cJSON_GetObjectItem(st, "detections");
    printf("\ndetections: %.0f queued, %.0f being detected; routed: %.0f accepted, %.0f accepted "
           "low-confidence, %.0f to review\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(det, "queued")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(det, "in_flight")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(det, "accepted")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(det, "accepted_low")),
           cJSON_GetNumberValue(cJSON_GetObjectItem(det, "review")));
    const cJSON *rv = cJSON_GetObjectItem(st, "review");
    const char *oldest = cJSON_GetStringValue(cJSON_GetObjectItem(rv, "oldest_open_at"));
    printf("review:     %.0f open tasks%s%s\n",
           cJSON_GetNumberValue(cJSON_GetObjectItem(rv, "open")),
           oldest ? ", the oldest since " : "", oldest ? oldest : "");
    const cJSON *ag = cJSON_GetObjectItem(st, "sampling_agreement");
    if (cJSON_GetArraySize(ag)) {
        printf("sampling agreement (sampled answers that agree with the model):\n");
        cJSON_ArrayForEach(item, ag)
        {
            double answered = cJSON_GetNumberValue(cJSON_GetObjectItem(item, "answered"));
            double agreed = cJSON_GetNumberValue(cJSON_GetObjectItem(item, "agreed"));
            printf("  %s  %.0f/%.0f  %.1f%%\n", item->string, agreed, answered,
                   answered > 0 ? 100.0 * agreed / answered : 0.0);
        }
    }
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
    struct rt_census census;
    struct rt_param_set values;
    rt_error_clear(&err);
    rc = rt_report_params(cfg, j, &values, &err);
    if (!rc)
        rc = rt_report_census(cfg, j, &census, &err);
    if (rc) {
        char msg[800];
        fprintf(stderr, "retraind status: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        if (j)
            rt_journal_close(j);
        rt_config_destroy(cfg);
        return RT_EXIT_FAIL;
    }
    cJSON *st =
        rt_report_status(cfg, j, &census, &values, rt_report_daemon_running(cfg->data_dir), NULL);
    rt_census_cleanup(&census);
    if (j)
        rt_journal_close(j);
    rt_config_destroy(cfg);
    if (opts[1].present)
        return rt_cli_print_json(st);
    print_text(st);
    cJSON_Delete(st);
    return RT_EXIT_OK;
}
