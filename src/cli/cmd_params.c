/*
 * cmd_params.c - `retraind params list|get NAME|set NAME VALUE|reset NAME -c FILE [--json]`.
 *
 * Every verb goes through the parameters driver the config names (the registry), as the daemon
 * does: list and get load the values (they never create the journal); set and reset store through
 * the driver, which validates first (a refused value exits 2 naming the parameter and its range,
 * and changes nothing), then poke a running daemon so it applies the change at once.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "retraind/buf.h"
#include "retraind/config.h"
#include "retraind/daemon.h"
#include "retraind/journal.h"
#include "retraind/report.h"

static const char usage[] =
    "usage: retraind params list|get NAME|set NAME VALUE|reset NAME -c FILE [--json]\n";

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
    rt_error_clear(&err);
    rc = rt_report_params(cfg, j, values, &err);
    if (j)
        rt_journal_close(j);
    if (rc) {
        char msg[800];
        fprintf(stderr, "retraind params: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    return 0;
}

/* Returns: the JSON of v (caller frees with cJSON_Delete), or NULL. */
static cJSON *value_json(const struct rt_param_value *v)
{
    struct rt_buf b;
    rt_buf_init(&b, 128);
    cJSON *item = rt_param_value_json(v, &b) == 0 && b.data ? cJSON_Parse(b.data) : NULL;
    rt_buf_cleanup(&b);
    return item;
}

/* Where a value comes from, as people read it. */
static void describe_source(const struct rt_config *cfg,
                            enum rt_param_id id,
                            const struct rt_param_value *v,
                            char *out,
                            size_t size)
{
    const struct rt_param_value *dflt = &cfg->parameters.defaults.v[id];
    if (v->source == RT_PSRC_SET && cfg->parameters.default_set[id])
        rt_snprintf(out, size, "set (shadows %s from %s; params reset returns to it)", dflt->text,
                    cfg->path);
    else if (v->source == RT_PSRC_SET)
        rt_snprintf(out, size, "set (default %s)", dflt->text);
    else if (v->source == RT_PSRC_CONFIG)
        rt_snprintf(out, size, "config (%s)", cfg->path);
    else
        rt_snprintf(out, size, "default");
}

static int cmd_list(const struct rt_config *cfg, bool json)
{
    struct rt_param_set values;
    int rc = read_values(cfg, &values);
    if (rc)
        return rc;
    if (json) {
        cJSON *o = cJSON_CreateObject();
        for (int i = 0; o && i < RT_P_COUNT; i++) {
            cJSON *v = value_json(&values.v[i]);
            cJSON_AddItemToObject(o, rt_param_def_by_id((enum rt_param_id)i)->name,
                                  v ? v : cJSON_CreateNull());
        }
        return rt_cli_print_json(o);
    }
    printf("%-36s %-8s %s\n", "NAME", "VALUE", "FROM");
    for (int i = 0; i < RT_P_COUNT; i++) {
        const struct rt_param_def *def = rt_param_def_by_id((enum rt_param_id)i);
        char from[600];
        describe_source(cfg, def->id, &values.v[i], from, sizeof(from));
        printf("%-36s %-8s %s\n", def->name, values.v[i].text, from);
    }
    return RT_EXIT_OK;
}

static const struct rt_param_def *find(const char *name)
{
    const struct rt_param_def *def = rt_param_def_by_name(name);
    if (!def)
        fprintf(stderr, "retraind params: unknown parameter \"%s\" (see retraind params list)\n",
                name);
    return def;
}

static int cmd_get(const struct rt_config *cfg, const char *name, bool json)
{
    const struct rt_param_def *def = find(name);
    if (!def)
        return RT_EXIT_USAGE;
    struct rt_param_set values;
    int rc = read_values(cfg, &values);
    if (rc)
        return rc;
    if (json) {
        cJSON *v = value_json(&values.v[def->id]);
        if (!v) {
            fprintf(stderr, "retraind params: out of memory\n");
            return RT_EXIT_FAIL;
        }
        return rt_cli_print_json(v);
    }
    printf("%s\n", values.v[def->id].text);
    return RT_EXIT_OK;
}

/* set (text) or reset (text NULL); --json prints {"name", "value", "applied"}. */
static int cmd_write(const struct rt_config *cfg, const char *name, const char *text, bool json)
{
    const struct rt_param_def *def = find(name);
    if (!def)
        return RT_EXIT_USAGE;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_report_params_write(cfg, def->id, text, &err);
    if (rc == RT_EINVAL) {
        fprintf(stderr, "retraind params: refused: %s\n", err.msg[0] ? err.msg : "invalid value");
        return RT_EXIT_USAGE;
    }
    if (rc) {
        char msg[800];
        if (!err.code)
            rt_error_set(&err, rc, "%s", rt_strerror(rc));
        fprintf(stderr, "retraind params: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_FAIL;
    }
    bool poked = rt_daemon_poke(cfg->data_dir) == 0;
    if (json) {
        struct rt_param_set values;
        rc = read_values(cfg, &values);
        if (rc)
            return rc;
        cJSON *o = cJSON_CreateObject();
        cJSON *v = value_json(&values.v[def->id]);
        if (!o || !v) {
            cJSON_Delete(o);
            cJSON_Delete(v);
            fprintf(stderr, "retraind params: out of memory\n");
            return RT_EXIT_FAIL;
        }
        cJSON_AddStringToObject(o, "name", def->name);
        cJSON_AddItemToObject(o, "value", v);
        cJSON_AddStringToObject(o, "source", rt_param_source_name(values.v[def->id].source));
        cJSON_AddStringToObject(o, "applied", poked ? "now" : "at the next start");
        return rt_cli_print_json(o);
    }
    const char *later = poked ? "" : " (no daemon answered; it applies at the next start)";
    if (text)
        printf("%s = %s%s\n", def->name, text, later);
    else
        printf("%s reset to %s%s\n", def->name, cfg->parameters.defaults.v[def->id].text, later);
    return RT_EXIT_OK;
}

int rt_cmd_params(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT("json", 0, false), RT_OPT_END};
    struct rt_cli_args a;
    int rc = rt_cli_parse("params", argc, argv, 2, opts, &a);
    if (rc)
        return rc;
    static const struct {
        const char *verb;
        int words;
    } verbs[] = {{"list", 1}, {"get", 2}, {"set", 3}, {"reset", 2}};
    int want = -1;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (a.n_words && strcmp(a.words[0], verbs[i].verb) == 0 && a.n_words == verbs[i].words)
            want = (int)i;
    if (want < 0) {
        fputs(usage, stderr);
        return RT_EXIT_USAGE;
    }
    struct rt_config *cfg;
    if ((rc = rt_cli_load_config("params", opts, &cfg)))
        return rc;
    bool json = opts[1].present;
    switch (want) {
    case 0:
        rc = cmd_list(cfg, json);
        break;
    case 1:
        rc = cmd_get(cfg, a.words[1], json);
        break;
    case 2:
        rc = cmd_write(cfg, a.words[1], a.words[2], json);
        break;
    default:
        rc = cmd_write(cfg, a.words[1], NULL, json);
        break;
    }
    rt_config_destroy(cfg);
    return rc;
}
