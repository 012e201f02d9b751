/*
 * main.c - the retraind command: dispatches to one cmd_<name>.c per command.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const struct {
    const char *name;
    rt_cmd_fn *fn;
    const char *summary;
} commands[] = {
    {"run", rt_cmd_run, "run -c FILE                 run the daemon"},
    {"check-config", rt_cmd_check_config,
     "check-config -c FILE        validate a config file (exit 0 or 2)"},
    {"status", rt_cmd_status,
     "status -c FILE [--json]     parameters, images, active model, work in flight"},
    {"params", rt_cmd_params, "params list|get NAME|set NAME VALUE -c FILE [--json]"},
    {"trigger", rt_cmd_trigger, "trigger training|sampling -c FILE"},
    {"history", rt_cmd_history,
     "history [EXECUTION] -c FILE [--json] [--limit N] [--workflow W] [--state S]"},
    {"review", rt_cmd_review, "review list|answer TASK LABEL -c FILE [--json]"},
    {"label-job", rt_cmd_label_job, "label-job create|status -c FILE"},
    {"bootstrap", rt_cmd_bootstrap,
     "bootstrap -c FILE           create the AWS resources a config names"},
    {"sign", rt_cmd_sign,
     "sign --region R --service S [--time T] [--access-key K --secret-key S]\n"
     "     [--session-token T] [--s3] [--no-normalize] [--verbose] < request"},
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: retraind COMMAND [options]\n\n"
            "retraind keeps an image-classification model improving by itself.\n\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(out, "  %s\n", commands[i].summary);
    fprintf(out, "\n  --version                   print the version\n"
                 "  --help                      print this help\n\n"
                 "Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return RT_EXIT_USAGE;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("retraind %s\n", RETRAIND_VERSION);
        return RT_EXIT_OK;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return RT_EXIT_OK;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc, argv);
    fprintf(stderr, "retraind: unknown command \"%s\" (see retraind --help)\n", argv[1]);
    return RT_EXIT_USAGE;
}
