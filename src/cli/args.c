/*
 * args.c - option parsing shared by every command (options before or after words, "--" ends).
 *
 * An argument that reads as a negative number ("-1", "-0.1", "-.5", "-1e3") is a word, not an
 * option: no command has digit short options, and `params set NAME -0.1` must reach the
 * parameter's own validation (which names the parameter and its range) rather than fail here.
 */
#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

struct rt_cli_opt *rt_cli_opt(struct rt_cli_opt *opts, const char *long_name)
{
    for (struct rt_cli_opt *o = opts; o->long_name; o++)
        if (strcmp(o->long_name, long_name) == 0)
            return o;
    return NULL;
}

static struct rt_cli_opt *find_long(struct rt_cli_opt *opts, const char *name, size_t len)
{
    for (struct rt_cli_opt *o = opts; o->long_name; o++)
        if (strlen(o->long_name) == len && strncmp(o->long_name, name, len) == 0)
            return o;
    return NULL;
}

bool rt_cli_is_negative_number(const char *a)
{
    if (a[0] != '-')
        return false;
    const unsigned char *p = (const unsigned char *)a + 1;
    int digits = 0;
    while (isdigit(*p)) {
        p++;
        digits++;
    }
    if (*p == '.') {
        p++;
        while (isdigit(*p)) {
            p++;
            digits++;
        }
    }
    if (digits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        p++;
        if (*p == '+' || *p == '-')
            p++;
        if (!isdigit(*p))
            return false;
        while (isdigit(*p))
            p++;
    }
    return *p == '\0';
}

int rt_cli_parse(const char *cmd,
                 int argc,
                 char **argv,
                 int first,
                 struct rt_cli_opt *opts,
                 struct rt_cli_args *args)
{
    bool only_words = false;
    args->n_words = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (!only_words && strcmp(a, "--") == 0) {
            only_words = true;
            continue;
        }
        if (!only_words && a[0] == '-' && a[1] != '\0' && !rt_cli_is_negative_number(a)) {
            struct rt_cli_opt *o = NULL;
            const char *inline_value = NULL;
            if (a[1] == '-') {
                const char *name = a + 2;
                const char *eq = strchr(name, '=');
                size_t len = eq ? (size_t)(eq - name) : strlen(name);
                o = find_long(opts, name, len);
                if (eq)
                    inline_value = eq + 1;
            } else if (a[2] == '\0') {
                for (struct rt_cli_opt *s = opts; s->long_name; s++)
                    if (s->short_name == a[1])
                        o = s;
            }
            if (!o) {
                fprintf(stderr, "retraind %s: unknown option %s (see retraind --help)\n", cmd, a);
                return RT_EXIT_USAGE;
            }
            if (o->takes_value) {
                if (inline_value) {
                    o->value = inline_value;
                } else if (i + 1 < argc) {
                    o->value = argv[++i];
                } else {
                    fprintf(stderr, "retraind %s: option %s needs a value\n", cmd, a);
                    return RT_EXIT_USAGE;
                }
            } else if (inline_value) {
                fprintf(stderr, "retraind %s: option --%s takes no value\n", cmd, o->long_name);
                return RT_EXIT_USAGE;
            }
            o->present = true;
            continue;
        }
        if (args->n_words >= (int)(sizeof(args->words) / sizeof(args->words[0]))) {
            fprintf(stderr, "retraind %s: too many arguments\n", cmd);
            return RT_EXIT_USAGE;
        }
        args->words[args->n_words++] = a;
    }
    return 0;
}
