/*
 * params.c - the parameter set as stored in the journal, over the configured defaults.
 *
 * The local driver's read (local.c). A stored
 * value is text exactly as it was set; it is parsed again on every read so a value that a newer
 * table refuses (say, a bound was tightened) falls back to the default with a warning instead of
 * stopping the daemon.
 */
#include "retraind/params.h"

#include "retraind/journal.h"
#include "retraind/log.h"

int rt_params_read_journal(struct rt_journal *j,
                           const struct rt_param_set *defaults,
                           struct rt_param_set *out)
{
    struct rt_param_set set;
    if (defaults)
        set = *defaults;
    else
        rt_param_set_defaults(&set);
    if (!j) {
        *out = set;
        return 0;
    }
    for (int i = 0; i < RT_P_COUNT; i++) {
        const struct rt_param_def *def = rt_param_def_by_id((enum rt_param_id)i);
        char text[64];
        int rc = rt_journal_param_get(j, def->name, text, sizeof(text));
        if (rc == RT_ENOTFOUND)
            continue;
        if (rc == RT_ETOOBIG) {
            RT_LOG(RT_LOG_WARNING, "params", "event=stored_value_refused name=%s error=%s",
                   def->name, rt_q("stored value is too long; using the default"));
            continue;
        }
        if (rc)
            return rc;
        struct rt_error err;
        rt_error_clear(&err);
        struct rt_param_value v;
        if (rt_param_parse(def, text, &v, &err) != 0) {
            RT_LOG(RT_LOG_WARNING, "params",
                   "event=stored_value_refused name=%s value=%s default=%s error=%s", def->name,
                   rt_q(text), rt_q(set.v[i].text), rt_q(err.msg));
            continue;
        }
        v.source = RT_PSRC_SET;
        set.v[i] = v;
    }
    *out = set;
    return 0;
}
