/*
 * cmd_check_config.c - `retraind check-config -c FILE`: validates a config file.
 *
 * Prints "FILE: ok" and exits 0, or prints the parser's "file:line:col: message" on stderr and
 * exits 2 (a config error, DESIGN.md's exit codes). The config is loaded exactly as `run` loads
 * it and checks its drivers against the same registry, so a file that passes here starts the
 * daemon as far as the config is concerned.
 */
#include <stdio.h>

#include "cli.h"
#include "retraind/config.h"
#include "retraind/error.h"
#include "retraind/registry.h"

int rt_cmd_check_config(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {
        {.long_name = "config", .short_name = 'c', .takes_value = true},
        {.long_name = NULL},
    };
    struct rt_cli_args args;
    if (rt_cli_parse("check-config", argc, argv, 2, opts, &args) != 0)
        return RT_EXIT_USAGE;
    if (args.n_words > 0) {
        fprintf(stderr,
                "retraind check-config: unexpected argument \"%s\" "
                "(usage: retraind check-config -c FILE)\n",
                args.words[0]);
        return RT_EXIT_USAGE;
    }
    const struct rt_cli_opt *cfg_opt = rt_cli_opt(opts, "config");
    if (!cfg_opt->present || !cfg_opt->value || !cfg_opt->value[0]) {
        fprintf(stderr, "retraind check-config: missing -c FILE "
                        "(usage: retraind check-config -c FILE)\n");
        return RT_EXIT_USAGE;
    }
    struct rt_config *cfg = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    if (rt_config_load(cfg_opt->value, &cfg, &err) != 0 || rt_registry_check(cfg, &err) != 0) {
        rt_config_destroy(cfg);
        char text[1024];
        fprintf(stderr, "%s\n", rt_error_format(&err, text, sizeof(text)));
        return RT_EXIT_USAGE;
    }
    rt_config_destroy(cfg);
    printf("%s: ok\n", cfg_opt->value);
    return RT_EXIT_OK;
}
