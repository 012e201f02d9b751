/*
 * cmd_params.c - `retraind params list|get NAME|set NAME VALUE -c FILE [--json]`.
 *
 * list and get read the journal (never create it); set validates the value against the
 * parameter table first (a refused value exits 2 naming the parameter and changes nothing),
 * stores it in the journal and pokes a running daemon so it applies the change at once.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/daemon.h"
#include "retraind/journal.h"
#include "retraind/params.h"

static const char usage[] =
    "usage: retraind params list|get NAME|set NAME VALUE -c FILE [--json]\n";

static int read_values(const struct rt_config *cfg, struct rt_param_set *values)
{
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_journal *j = NULL;
    int rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READONLY, &j, &err);
    if (rc && rc != RT_ENOTFOUND) {
        char msg[800];
        fprintf(stderr, "retraind params: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    rt_params_read_journal(j, &cfg->parameters.defaults, values);
    if (j)
        rt_journal_close(j);
    return 0;
}

static int cmd_list(const struct rt_config *cfg, bool json)
{
    struct rt_param_set values;
    int rc = read_values(cfg, &values);
    if (rc)
        return rc;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; i < RT_P_COUNT; i++) {
            struct rt_buf b;
            rt_buf_init(&b, 128);
            rt_param_value_json(&values.v[i], &b);
            cJSON_AddItemToObject(o, rt_param_def_by_id((enum rt_param_id)i)->name,
                                  cJSON_Parse(b.data));
            rt_buf_cleanup(&b);
        }
        return rt_cli_print_json(o);
    }
    for (int i = 0; i < RT_P_COUNT; i++) {
        const struct rt_param_def *def = rt_param_def_by_id((enum rt_param_id)i);
        printf("%-36s %-8s # %s\n", def->name, values.v[i].text, def->help);
    }
    return RT_EXIT_OK;
}

static int cmd_get(const struct rt_config *cfg, const char *name)
{
    const struct rt_param_def *def = rt_param_def_by_name(name);
    if (!def) {
        fprintf(stderr, "retraind params: unknown parameter \"%s\" (see retraind params list)\n",
                name);
        return RT_EXIT_USAGE;
    }
    struct rt_param_set values;
    int rc = read_values(cfg, &values);
    if (rc)
        return rc;
    printf("%s\n", values.v[def->id].text);
    return RT_EXIT_OK;
}

static int cmd_set(const struct rt_config *cfg, const char *name, const char *text)
{
    const struct rt_param_def *def = rt_param_def_by_name(name);
    if (!def) {
        fprintf(stderr, "retraind params: unknown parameter \"%s\" (see retraind params list)\n",
                name);
        return RT_EXIT_USAGE;
    }
    struct rt_param_value v;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_param_parse(def, text, &v, &err) != 0) {
        fprintf(stderr, "retraind params: refused: %s\n", err.msg);
        return RT_EXIT_USAGE;
    }
    struct rt_journal *j = NULL;
    int rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READWRITE, &j, &err);
    if (!rc)
        rc = rt_journal_param_set(j, def->name, v.text, rt_now_ms());
    if (j)
        rt_journal_close(j);
    if (rc) {
        char msg[800];
        if (!err.code)
            rt_error_set(&err, rc, "%s", rt_strerror(rc));
        fprintf(stderr, "retraind params: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    bool poked = rt_daemon_poke(cfg->data_dir) == 0;
    printf("%s = %s%s\n", def->name, v.text,
           poked ? "" : " (no daemon answered; it applies at the next start)");
    return RT_EXIT_OK;
}

int rt_cmd_params(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT("json", 0, false), RT_OPT_END};
    struct rt_cli_args a;
    int rc = rt_cli_parse("params", argc, argv, 2, opts, &a);
    if (rc)
        return rc;
    const char *verb = a.n_words ? a.words[0] : "";
    int want = strcmp(verb, "list") == 0  ? 1
               : strcmp(verb, "get") == 0 ? 2
               : strcmp(verb, "set") == 0 ? 3
                                          : -1;
    if (want < 0 || a.n_words != want) {
        fputs(usage, stderr);
        return RT_EXIT_USAGE;
    }
    struct rt_config *cfg;
    if ((rc = rt_cli_load_config("params", opts, &cfg)))
        return rc;
    if (want == 1)
        rc = cmd_list(cfg, opts[1].present);
    else if (want == 2)
        rc = cmd_get(cfg, a.words[1]);
    else
        rc = cmd_set(cfg, a.words[1], a.words[2]);
    rt_config_destroy(cfg);
    return rc;
}
