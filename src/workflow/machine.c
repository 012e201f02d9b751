/*
 * machine.c - runs persisted workflow executions: one step at a time, each transition written
 * to the journal in one transaction before the next step starts.
 *
 * Design: every execution owns a uv_timer_t. A step never runs from inside the call that
 * scheduled it: the machine arms the timer (0 ms for "now", the poll period for a wait), and the
 * timer callback runs the step. That keeps the loop fair, makes shutdown simple (stop the timers,
 * let outstanding driver callbacks land and persist), and gives each execution one place where
 * it can be cancelled. After a crash the journal holds the state each execution last entered;
 * rt_machine_resume schedules that state's step again, and because steps are idempotent the
 * repeated work finds what it already did.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/clock.h"
#include "retraind/journal.h"
#include "retraind/log.h"

/* A journal write that fails (disk full, locked past the busy timeout) is retried after this. */
#define PERSIST_RETRY_MS 5000

static const struct rt_workflow_def *const workflows[] = {&rt__training_def};

/*
 * Crash injection for the crash-recovery tests: RETRAIND_CRASH_AT="after:STATE" kills the process
 * with SIGKILL once STATE's step has done its work but before the transition is written;
 * "enter:STATE" right after entering STATE is written (before its step runs). Read once.
 */
static void crash_point(const char *when, const char *state)
{
    static const char *spec;
    static bool loaded;
    if (!loaded) {
        spec = getenv("RETRAIND_CRASH_AT");
        loaded = true;
    }
    if (!spec)
        return;
    size_t n = strlen(when);
    if (strncmp(spec, when, n) == 0 && spec[n] == ':' && strcmp(spec + n + 1, state) == 0) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=crash_injected at=%s:%s", when, state);
        raise(SIGKILL);
    }
}

int rt__state_index(const struct rt_workflow_def *def, const char *name)
{
    for (int i = 0; i < def->n_states; i++)
        if (strcmp(def->states[i].name, name) == 0)
            return i;
    return -1;
}

static const struct rt_workflow_def *find_def(const char *name)
{
    for (size_t i = 0; i < sizeof(workflows) / sizeof(workflows[0]); i++)
        if (strcmp(workflows[i]->name, name) == 0)
            return workflows[i];
    return NULL;
}

int rt_machine_new(const struct rt_workflow_env *env, struct rt_machine **out)
{
    struct rt_machine *m = rt_calloc(1, sizeof(*m));
    if (!m)
        return RT_ENOMEM;
    m->env = *env;
    *out = m;
    return 0;
}

int rt_machine_in_flight(struct rt_machine *m)
{
    int n = 0;
    for (struct rt_exec *x = m->execs; x; x = x->next)
        if (!x->done)
            n++;
    return n;
}

static void maybe_finish_close(struct rt_machine *m)
{
    if (!m->closing || m->execs)
        return;
    void (*cb)(void *) = m->close_cb;
    void *ud = m->close_ud;
    rt_free(m);
    if (cb)
        cb(ud);
}

static void exec_closed(uv_handle_t *h)
{
    struct rt_exec *x = h->data;
    struct rt_machine *m = x->m;
    for (struct rt_exec **p = &m->execs; *p; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    cJSON_Delete(x->ctx);
    rt_free(x);
    maybe_finish_close(m);
}

/* Releases x once no step work is outstanding. */
static void exec_release(struct rt_exec *x)
{
    x->done = true;
    if (x->step_running || uv_is_closing((uv_handle_t *)&x->timer))
        return;
    uv_timer_stop(&x->timer);
    uv_close((uv_handle_t *)&x->timer, exec_closed);
}

static void run_step(uv_timer_t *t)
{
    struct rt_exec *x = t->data;
    if (x->m->closing || x->done) {
        exec_release(x);
        return;
    }
    const struct rt_state_def *s = &x->def->states[x->state];
    if (!s->step) {
        exec_release(x);
        return;
    }
    x->step_running = true;
    RT_LOG(RT_LOG_DEBUG, "workflow", "event=step_run exec=%s state=%s", x->id, s->name);
    s->step(x);
}

static void schedule(struct rt_exec *x, int64_t delay_ms)
{
    uv_timer_start(&x->timer, run_step, (uint64_t)(delay_ms < 0 ? 0 : delay_ms), 0);
}

static struct rt_exec *exec_add(
    struct rt_machine *m, const struct rt_workflow_def *def, const char *id, int state, cJSON *ctx)
{
    struct rt_exec *x = rt_calloc(1, sizeof(*x));
    if (!x)
        return NULL;
    x->m = m;
    x->def = def;
    rt_strlcpy(x->id, id, sizeof(x->id));
    x->state = state;
    x->ctx = ctx ? ctx : cJSON_CreateObject();
    x->entered_mono_ms = rt_mono_ms();
    uv_timer_init(m->env.loop, &x->timer);
    x->timer.data = x;
    x->next = m->execs;
    m->execs = x;
    return x;
}

static bool transition_allowed(const struct rt_exec *x, int next)
{
    const struct rt_state_def *s = &x->def->states[x->state];
    for (int i = 0; i < RT_MAX_NEXT && s->next[i] >= 0; i++)
        if (s->next[i] == next)
            return true;
    return false;
}

/* Writes the transition; on success moves x. Returns: 0 or an error (x unchanged). */
static int
persist(struct rt_exec *x, int next, cJSON *output, const char *error, rt_tx_fn *tx, void *tx_ud)
{
    struct rt_journal *j = x->m->env.journal;
    const struct rt_state_def *to = &x->def->states[next];
    char *out_json = output ? cJSON_PrintUnformatted(output) : NULL;
    char *ctx_json = cJSON_PrintUnformatted(x->ctx);
    int rc = rt_journal_begin(j);
    if (!rc && tx)
        rc = tx(x, tx_ud);
    if (!rc)
        rc = rt_journal_exec_advance(j, x->id, out_json, error, to->name, to->terminal, ctx_json,
                                     rt_now_ms());
    if (!rc)
        rc = rt_journal_commit(j);
    else
        rt_journal_rollback(j);
    cJSON_free(out_json);
    cJSON_free(ctx_json);
    return rc;
}

static void
move(struct rt_exec *x, int next, cJSON *output, const char *error, rt_tx_fn *tx, void *tx_ud)
{
    const struct rt_state_def *from = &x->def->states[x->state];
    x->step_running = false;
    if (!transition_allowed(x, next)) {
        /* A step table bug: keep the journal as it is and stop this execution loudly. */
        RT_LOG(RT_LOG_CRIT, "workflow", "event=bad_transition exec=%s state=%s->%s", x->id,
               from->name, x->def->states[next].name);
        cJSON_Delete(output);
        exec_release(x);
        return;
    }
    crash_point("after", from->name);
    int rc = persist(x, next, output, error, tx, tx_ud);
    cJSON_Delete(output);
    if (rc) {
        RT_LOG(RT_LOG_ERR, "workflow", "event=persist_failed exec=%s state=%s->%s error=%s", x->id,
               from->name, x->def->states[next].name, rt_q(rt_strerror(rc)));
        if (!x->m->closing)
            schedule(x, PERSIST_RETRY_MS); /* steps are idempotent: redo this one */
        else
            exec_release(x);
        return;
    }
    int64_t now = rt_mono_ms();
    const struct rt_state_def *to = &x->def->states[next];
    if (error)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=step exec=%s state=%s->%s dur_ms=%lld error=%s",
               x->id, from->name, to->name, (long long)(now - x->entered_mono_ms), rt_q(error));
    else
        RT_LOG(RT_LOG_NOTICE, "workflow", "event=step exec=%s state=%s->%s dur_ms=%lld", x->id,
               from->name, to->name, (long long)(now - x->entered_mono_ms));
    if (next == x->def->failed) {
        /* Every failure reaches people, whichever step failed and why. */
        struct rt_event ev = {.kind = RT_EV_FAILED,
                              .state = from->name,
                              .error = error,
                              .version = rt__ctx_str(x, "version")};
        rt__exec_emit(x, &ev);
    }
    x->state = next;
    x->entered_mono_ms = now;
    crash_point("enter", to->name);
    if (to->terminal || x->m->closing) {
        exec_release(x);
        return;
    }
    schedule(x, 0);
}

void rt__exec_next(struct rt_exec *x, int next, cJSON *output, rt_tx_fn *tx, void *tx_ud)
{
    move(x, next, output, NULL, tx, tx_ud);
}

void rt__exec_finish(
    struct rt_exec *x, int term, cJSON *output, const char *error, rt_tx_fn *tx, void *tx_ud)
{
    move(x, term, output, error, tx, tx_ud);
}

void rt__exec_wait(struct rt_exec *x, int64_t delay_ms)
{
    x->step_running = false;
    if (x->m->closing) {
        exec_release(x);
        return;
    }
    schedule(x, delay_ms);
}

void rt__exec_emit(struct rt_exec *x, struct rt_event *ev)
{
    ev->exec_id = x->id;
    ev->workflow = x->def->name;
    if (!ev->state)
        ev->state = x->def->states[x->state].name;
    ev->at_ms = rt_now_ms();
    if (x->m->env.emit)
        x->m->env.emit(x->m->env.emit_ud, ev);
}

int rt_machine_start_training(struct rt_machine *m, const char *reason)
{
    if (m->closing)
        return RT_ECANCELED;
    const struct rt_workflow_def *def = &rt__training_def;
    for (struct rt_exec *x = m->execs; x; x = x->next)
        if (x->def == def && !x->done)
            return RT_EBUSY;
    char id[64];
    int64_t now = rt_now_ms();
    int rc = rt_journal_exec_new_id(m->env.journal, def->id_prefix, now, id, sizeof(id));
    if (rc)
        return rc;
    char input[96];
    rt_snprintf(input, sizeof(input), "{\"reason\":\"%s\"}", reason);
    rc = rt_journal_exec_create(m->env.journal, id, def->name, def->states[def->initial].name,
                                input, "{}", now);
    if (rc)
        return rc;
    struct rt_exec *x = exec_add(m, def, id, def->initial, NULL);
    if (!x)
        return RT_ENOMEM;
    RT_LOG(RT_LOG_INFO, "workflow", "event=exec_start exec=%s workflow=%s reason=%s", id, def->name,
           rt_q(reason));
    schedule(x, 0);
    return 0;
}

struct resume_ctx {
    struct rt_machine *m;
    int resumed;
    int rc;
};

static int resume_one(const struct rt_journal_exec *e, void *ud)
{
    struct resume_ctx *r = ud;
    const struct rt_workflow_def *def = find_def(e->workflow);
    int state = def ? rt__state_index(def, e->state) : -1;
    if (!def || state < 0) {
        RT_LOG(RT_LOG_ERR, "workflow",
               "event=resume_skipped exec=%s workflow=%s state=%s "
               "error=\"unknown workflow or state\"",
               e->id, rt_q(e->workflow), rt_q(e->state));
        return 0;
    }
    cJSON *ctx = e->context ? cJSON_Parse(e->context) : NULL;
    struct rt_exec *x = exec_add(r->m, def, e->id, state, ctx);
    if (!x) {
        r->rc = RT_ENOMEM;
        return 1;
    }
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=resume exec=%s workflow=%s state=%s", e->id,
           e->workflow, e->state);
    schedule(x, 0);
    r->resumed++;
    return 0;
}

int rt_machine_resume(struct rt_machine *m)
{
    struct resume_ctx r = {m, 0, 0};
    struct rt_journal_exec_filter f = {.unfinished_only = true, .limit = 100000};
    int rc = rt_journal_exec_list(m->env.journal, &f, resume_one, &r);
    return rc ? rc : r.rc;
}

void rt_machine_close(struct rt_machine *m, void (*cb)(void *ud), void *ud)
{
    m->closing = true;
    m->close_cb = cb;
    m->close_ud = ud;
    if (!m->execs) {
        maybe_finish_close(m);
        return;
    }
    /* Executions with no outstanding step are released now; the others when their step ends. */
    struct rt_exec *x = m->execs;
    while (x) {
        struct rt_exec *nx = x->next;
        if (!x->step_running)
            exec_release(x);
        x = nx;
    }
}

/* ---- context helpers ---- */

int64_t rt__ctx_int(struct rt_exec *x, const char *key, int64_t dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->ctx, key);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : dflt;
}

double rt__ctx_double(struct rt_exec *x, const char *key, double dflt)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->ctx, key);
    return cJSON_IsNumber(v) ? v->valuedouble : dflt;
}

const char *rt__ctx_str(struct rt_exec *x, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(x->ctx, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void ctx_replace(struct rt_exec *x, const char *key, cJSON *item)
{
    if (cJSON_HasObjectItem(x->ctx, key))
        cJSON_ReplaceItemInObjectCaseSensitive(x->ctx, key, item);
    else
        cJSON_AddItemToObject(x->ctx, key, item);
}

void rt__ctx_set_int(struct rt_exec *x, const char *key, int64_t v)
{
    ctx_replace(x, key, cJSON_CreateNumber((double)v));
}

void rt__ctx_set_double(struct rt_exec *x, const char *key, double v)
{
    ctx_replace(x, key, cJSON_CreateNumber(v));
}

void rt__ctx_set_str(struct rt_exec *x, const char *key, const char *v)
{
    ctx_replace(x, key, v ? cJSON_CreateString(v) : cJSON_CreateNull());
}
