/*
 * machine.c - runs persisted workflow executions: one step at a time, each transition written to
 * the journal as one batch (with the notifications it causes) before the next step starts.
 *
 * Design: every execution owns a uv_timer_t. A step never runs from inside the call that
 * scheduled it: the machine arms the timer (0 ms for "now", the poll period for a wait), and the
 * timer callback runs the step. When the step's work ends it names the next state; the machine
 * builds the batch (the step's extra writes, the new state and the step's output, the outbox rows
 * of the notifications the step raised) and submits it to the journal's writer thread, so the
 * loop never waits for an fsync. Only when the writer says the batch is durable does the
 * execution enter the new state and run on — so a notification exists exactly when its cause
 * committed, and a step whose persist failed is simply run again (steps are idempotent).
 *
 * Executions of some workflows (training checks, parameter changes) are written with their first
 * transition rather than at creation: a training check that finds what the last one found then
 * leaves no row of its own, only a higher check count on the last one.
 *
 * After a crash the journal holds the state each execution last entered; rt_machine_resume
 * schedules that state's step again. A graceful stop marks every waiting execution in its
 * context, so the step that resumes it can tell work lost to a stop (not counted against the
 * execution) from work lost to a crash.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/clock.h"
#include "retraind/journal.h"
#include "retraind/log.h"

/* A journal write that fails (disk full, locked past the busy timeout) is retried after this. */
#define PERSIST_RETRY_MS 5000
#define STOP_MARK "interrupted_by_stop"

static const struct rt_workflow_def *const workflows[] = {
    &rt__training_def, &rt__param_def, &rt__detection_def, &rt__sampling_def, &rt__labeling_def};
#define N_WORKFLOWS (sizeof(workflows) / sizeof(workflows[0]))

/*
 * Crash injection for the crash-recovery tests: RETRAIND_CRASH_AT="after:STATE" kills the process
 * with SIGKILL once STATE's step has done its work but before the transition is written;
 * "enter:STATE" right after entering STATE is durable (before its step runs). Read once.
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
    for (size_t i = 0; i < N_WORKFLOWS; i++)
        if (name && strcmp(workflows[i]->name, name) == 0)
            return workflows[i];
    return NULL;
}

const char *const *rt_workflow_names(void)
{
    static const char *names[N_WORKFLOWS + 1];
    for (size_t i = 0; i < N_WORKFLOWS; i++)
        names[i] = workflows[i]->name;
    names[N_WORKFLOWS] = NULL;
    return names;
}

bool rt_workflow_state_known(const char *workflow, const char *state)
{
    for (size_t i = 0; i < N_WORKFLOWS; i++) {
        if (workflow && strcmp(workflow, workflows[i]->name) != 0)
            continue;
        if (state && rt__state_index(workflows[i], state) >= 0)
            return true;
    }
    return false;
}

void rt_workflow_state_list(const char *workflow, char *out, size_t size)
{
    out[0] = '\0';
    for (size_t i = 0; i < N_WORKFLOWS; i++) {
        const struct rt_workflow_def *d = workflows[i];
        if (workflow && strcmp(workflow, d->name) != 0)
            continue;
        for (int k = 0; k < d->n_states; k++) {
            /* Several workflows share names (DONE, FAILED): list each once. */
            bool seen = false;
            for (size_t p = 0; p < i && !seen; p++)
                seen = !workflow && rt__state_index(workflows[p], d->states[k].name) >= 0;
            if (seen)
                continue;
            size_t len = strlen(out);
            rt_snprintf(out + len, size - len, "%s%s", len ? ", " : "", d->states[k].name);
        }
    }
}

char *rt_workflow_graph_json(void)
{
    cJSON *root = cJSON_CreateObject();
    bool ok = root != NULL;
    for (size_t i = 0; ok && i < N_WORKFLOWS; i++) {
        const struct rt_workflow_def *d = workflows[i];
        cJSON *wf = cJSON_AddObjectToObject(root, d->name);
        cJSON *states = wf ? cJSON_AddArrayToObject(wf, "states") : NULL;
        cJSON *edges = wf ? cJSON_AddArrayToObject(wf, "edges") : NULL;
        cJSON *terminal = wf ? cJSON_AddArrayToObject(wf, "terminal") : NULL;
        ok = states && edges && terminal &&
             cJSON_AddStringToObject(wf, "initial", d->states[d->initial].name) &&
             cJSON_AddStringToObject(wf, "failed", d->states[d->failed].name);
        for (int k = 0; ok && k < d->n_states; k++) {
            const struct rt_state_def *st = &d->states[k];
            cJSON *name = cJSON_CreateString(st->name);
            ok = name && cJSON_AddItemToArray(states, name);
            if (ok && st->terminal) {
                cJSON *t = cJSON_CreateString(st->name);
                ok = t && cJSON_AddItemToArray(terminal, t);
            }
            for (int e = 0; ok && e < RT_MAX_NEXT && st->next[e] >= 0; e++) {
                const char *pair[2] = {st->name, d->states[st->next[e]].name};
                cJSON *edge = cJSON_CreateStringArray(pair, 2);
                ok = edge && cJSON_AddItemToArray(edges, edge);
            }
        }
    }
    char *text = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return text;
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

static void notes_free(struct rt_exec *x)
{
    x->notes_lost = false;
    while (x->notes) {
        struct rt__note *n = x->notes;
        x->notes = n->next;
        cJSON_free(n->json);
        rt_free(n);
    }
}

static void exec_closed(uv_handle_t *h)
{
    struct rt_exec *x = h->data;
    struct rt_machine *m = x->m;
    if (x->def->on_settle)
        x->def->on_settle(x, true);
    for (struct rt_exec **p = &m->execs; *p; p = &(*p)->next) {
        if (*p == x) {
            *p = x->next;
            break;
        }
    }
    notes_free(x);
    cJSON_Delete(x->ctx);
    cJSON_Delete(x->ctx_before);
    rt_free(x->input);
    rt_free(x->pending_error);
    rt_free(x);
    maybe_finish_close(m);
}

static void exec_release(struct rt_exec *x);

static void stop_marked(int status, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    (void)err;
    x->persisting = false;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=stop_mark_failed exec=%s", x->id);
    exec_release(x);
}

/* On a graceful stop, records in the waiting execution's context that it was stopped on purpose.
 * Returns: true if a write is under way (exec_release runs again when it ends). */
static bool mark_stopped(struct rt_exec *x)
{
    if (!x->m->closing || !x->persisted || x->def->states[x->state].terminal ||
        cJSON_HasObjectItem(x->ctx, STOP_MARK))
        return false;
    cJSON_AddBoolToObject(x->ctx, STOP_MARK, true);
    char *ctx = cJSON_PrintUnformatted(x->ctx);
    struct rt_jbatch *b = NULL;
    int rc = ctx ? rt_jbatch_new(&b) : RT_ENOMEM;
    if (!rc && (rc = rt_jbatch_exec_context(b, x->id, ctx)) != 0)
        rt_jbatch_free(b);
    cJSON_free(ctx);
    if (!rc)
        rc = rt_journal_submit(x->m->env.journal, b, stop_marked, x);
    if (rc)
        return false;
    x->persisting = true;
    RT_LOG(RT_LOG_INFO, "workflow", "event=stopped_waiting exec=%s state=%s", x->id,
           x->def->states[x->state].name);
    return true;
}

/* Releases x once no step work or write is outstanding. */
static void exec_release(struct rt_exec *x)
{
    x->done = true;
    if (x->step_running || x->persisting || uv_is_closing((uv_handle_t *)&x->timer))
        return;
    if (mark_stopped(x))
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
    /* A step changes the context (retrains, restarts...) before it names the next state. If
     * that transition cannot be written, the step runs again: it must find what it found the
     * first time, or a retrain whose write failed would count twice. (Out of memory: no copy,
     * and the step reruns from its own changes.) */
    cJSON_Delete(x->ctx_before);
    x->ctx_before = cJSON_Duplicate(x->ctx, true);
    x->resumed_before = x->resumed_after_stop;
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
    x->ctx = ctx ? ctx : cJSON_CreateObject();
    if (!x->ctx) {
        rt_free(x);
        return NULL;
    }
    x->m = m;
    x->def = def;
    rt_strlcpy(x->id, id, sizeof(x->id));
    x->state = state;
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

/* Adds the outbox rows of x's notes to b. Returns: 0 or an error. */
static int add_notes(struct rt_exec *x, struct rt_jbatch *b, int64_t now)
{
    struct rt_journal *j = x->m->env.journal;
    for (struct rt__note *n = x->notes; n; n = n->next) {
        int64_t id;
        int rc = rt_journal_outbox_reserve_id(j, &id);
        if (!rc)
            rc = rt_jbatch_outbox_add(b, id, x->id, rt_event_name(n->kind), n->json, now);
        if (rc)
            return rc;
    }
    return 0;
}

/* Builds the batch of a transition to next. Returns: 0 and *out, or an error. */
static int build_transition(struct rt_exec *x,
                            int next,
                            cJSON *output,
                            const char *error,
                            rt_tx_fn *tx,
                            void *tx_ud,
                            struct rt_jbatch **out)
{
    const struct rt_state_def *to = &x->def->states[next];
    int64_t now = rt_now_ms();
    struct rt_jbatch *b = NULL;
    int rc = rt_jbatch_new(&b);
    if (rc)
        return rc;
    char *out_json = output ? cJSON_PrintUnformatted(output) : NULL;
    char *ctx_json = cJSON_PrintUnformatted(x->ctx);
    /* A notification the step raised but could not build fails the transition like any write
     * of it: committing without it would tell nobody, ever. */
    if ((output && !out_json) || !ctx_json || x->notes_lost)
        rc = RT_ENOMEM;
    if (!rc && !x->persisted)
        rc = rt_jbatch_exec_create(b, x->id, x->def->name, x->def->states[x->def->initial].name,
                                   x->input, "{}", x->started_ms);

    if (!rc && tx)
        rc = tx(x, b, tx_ud);
    if (!rc)
        rc = rt_jbatch_exec_advance(b, x->id, out_json, error, to->name, to->terminal, ctx_json,
                                    now);
    if (!rc)
        rc = add_notes(x, b, now);
    cJSON_free(out_json);
    cJSON_free(ctx_json);
    if (rc) {
        rt_jbatch_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

static void persisted(int status, const struct rt_error *err, void *ud)
{
    struct rt_exec *x = ud;
    struct rt_machine *m = x->m;
    x->persisting = false;
    const struct rt_state_def *from = &x->def->states[x->state];
    const struct rt_state_def *to = &x->def->states[x->pending_next];
    char *error = x->pending_error;
    x->pending_error = NULL;
    if (status) {
        /* Steps are idempotent: the step runs again and finds its own earlier work. */
        RT_LOG(RT_LOG_ERR, "workflow", "event=persist_failed exec=%s state=%s->%s error=%s", x->id,
               from->name, to->name, rt_q(err ? err->msg : rt_strerror(status)));
        notes_free(x); /* the step runs again and raises them again */
        if (x->ctx_before) {
            cJSON_Delete(x->ctx);
            x->ctx = x->ctx_before;
            x->ctx_before = NULL;
        }
        x->resumed_after_stop = x->resumed_before;
        rt_free(error);
        if (!m->closing && !x->done)
            schedule(x, m->env.persist_retry_ms > 0 ? m->env.persist_retry_ms : PERSIST_RETRY_MS);
        else
            exec_release(x);
        return;
    }
    bool told = x->notes != NULL;
    notes_free(x);
    cJSON_Delete(x->ctx_before);
    x->ctx_before = NULL;
    x->persisted = true;
    int64_t now = rt_mono_ms();
    if (error)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=step exec=%s state=%s->%s dur_ms=%lld error=%s",
               x->id, from->name, to->name, (long long)(now - x->entered_mono_ms), rt_q(error));
    else
        RT_LOG(RT_LOG_NOTICE, "workflow", "event=step exec=%s state=%s->%s dur_ms=%lld", x->id,
               from->name, to->name, (long long)(now - x->entered_mono_ms));
    rt_free(error);
    x->state = x->pending_next;
    x->entered_mono_ms = now;
    if (m->env.transitioned) {
        struct rt_transition t = {x->id, x->def->name, from->name, to->name, to->terminal, x->ctx};
        m->env.transitioned(m->env.ud, &t);
    }
    if (told && m->env.outbox_kick)
        m->env.outbox_kick(m->env.ud);
    crash_point("enter", to->name);
    if (x->def->on_settle)
        x->def->on_settle(x, false);
    if (to->terminal || m->closing || x->done) {
        exec_release(x);
        return;
    }
    schedule(x, 0);
}

static void
move(struct rt_exec *x, int next, cJSON *output, const char *error, rt_tx_fn *tx, void *tx_ud)
{
    const struct rt_state_def *from = &x->def->states[x->state];
    x->step_running = false;
    x->parked = false;
    x->park_cancel = NULL;
    if (!transition_allowed(x, next)) {
        /* A step table bug: keep the journal as it is and stop this execution loudly. */
        RT_LOG(RT_LOG_CRIT, "workflow", "event=bad_transition exec=%s state=%s->%s", x->id,
               from->name, x->def->states[next].name);
        cJSON_Delete(output);
        notes_free(x);
        exec_release(x);
        return;
    }
    if (next == x->def->failed) {
        /* Every failure reaches people, whichever step failed and why. */
        struct rt_event ev = {.kind = RT_EV_FAILED,
                              .state = from->name,
                              .error = error,
                              .version = rt__ctx_str(x, "version")};
        rt__exec_notify(x, &ev);
    }
    crash_point("after", from->name);
    struct rt_jbatch *b = NULL;
    int rc = build_transition(x, next, output, error, tx, tx_ud, &b);
    cJSON_Delete(output);
    x->pending_next = next;
    rt_free(x->pending_error);
    x->pending_error = error ? rt_strdup(error) : NULL;
    if (!rc)
        rc = rt_journal_submit(x->m->env.journal, b, persisted, x);
    if (rc) {
        struct rt_error e;
        rt_error_clear(&e);
        rt_error_set(&e, rc, "cannot submit the transition: %s", rt_strerror(rc));
        x->persisting = true;
        persisted(rc, &e, x);
        return;
    }
    x->persisting = true;
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
    notes_free(x); /* notifications belong to transitions; the step raises them again */
    if (x->m->closing) {
        exec_release(x);
        return;
    }
    schedule(x, delay_ms);
}

void rt__exec_park(struct rt_exec *x, void (*cancel)(struct rt_exec *x))
{
    x->step_running = false;
    x->parked = true;
    x->park_cancel = cancel;
}

struct coalesce {
    struct rt_exec *x;
    char prev[64];
};

static void coalesced(int status, const struct rt_error *err, void *ud)
{
    struct coalesce *c = ud;
    struct rt_exec *x = c->x;
    x->persisting = false;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=check_count_failed exec=%s error=%s", c->prev,
               rt_q(err ? err->msg : rt_strerror(status)));
    else
        RT_LOG(RT_LOG_INFO, "workflow", "event=check_unchanged exec=%s", c->prev);
    struct rt_machine *m = x->m;
    if (!status && m->env.transitioned) {
        /* The check counts as one more NOT_MET of the execution it repeats (its checks). */
        struct rt_transition t = {c->prev,   x->def->name, x->def->states[x->state].name,
                                  "NOT_MET", true,         NULL};
        m->env.transitioned(m->env.ud, &t);
    }
    rt_free(c);
    x->done = true;
    exec_release(x);
}

void rt__exec_coalesce(struct rt_exec *x, const char *prev_id)
{
    x->step_running = false;
    notes_free(x);
    struct coalesce *c = rt_calloc(1, sizeof(*c));
    struct rt_jbatch *b = NULL;
    int rc = c ? 0 : RT_ENOMEM;
    if (!rc)
        rc = rt_jbatch_new(&b);
    if (!rc)
        rc = rt_jbatch_exec_checked(b, prev_id, rt_now_ms());

    if (!rc) {
        c->x = x;
        rt_strlcpy(c->prev, prev_id, sizeof(c->prev));
        rc = rt_journal_submit(x->m->env.journal, b, coalesced, c);
        b = NULL; /* taken over, even on failure */
    }
    if (rc) {
        rt_jbatch_free(b);
        rt_free(c);
        RT_LOG(RT_LOG_WARNING, "workflow", "event=check_count_failed exec=%s error=%s", prev_id,
               rt_q(rt_strerror(rc)));
        exec_release(x);
        return;
    }
    x->persisting = true;
}

void rt__exec_notify(struct rt_exec *x, struct rt_event *ev)
{
    ev->exec_id = x->id;
    ev->workflow = x->def->name;
    if (!ev->state)
        ev->state = x->def->states[x->state].name;
    ev->at_ms = rt_now_ms();
    struct rt__note *n = rt_calloc(1, sizeof(*n));
    char *json = n ? rt_event_to_json(ev) : NULL;
    if (!json) {
        rt_free(n);
        /* The transition fails (a notification exists exactly when its cause commits); the step
         * runs again after persist_retry_ms and raises it again. */
        x->notes_lost = true;
        RT_LOG(RT_LOG_ERR, "workflow", "event=notification_failed exec=%s kind=%s error=%s", x->id,
               rt_event_name(ev->kind), rt_q("out of memory"));
        return;
    }
    n->json = json;
    n->kind = ev->kind;
    struct rt__note **tail = &x->notes;
    while (*tail)
        tail = &(*tail)->next;
    *tail = n;
}

struct rt_exec *rt__exec_start(struct rt_machine *m,
                               const struct rt_workflow_def *def,
                               const char *input_json,
                               int *rc)
{
    if (m->closing) {
        *rc = RT_ECANCELED;
        return NULL;
    }
    int64_t now = rt_now_ms();
    char id[64];
    *rc = rt_journal_exec_reserve_id(m->env.journal, def->id_prefix, now, id, sizeof(id));
    struct rt_exec *x = NULL;
    if (!*rc) {
        x = exec_add(m, def, id, def->initial, NULL);
        if (!x)
            *rc = RT_ENOMEM;
    }
    if (x && input_json && !(x->input = rt_strdup(input_json))) {
        *rc = RT_ENOMEM;
        x->done = true;
        exec_release(x);
        x = NULL;
    }
    if (!x)
        return NULL;
    x->started_ms = now;
    RT_LOG(RT_LOG_INFO, "workflow", "event=exec_start exec=%s workflow=%s", id, def->name);
    schedule(x, 0);
    return x;
}

int rt_machine_start_training(struct rt_machine *m, const char *reason, char *id_out, size_t size)
{
    const struct rt_workflow_def *def = &rt__training_def;
    for (struct rt_exec *x = m->execs; x; x = x->next) {
        if (x->def == def && !x->done) {
            if (id_out)
                rt_strlcpy(id_out, x->id, size);
            return RT_EBUSY;
        }
    }
    cJSON *in = cJSON_CreateObject();
    char *input = NULL;
    if (in && cJSON_AddStringToObject(in, "reason", reason ? reason : "schedule"))
        input = cJSON_PrintUnformatted(in);
    cJSON_Delete(in);
    if (!input)
        return RT_ENOMEM;
    int rc = 0;
    struct rt_exec *x = rt__exec_start(m, def, input, &rc);
    cJSON_free(input);
    if (!x)
        return rc;
    if (id_out)
        rt_strlcpy(id_out, x->id, size);
    RT_LOG(RT_LOG_INFO, "workflow", "event=training_check_start exec=%s reason=%s", x->id,
           rt_q(reason));
    return 0;
}

static void stop_mark_cleared(int status, const struct rt_error *err, void *ud)
{
    char *id = ud;
    if (status)
        RT_LOG(RT_LOG_WARNING, "workflow", "event=stop_mark_clear_failed exec=%s error=%s", id,
               rt_q(err ? err->msg : rt_strerror(status)));
    rt_free(id);
}

/* Writes x's context without the stop mark (best effort: if it fails, the mark only makes one
 * more loss uncounted). */
static void clear_stop_mark(struct rt_exec *x)
{
    char *ctx = cJSON_PrintUnformatted(x->ctx);
    char *id = rt_strdup(x->id);
    struct rt_jbatch *b = NULL;
    int rc = ctx && id ? rt_jbatch_new(&b) : RT_ENOMEM;
    if (!rc && (rc = rt_jbatch_exec_context(b, x->id, ctx)) != 0)
        rt_jbatch_free(b);
    cJSON_free(ctx);
    if (!rc)
        rc = rt_journal_submit(x->m->env.journal, b, stop_mark_cleared, id);
    if (rc) {
        RT_LOG(RT_LOG_WARNING, "workflow", "event=stop_mark_clear_failed exec=%s error=%s", x->id,
               rt_q(rt_strerror(rc)));
        rt_free(id);
    }
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
    unsigned long failed = rt_alloc_failures();
    cJSON *ctx = e->context ? cJSON_Parse(e->context) : NULL;
    if (e->context && !ctx && rt_alloc_failures() != failed) {
        /* Resumed with an empty context, the step would act on nothing (and its next transition
         * would overwrite the stored one): leave it in the journal for the next resume. */
        r->rc = RT_ENOMEM;
        return 1;
    }
    struct rt_exec *x = exec_add(r->m, def, e->id, state, ctx);
    if (!x) {
        cJSON_Delete(ctx);
        r->rc = RT_ENOMEM;
        return 1;
    }
    x->persisted = true;
    x->started_ms = e->started_ms;
    if (cJSON_HasObjectItem(x->ctx, STOP_MARK)) {
        /* Stopped on purpose last time. The mark is spent now: a crash before the next
         * transition must count as the crash it is, so it leaves the journal at once. */
        x->resumed_after_stop = true;
        cJSON_DeleteItemFromObjectCaseSensitive(x->ctx, STOP_MARK);
        clear_stop_mark(x);
    }
    RT_LOG(RT_LOG_NOTICE, "workflow", "event=resume exec=%s workflow=%s state=%s%s", e->id,
           e->workflow, e->state, x->resumed_after_stop ? " after=graceful_stop" : "");
    schedule(x, 0);
    r->resumed++;
    return 0;
}

int rt_machine_resume(struct rt_machine *m)
{
    struct resume_ctx r = {m, 0, 0};
    struct rt_journal_exec_filter f = {.unfinished_only = true, .limit = 100000};
    int rc = rt_journal_exec_list(m->env.journal, &f, resume_one, &r);
    /* When resume_one stopped the listing, rc is its 1; r.rc says why. */
    return r.rc ? r.rc : rc;
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
        if (x->parked) {
            /* Waiting for people (a review answer): forget the wait; the next start waits
             * again from the journal. */
            void (*cancel)(struct rt_exec *) = x->park_cancel;
            x->parked = false;
            x->park_cancel = NULL;
            if (cancel)
                cancel(x);
        }
        if (!x->step_running && !x->persisting)
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
    if (!item)
        return; /* out of memory: the value stays as it was */
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
