/*
 * sampling.c - the sampling workflow's step table (DESIGN.md "Workflows"), one execution per
 * sampled detection:
 *
 *   SELECT -> REVIEW -> WAIT_ANSWER -> COMPARE -> DONE,   or FAILED.
 *
 * Design: the sampler (detect_scan.c) marks the chosen detections sampled and starts one
 * execution per detection with its seq in the context. SELECT reads the detection (key, the
 * model's label and confidence, the version) and records in its transition that this execution
 * owns the sample, so a restart starts no second one. REVIEW and WAIT_ANSWER are shared with
 * detection (review_steps.c): a task of source "sampling" whose id derives from this execution.
 * COMPARE records the answer and whether it agrees with the model's label on the detection's row;
 * the agreement rate per model version is a query over those rows
 * (rt_journal_sampling_agreement). A sampled answer is never copied into the training set.
 */
#include <string.h>

#include "detect_int.h"
#include "retraind/alloc.h"
#include "retraind/journal_detections.h"
#include "retraind/log.h"
#include "retraind/review.h"

enum { S_SELECT, S_REVIEW, S_WAIT_ANSWER, S_COMPARE, S_DONE, S_FAILED, S_COUNT };

static int tx_owner(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    (void)ud;
    return rt_jbatch_detection_sample_exec(b, rt__ctx_int(x, "seq", 0), x->id);
}

static void step_select(struct rt_exec *x)
{
    struct rt_detection_row *r = rt_malloc(sizeof(*r));
    if (!r) {
        rt__exec_wait(x, 1000);
        return;
    }
    int rc = rt_journal_detection_get(x->m->env.journal, rt__ctx_int(x, "seq", 0), r);
    if (rc == 0 && strcmp(r->state, RT_DETECTION_DETECTED) != 0)
        rc = RT_ENOTFOUND;
    if (rc == RT_ENOTFOUND) {
        rt_free(r);
        rt__exec_finish(x, S_FAILED, NULL, "the sampled detection does not exist", NULL, NULL);
        return;
    }
    if (rc) {
        rt_free(r);
        rt__exec_wait(x, 5000);
        return;
    }
    rt__ctx_set_str(x, "key", r->key);
    rt__ctx_set_str(x, "label", r->label);
    rt__ctx_set_double(x, "confidence", r->confidence);
    rt__ctx_set_str(x, "version", r->model_version);
    rt__ctx_set_str(x, "detection", r->exec_id);
    cJSON *out = cJSON_CreateObject();
    cJSON_AddNumberToObject(out, "seq", (double)r->seq);
    cJSON_AddStringToObject(out, "key", r->key);
    cJSON_AddStringToObject(out, "label", r->label);
    cJSON_AddStringToObject(out, "version", r->model_version);
    rt_free(r);
    rt__exec_next(x, S_REVIEW, out, tx_owner, NULL);
}

static void answered(struct rt_exec *x, const char *label)
{
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "answer", label);
    rt__exec_next(x, S_COMPARE, out, NULL, NULL);
}

const struct rt__review_states rt__sampling_review = {
    .source = RT_REVIEW_SOURCE_SAMPLING,
    .wait = S_WAIT_ANSWER,
    .review = S_REVIEW,
    .failed = S_FAILED,
    .notify = false,
    .answered = answered,
};

static void step_review(struct rt_exec *x)
{
    rt__step_review(x, &rt__sampling_review);
}

static void step_wait_answer(struct rt_exec *x)
{
    rt__step_wait_answer(x, &rt__sampling_review);
}

static int tx_compare(struct rt_exec *x, struct rt_jbatch *b, void *ud)
{
    const bool *agree = ud;
    return rt_jbatch_detection_sample_answer(b, rt__ctx_int(x, "seq", 0), rt__ctx_str(x, "answer"),
                                             *agree);
}

static void step_compare(struct rt_exec *x)
{
    const char *answer = rt__ctx_str(x, "answer");
    const char *label = rt__ctx_str(x, "label");
    bool agree = answer && label && strcmp(answer, label) == 0;
    RT_LOG(RT_LOG_NOTICE, "workflow",
           "event=sample_compared exec=%s key=%s label=%s answer=%s agree=%s version=%s", x->id,
           rt_q(rt__ctx_str(x, "key")), rt_q(label), rt_q(answer), agree ? "yes" : "no",
           rt_q(rt__ctx_str(x, "version")));
    cJSON *out = cJSON_CreateObject();
    cJSON_AddStringToObject(out, "answer", answer ? answer : "");
    cJSON_AddStringToObject(out, "label", label ? label : "");
    cJSON_AddBoolToObject(out, "agree", agree);
    rt__exec_finish(x, S_DONE, out, NULL, tx_compare, &agree);
}

static const struct rt_state_def states[S_COUNT] = {
    [S_SELECT] = {"SELECT", step_select, false, {S_REVIEW, S_FAILED, -1}},
    [S_REVIEW] = {"REVIEW", step_review, false, {S_WAIT_ANSWER, S_FAILED, -1}},
    [S_WAIT_ANSWER] = {"WAIT_ANSWER", step_wait_answer, false, {S_COMPARE, S_REVIEW, S_FAILED, -1}},
    [S_COMPARE] = {"COMPARE", step_compare, false, {S_DONE, S_FAILED, -1}},
    [S_DONE] = {"DONE", NULL, true, {-1}},
    [S_FAILED] = {"FAILED", NULL, true, {-1}},
};

const struct rt_workflow_def rt__sampling_def = {
    .name = "sampling",
    .id_prefix = "sa",
    .states = states,
    .n_states = S_COUNT,
    .initial = S_SELECT,
    .failed = S_FAILED,
};
