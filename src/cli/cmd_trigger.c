/*
 * cmd_trigger.c - `retraind trigger training|sampling -c FILE`: asks the daemon to run a
 * workflow now. The request is recorded in the journal (so it survives a daemon that is not
 * running yet) and the daemon is poked to take it at once.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/daemon.h"
#include "retraind/journal.h"

int rt_cmd_trigger(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT_END};
    struct rt_cli_args a;
    int rc = rt_cli_parse("trigger", argc, argv, 2, opts, &a);
    if (rc)
        return rc;
    if (a.n_words != 1 || (strcmp(a.words[0], "training") && strcmp(a.words[0], "sampling"))) {
        fprintf(stderr, "usage: retraind trigger training|sampling -c FILE\n");
        return RT_EXIT_USAGE;
    }
    if (strcmp(a.words[0], "sampling") == 0) {
        fprintf(stderr, "retraind trigger: the sampling workflow is not built yet\n");
        return RT_EXIT_FAIL;
    }
    struct rt_config *cfg;
    if ((rc = rt_cli_load_config("trigger", opts, &cfg)))
        return rc;
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_journal *j = NULL;
    rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READWRITE, &j, &err);
    if (!rc)
        rc = rt_journal_request_add(j, a.words[0], rt_now_ms());
    if (j)
        rt_journal_close(j);
    if (rc) {
        char msg[800];
        if (!err.code)
            rt_error_set(&err, rc, "%s", rt_strerror(rc));
        fprintf(stderr, "retraind trigger: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        rt_config_destroy(cfg);
        return RT_EXIT_FAIL;
    }
    bool poked = rt_daemon_poke(cfg->data_dir) == 0;
    printf("%s requested%s\n", a.words[0],
           poked ? "" : " (no daemon answered; it runs when the daemon starts)");
    rt_config_destroy(cfg);
    return RT_EXIT_OK;
}
