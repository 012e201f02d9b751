/*
 * test_workflow_table.c - the training table is the documentation, so check it is sound:
 * every state is reachable from the initial one, terminal states have no step and no exits,
 * every non-terminal state has a step and can reach a terminal state, transitions stay in range,
 * and the table's names are DESIGN.md's.
 */
#include "internal.h"
#include "rt_test.h"

static const struct rt_workflow_def *def = &rt__training_def;

static void reach(int from, bool *seen)
{
    if (seen[from])
        return;
    seen[from] = true;
    const struct rt_state_def *s = &def->states[from];
    for (int i = 0; i < RT_MAX_NEXT && s->next[i] >= 0; i++)
        reach(s->next[i], seen);
}

RT_TEST(training_every_state_reachable)
{
    bool seen[64] = {0};
    RT_ASSERT(def->n_states <= 64);
    reach(def->initial, seen);
    for (int i = 0; i < def->n_states; i++)
        if (!seen[i])
            RT_FAIL("state %s is unreachable", def->states[i].name);
}

RT_TEST(training_terminals_have_no_step)
{
    for (int i = 0; i < def->n_states; i++) {
        const struct rt_state_def *s = &def->states[i];
        if (s->terminal) {
            RT_ASSERT(s->step == NULL);
            RT_ASSERT_INT_EQ(s->next[0], -1);
        } else {
            RT_ASSERT(s->step != NULL);
            RT_ASSERT(s->next[0] >= 0);
        }
        for (int k = 0; k < RT_MAX_NEXT && s->next[k] >= 0; k++)
            RT_ASSERT(s->next[k] < def->n_states);
    }
}

RT_TEST(training_every_state_can_finish)
{
    for (int i = 0; i < def->n_states; i++) {
        bool seen[64] = {0};
        reach(i, seen);
        bool terminal = false;
        for (int k = 0; k < def->n_states; k++)
            terminal |= seen[k] && def->states[k].terminal;
        if (!terminal)
            RT_FAIL("state %s can never finish", def->states[i].name);
    }
}

RT_TEST(training_names_match_design)
{
    static const char *const design[] = {
        "CHECK",  "MANIFEST", "TRAIN", "WAIT_TRAINING", "EVALUATE",  "START", "WAIT_RUNNING",
        "SWITCH", "STOP_OLD", "DONE",  "NOT_MET",       "FAILED_F1", "FAILED"};
    RT_ASSERT_INT_EQ(def->n_states, (int)(sizeof(design) / sizeof(design[0])));
    RT_ASSERT_INT_EQ(rt_training_state_count, def->n_states);
    for (int i = 0; i < def->n_states; i++) {
        RT_ASSERT_STR_EQ(def->states[i].name, design[i]);
        RT_ASSERT_STR_EQ(rt_training_state_names[i], design[i]);
        RT_ASSERT_INT_EQ(rt__state_index(def, design[i]), i);
    }
    RT_ASSERT_STR_EQ(def->states[def->initial].name, "CHECK");
    RT_ASSERT_STR_EQ(def->states[def->failed].name, "FAILED");
    RT_ASSERT(def->states[def->failed].terminal);
    RT_ASSERT_INT_EQ(rt__state_index(def, "NOPE"), -1);
}
