/*
 * common.c - config loading and JSON printing shared by the commands.
 */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "retraind/config.h"
#include "retraind/registry.h"

int rt_cli_load_config(const char *cmd, struct rt_cli_opt *opts, struct rt_config **out)
{
    struct rt_cli_opt *c = rt_cli_opt(opts, "config");
    if (!c || !c->present) {
        fprintf(stderr, "retraind %s: -c FILE is required (the config file)\n", cmd);
        return RT_EXIT_USAGE;
    }
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_config_load(c->value, out, &err) != 0) {
        char msg[1024];
        fprintf(stderr, "%s\n", rt_error_format(&err, msg, sizeof(msg)));
        return RT_EXIT_USAGE;
    }
    /* The drivers a config names must be built: every command checks as the daemon does. */
    if (rt_registry_check(*out, &err) != 0) {
        char msg[1024];
        fprintf(stderr, "%s\n", rt_error_format(&err, msg, sizeof(msg)));
        rt_config_destroy(*out);
        *out = NULL;
        return RT_EXIT_USAGE;
    }
    return 0;
}

int rt_cli_print_json(void *obj)
{
    char *text = cJSON_Print(obj);
    cJSON_Delete(obj);
    if (!text) {
        fprintf(stderr, "retraind: out of memory\n");
        return RT_EXIT_FAIL;
    }
    printf("%s\n", text);
    cJSON_free(text);
    return RT_EXIT_OK;
}
