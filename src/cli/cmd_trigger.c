/*
 * cmd_trigger.c - `retraind trigger training|sampling -c FILE`: asks the daemon to run a
 * workflow now, and says what will happen: the check runs now (a daemon answered), when the
 * daemon starts (none did; the request waits in the journal), or not at all because a training
 * is already in flight (then nothing is recorded: the daemon would ignore it).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "retraind/clock.h"
#include "retraind/config.h"
#include "retraind/daemon.h"
#include "retraind/journal.h"

struct in_flight {
    char id[64], state[32];
    int n;
};

static int note_in_flight(const struct rt_journal_exec *e, void *ud)
{
    struct in_flight *f = ud;
    snprintf(f->id, sizeof(f->id), "%s", e->id);
    snprintf(f->state, sizeof(f->state), "%s", e->state);
    f->n++;
    return 1;
}

/* Returns: 1 and f filled when a training is in flight, 0 when none is, or -1 on error. */
static int training_in_flight(const struct rt_config *cfg, struct in_flight *f)
{
    struct rt_journal *j = NULL;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_journal_open(cfg->data_dir, RT_JOURNAL_READONLY, &j, &err);
    if (rc == RT_ENOTFOUND)
        return 0;
    if (rc) {
        char msg[800];
        fprintf(stderr, "retraind trigger: %s\n", rt_error_format(&err, msg, sizeof(msg)));
        return -1;
    }
    struct rt_journal_exec_filter filter = {
        .workflow = "training", .unfinished_only = true, .limit = 1};
    rc = rt_journal_exec_list(j, &filter, note_in_flight, f);
    rt_journal_close(j);
    if (rc < 0 && f->n == 0) {
        fprintf(stderr, "retraind trigger: cannot read the journal: %s\n", rt_strerror(rc));
        return -1;
    }
    return f->n > 0;
}

int rt_cmd_trigger(int argc, char **argv)
{
    struct rt_cli_opt opts[] = {RT_OPT("config", 'c', true), RT_OPT_END};
    struct rt_cli_args a;
    int rc = rt_cli_parse("trigger", argc, argv, 2, opts, &a);
    if (rc)
        return rc;
    if (a.n_words != 1) {
        fprintf(stderr, "usage: retraind trigger training|sampling -c FILE\n");
        return RT_EXIT_USAGE;
    }
    bool sampling = strcmp(a.words[0], "sampling") == 0;
    if (!sampling && strcmp(a.words[0], "training") != 0) {
        fprintf(stderr, "retraind trigger: unknown workflow \"%s\" (known: training, sampling)\n",
                a.words[0]);
        return RT_EXIT_USAGE;
    }
    struct rt_config *cfg;
    if ((rc = rt_cli_load_config("trigger", opts, &cfg)))
        return rc;
    struct in_flight f = {0};
    int busy = sampling ? 0 : training_in_flight(cfg, &f);
    if (busy < 0) {
        rt_config_destroy(cfg);
        return RT_EXIT_FAIL;
    }
    if (busy) {
        printf("a training is already in flight (%s, in %s): no new check starts until it "
               "ends\n",
               f.id, f.state);
        rt_config_destroy(cfg);
        return RT_EXIT_OK;
    }
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
    const char *what = sampling ? "sampling round" : "training check";
    if (rt_daemon_poke(cfg->data_dir) == 0)
        printf("%s requested: the daemon runs it now (see retraind history)\n", what);
    else
        printf("%s requested: no daemon answered; it runs when the daemon starts\n", what);
    rt_config_destroy(cfg);
    return RT_EXIT_OK;
}
