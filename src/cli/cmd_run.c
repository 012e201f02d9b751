/*
 * cmd_run.c - `retraind run -c FILE`: the daemon.
 */
#include <stdio.h>

#include "cli.h"
#include "retraind/daemon.h"

int rt_cmd_run(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT_END};
    struct rt_cli_args args;
    int rc = rt_cli_parse("run", argc, argv, 2, opts, &args);
    if (rc)
        return rc;
    if (!opts[0].present || args.n_words) {
        fprintf(stderr, "usage: retraind run -c FILE\n");
        return RT_EXIT_USAGE;
    }
    return rt_daemon_run(opts[0].value);
}
