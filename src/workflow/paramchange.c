/*
 * paramchange.c - the parameter-change workflow (DESIGN.md "Workflows"):
 *
 *   APPLY -> DONE   (or FAILED)
 *
 * One execution per changed parameter. APPLY asks the daemon to re-arm what the parameter
 * affects (the poll timer, enabling or disabling work), then ends the execution in the
 * transaction that records the value as applied and puts the notification for people (name, old
 * and new value) in the outbox, as the reference solution mails on every parameter update. So a
 * change is announced exactly once, even across a crash: until that transaction commits the
 * daemon still sees the change as not applied, and after it nothing announces it again.
 */
#include <string.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/log.h"

enum { S_APPLY, S_DONE, S_FAILED, S_COUNT };

struct applied {
    const char *name, *value;
};

static int tx_applied(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)x;
    const struct applied *a = ud;
    char key[128];
    rt_snprintf(key, sizeof(key), "%s%s", RT_STATE_PARAM_APPLIED, a->name);
    return rt_jbatch_state_set(b, key, a->value);
}

static void step_apply(struct rt_exec *x)
{
    const char *name = rt__ctx_str(x, "name");
    const char *old_text = rt__ctx_str(x, "old");
    const char *new_text = rt__ctx_str(x, "new");
    const struct rt_param_def *def = name ? rt_param_def_by_name(name) : NULL;
    if (!def || !new_text) {
        rt__exec_finish(x, S_FAILED, NULL, "the change names no known parameter", NULL, NULL);
        return;
    }
    struct rt_machine *m = x->m;
    if (m->env.apply_param)
        m->env.apply_param(m->env.ud, def->id);
    RT_LOG(RT_LOG_NOTICE, "params", "event=param_changed exec=%s name=%s from=%s to=%s", x->id,
           def->name, rt_q(old_text), rt_q(new_text));
    struct rt_event ev = {.kind = RT_EV_PARAM_CHANGED,
                          .param = def->name,
                          .old_value = old_text,
                          .new_value = new_text};
    rt__exec_notify(x, &ev);
    cJSON *out = cJSON_CreateObject();
    if (!cJSON_AddStringToObject(out, "name", def->name) ||
        (old_text && !cJSON_AddStringToObject(out, "old", old_text)) ||
        !cJSON_AddStringToObject(out, "new", new_text)) {
        /* Out of memory: record no output rather than a part of it (the input has it all). */
        cJSON_Delete(out);
        out = NULL;
    }
    struct applied a = {def->name, new_text};
    rt__exec_finish(x, S_DONE, out, NULL, tx_applied, &a);
}

static const struct rt_state_def states[S_COUNT] = {
    [S_APPLY] = {"APPLY", step_apply, false, {S_DONE, S_FAILED, -1}},
    [S_DONE] = {"DONE", NULL, true, {-1}},
    [S_FAILED] = {"FAILED", NULL, true, {-1}},
};

const struct rt_workflow_def rt__param_def = {
    .name = "parameter",
    .id_prefix = "pc",
    .states = states,
    .n_states = S_COUNT,
    .initial = S_APPLY,
    .failed = S_FAILED,
};

int rt_machine_param_changed(struct rt_machine *m,
                             enum rt_param_id id,
                             const char *old_text,
                             const char *new_text)
{
    const struct rt_param_def *def = rt_param_def_by_id(id);
    if (!def || !new_text)
        return RT_EINVAL;
    cJSON *in = cJSON_CreateObject();
    if (!in)
        return RT_ENOMEM;
    /* Every member or none: a change without its name or value would run and end FAILED. */
    bool ok = cJSON_AddStringToObject(in, "name", def->name) &&
              (!old_text || cJSON_AddStringToObject(in, "old", old_text)) &&
              cJSON_AddStringToObject(in, "new", new_text);
    char *input = ok ? cJSON_PrintUnformatted(in) : NULL;
    if (!input) {
        cJSON_Delete(in);
        return RT_ENOMEM;
    }
    int rc = 0;
    struct rt_exec *x = rt__exec_start(m, &rt__param_def, input, &rc);
    cJSON_free(input);
    if (!x) {
        cJSON_Delete(in);
        return rc;
    }
    cJSON_Delete(x->ctx);
    x->ctx = in; /* the step reads name, old and new from its context */
    return 0;
}
