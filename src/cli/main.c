/*
 * main.c - the retraind command: dispatches to one cmd_<name>.c per command.
 *
 * Design: the help lists the commands that work apart from the ones DESIGN.md names but that are
 * not built yet, so a new user never learns of a command from --help only to be told it does not
 * exist. Commands other than `run` print their output and their own errors only: library log
 * lines (journal migrations, store notices) are kept back unless RETRAIND_LOG_LEVEL asks for them.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "retraind/log.h"

static const struct {
    const char *name;
    rt_cmd_fn *fn;
    bool built;
    bool own_help;       /* the command answers --help itself */
    const char *usage;   /* what follows "retraind " */
    const char *summary; /* one line */
} commands[] = {
    {"run", rt_cmd_run, true, false, "run -c FILE", "run the daemon"},
    {"check-config", rt_cmd_check_config, true, false, "check-config -c FILE",
     "validate a config file (exit 0 ok, 2 with file:line:col: problem)"},
    {"status", rt_cmd_status, true, false, "status -c FILE [--json]",
     "parameters, images per label, active model, work in flight"},
    {"params", rt_cmd_params, true, false,
     "params list|get NAME|set NAME VALUE|reset NAME -c FILE [--json]",
     "show the runtime parameters, or change one"},
    {"trigger", rt_cmd_trigger, true, false, "trigger training|sampling -c FILE",
     "run the training check (or a round of audit sampling) now"},
    {"history", rt_cmd_history, true, false,
     "history [EXECUTION] -c FILE [--json] [--limit N] [--workflow W] [--state S]",
     "workflow executions, newest first, or one with its steps"},
    {"sign", rt_cmd_sign, true, true,
     "sign --region R --service S [--time YYYYMMDDTHHMMSSZ] [--access-key K --secret-key S]\n"
     "       [--session-token T] [--s3] [--no-normalize] [--presign SECONDS] [--verbose]\n"
     "       < raw-request",
     "print a raw HTTP request from stdin signed with AWS SigV4"},
    {"review", rt_cmd_review, true, false,
     "review list -c FILE [--json] [--state open|answered] [--source S] [--limit N]\n"
     "       review answer TASK LABEL -c FILE [--as NAME]",
     "list the human review tasks, or answer one (as cli:<user> unless --as)"},
    {"label-job", rt_cmd_label_job, true, false,
     "label-job create -c FILE --name N --prefix P --labels A,B[,..] --instructions TEXT\n"
     "           [--good-example KEY [--good-text T]] [--bad-example KEY [--bad-text T]]\n"
     "           [--workers-per-image K] [--max-workers M] [--min-confidence C]\n"
     "           [--output-prefix P] [--fold] [--verify] [--auto-label [--target-accuracy A]]\n"
     "       label-job status NAME -c FILE [--json]\n"
     "       label-job list -c FILE [--json]",
     "label images with several people per image (cold start), or verify labels people have"},
    {"bootstrap", rt_cmd_bootstrap, true, false, "bootstrap -c FILE [--labels a,b]",
     "create what the config names and is missing (store prefixes, parameters, AWS resources)"},
    {"passwd", rt_cmd_passwd, true, false, "passwd < PASSWORD  (or asks twice at a terminal)",
     "print the argon2id hash of a password, for review.users[].password_hash"},
    {"doctor", rt_cmd_doctor, true, false, "doctor -c FILE",
     "check a setup and say what is wrong: a checklist with a fix per failed line"},
};

#define N_COMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
    fprintf(out,
            "usage: retraind COMMAND [options]\n\n"
            "retraind keeps an image-classification model improving by itself.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (commands[i].built)
            fprintf(out, "  %s\n        %s\n", commands[i].usage, commands[i].summary);
    bool header = false; /* a command not built yet is listed apart, and says so when run */
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (commands[i].built)
            continue;
        if (!header)
            fprintf(out, "\nnot built yet (these say so and exit 1):\n");
        header = true;
        fprintf(out, "  %-48s %s\n", commands[i].usage, commands[i].summary);
    }
    fprintf(out,
            "\noptions:\n"
            "  -c FILE, --config FILE   the config file (every command except sign)\n"
            "  --json                   machine-readable output (status, params, history,\n"
            "                           review list)\n"
            "  --                       ends options; a negative number is a value anyway\n"
            "                           (params set Minimum-F1-Score -0.1 is refused, exit 2)\n"
            "  COMMAND --help           the usage of one command\n"
            "  --version                print the version\n"
            "  --help                   print this help\n"
            "\nenvironment:\n"
            "  RETRAIND_LOG_LEVEL=err|warning|notice|info|debug\n"
            "                           which log lines reach stderr for every command except\n"
            "                           run (default err: output and errors only); run takes\n"
            "                           its level from the config (log.level)\n"
            "\nExit codes: 0 ok, 1 runtime failure, 2 usage or config error.\n");
}

/* Returns: true if argv[2..] asks for help before any "--". */
static bool wants_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            return false;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    }
    return false;
}

/*
 * Library log lines go to stderr; a read command must print only its output and its errors, so
 * every command except the daemon logs at err unless RETRAIND_LOG_LEVEL says otherwise.
 * Returns: 0, or RT_EXIT_USAGE after saying what is wrong with RETRAIND_LOG_LEVEL.
 */
static int set_cli_log_level(void)
{
    enum rt_log_level level = RT_LOG_ERR;
    const char *env = getenv("RETRAIND_LOG_LEVEL");
    if (env && *env && rt_log_level_parse(env, &level) != 0) {
        fprintf(stderr,
                "retraind: RETRAIND_LOG_LEVEL=%s is not a log level "
                "(err, warning, notice, info or debug)\n",
                env);
        return RT_EXIT_USAGE;
    }
    rt_log_set_level(level);
    return 0;
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
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) != 0)
            continue;
        if (!commands[i].own_help && wants_help(argc, argv)) {
            printf("usage: retraind %s\n  %s%s\n", commands[i].usage, commands[i].summary,
                   commands[i].built ? "" : " (not built yet)");
            return RT_EXIT_OK;
        }
        if (strcmp(argv[1], "run") != 0) {
            int rc = set_cli_log_level();
            if (rc)
                return rc;
        }
        return commands[i].fn(argc, argv);
    }
    fprintf(stderr, "retraind: unknown command \"%s\" (see retraind --help)\n", argv[1]);
    return RT_EXIT_USAGE;
}
