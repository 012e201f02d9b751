/*
 * cli.h - shared pieces of the command-line tool: argument parsing and the command entry points.
 *
 * Each command lives in cmd_<name>.c and has the signature rt_cmd_fn. It returns the process
 * exit code: 0 ok, 1 runtime failure, 2 usage or config error.
 */
#ifndef RETRAIND_CLI_H
#define RETRAIND_CLI_H

#include <stdbool.h>

#define RT_EXIT_OK 0
#define RT_EXIT_FAIL 1
#define RT_EXIT_USAGE 2

/* One option a command accepts. Options may appear before or after the command's words;
 * "--" ends options, and a negative number ("-0.1") is a word, not an option.
 * "--name=value" and "--name value" are the same. */
struct rt_cli_opt {
    const char *long_name; /* "config" */
    char short_name;       /* 'c' or 0 */
    bool takes_value;
    /* filled by rt_cli_parse: */
    bool present;
    const char *value; /* borrowed from argv */
};

/* Table entries: RT_OPT("config", 'c', true), ..., RT_OPT_END. */
#define RT_OPT(l, s, v)                                                                            \
    {                                                                                              \
        .long_name = (l), .short_name = (s), .takes_value = (v)                                    \
    }
#define RT_OPT_END                                                                                 \
    {                                                                                              \
        .long_name = NULL                                                                          \
    }

struct rt_cli_args {
    const char *words[16]; /* positional words after the command name, borrowed from argv */
    int n_words;
};

/*
 * Parses argv[first..argc) against opts (terminated by an entry with long_name NULL).
 * Returns: 0, or RT_EXIT_USAGE after printing "retraind <cmd>: <problem>" to stderr.
 */
int rt_cli_parse(const char *cmd,
                 int argc,
                 char **argv,
                 int first,
                 struct rt_cli_opt *opts,
                 struct rt_cli_args *args);
/* Returns: true if a reads as a negative decimal number ("-1", "-0.1", "-.5", "-1e3"), which
 * rt_cli_parse takes as a word, never as an option. */
bool rt_cli_is_negative_number(const char *a);
/* Returns: the option named long_name (it must exist in opts). */
struct rt_cli_opt *rt_cli_opt(struct rt_cli_opt *opts, const char *long_name);

struct rt_config;
/*
 * Loads the config named by the "config" option (-c). Prints the problem ("file:line:col:
 * message" for config errors) and returns RT_EXIT_USAGE when -c is missing or the config is
 * invalid. Returns: 0 and *out (caller frees with rt_config_destroy).
 */
int rt_cli_load_config(const char *cmd, struct rt_cli_opt *opts, struct rt_config **out);
/* Prints obj as JSON on stdout (pretty) followed by a newline, and frees it. Returns: 0 or 1. */
int rt_cli_print_json(void *obj);

typedef int rt_cmd_fn(int argc, char **argv);

rt_cmd_fn rt_cmd_run;
rt_cmd_fn rt_cmd_check_config;
rt_cmd_fn rt_cmd_status;
rt_cmd_fn rt_cmd_params;
rt_cmd_fn rt_cmd_trigger;
rt_cmd_fn rt_cmd_history;
rt_cmd_fn rt_cmd_review;
rt_cmd_fn rt_cmd_label_job;
rt_cmd_fn rt_cmd_bootstrap;
rt_cmd_fn rt_cmd_doctor;
rt_cmd_fn rt_cmd_sign;
rt_cmd_fn rt_cmd_passwd;

#endif
