/*
 * test_workflow_table.c - the training table is the documentation, so check it is sound:
 * every state is reachable from the initial one, terminal states have no step and no exits,
 * every non-terminal state has a step and can reach a terminal state, transitions stay in range,
 * and the table's names are DESIGN.md's.
 */
#include <string.h>

#include "internal.h"
#include "rt_test.h"

static const struct rt_workflow_def *def = &rt__training_def; /* the table under test */

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

RT_TEST(graph_json_lists_every_transition)
{
    char *text = rt_workflow_graph_json();
    RT_ASSERT(text != NULL);
    cJSON *root = cJSON_Parse(text);
    cJSON_free(text);
    RT_ASSERT(root != NULL);
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "training");
    RT_ASSERT(tr != NULL);
    const cJSON *states = cJSON_GetObjectItemCaseSensitive(tr, "states");
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(states), def->n_states);
    int n_edges = 0;
    for (int k = 0; k < def->n_states; k++)
        for (int e = 0; e < RT_MAX_NEXT && def->states[k].next[e] >= 0; e++)
            n_edges++;
    const cJSON *edges = cJSON_GetObjectItemCaseSensitive(tr, "edges");
    RT_ASSERT_INT_EQ(cJSON_GetArraySize(edges), n_edges);
    /* The first transition of the loop is there, written with the design's names. */
    bool found = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, edges)
    {
        found = found || (strcmp(cJSON_GetArrayItem(e, 0)->valuestring, "CHECK") == 0 &&
                          strcmp(cJSON_GetArrayItem(e, 1)->valuestring, "MANIFEST") == 0);
    }
    RT_ASSERT(found);
    RT_ASSERT_STR_EQ(cJSON_GetObjectItemCaseSensitive(tr, "failed")->valuestring, "FAILED");
    RT_ASSERT(cJSON_GetObjectItemCaseSensitive(root, "parameter") != NULL);
    cJSON_Delete(root);
}

/* The same rules for every workflow's table (labeling, detection, sampling, parameter). */
RT_TEST(every_workflow_table_is_sound)
{
    static const struct rt_workflow_def *const all[] = {&rt__training_def, &rt__param_def,
                                                        &rt__detection_def, &rt__sampling_def,
                                                        &rt__labeling_def};
    const struct rt_workflow_def *saved = def;
    for (size_t w = 0; w < sizeof(all) / sizeof(all[0]); w++) {
        def = all[w];
        RT_ASSERT(def->n_states <= 64);
        bool seen[64] = {0};
        reach(def->initial, seen);
        for (int i = 0; i < def->n_states; i++) {
            const struct rt_state_def *s = &def->states[i];
            if (!seen[i])
                RT_FAIL("%s: state %s is unreachable", def->name, s->name);
            RT_ASSERT(s->terminal == (s->step == NULL));
            for (int k = 0; k < RT_MAX_NEXT && s->next[k] >= 0; k++)
                RT_ASSERT(s->next[k] < def->n_states);
            bool from[64] = {0}, terminal = false;
            reach(i, from);
            for (int k = 0; k < def->n_states; k++)
                terminal |= from[k] && def->states[k].terminal;
            if (!terminal)
                RT_FAIL("%s: state %s can never finish", def->name, s->name);
        }
        RT_ASSERT(def->states[def->failed].terminal);
        RT_ASSERT(rt_workflow_state_known(def->name, def->states[def->initial].name));
    }
    def = saved;
}
