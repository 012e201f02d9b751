/* cmd_params.c - placeholder until the command is built: says so and exits 1. */
#include <stdio.h>

#include "cli.h"

int rt_cmd_params(int argc, char **argv)
{
    (void)argc;
    fprintf(stderr, "retraind %s: not built yet\n", argv[1]);
    return RT_EXIT_FAIL;
}
