/*
 * test_event_label_job.c - the "labeling.done" notification: its JSON survives the outbox (name,
 * counts and manifest come back), and people read what the job did: labels and machine labels
 * with the manifest for a labeling job, images moved for a verification.
 */
#include <cjson/cJSON.h>
#include <string.h>

#include "retraind/buf.h"
#include "retraind/notify.h"
#include "rt_test.h"

RT_TEST(label_job_done_round_trips_through_the_outbox_json)
{
    struct rt_event ev = {.kind = RT_EV_LABEL_JOB_DONE,
                          .exec_id = "lj-1",
                          .job = "cats-dogs",
                          .state = "label",
                          .images = 200,
                          .machine = 120,
                          .key = "labeling-jobs/cats-dogs/manifests/output/output.manifest"};
    char *json = rt_event_to_json(&ev);
    RT_ASSERT(json != NULL);
    struct rt_event back;
    void *holder = NULL;
    RT_ASSERT_OK(rt_event_from_json(json, &back, &holder));
    RT_ASSERT_INT_EQ(back.kind, RT_EV_LABEL_JOB_DONE);
    RT_ASSERT_STR_EQ(back.job, "cats-dogs");
    RT_ASSERT_INT_EQ(back.images, 200);
    RT_ASSERT_INT_EQ(back.machine, 120);
    RT_ASSERT_STR_EQ(back.key, ev.key);
    RT_ASSERT_STR_EQ(rt_event_name(back.kind), "labeling.done");
    struct rt_buf subject, body;
    rt_buf_init(&subject, 4096);
    rt_buf_init(&body, 4096);
    RT_ASSERT_OK(rt_event_format(&back, &subject, &body));
    RT_ASSERT_STR_EQ(subject.data, "[retraind] Labeling job cats-dogs done: 200 images labeled");
    RT_ASSERT(strstr(body.data, "(120 of them by the machine)") != NULL);
    RT_ASSERT(strstr(body.data, ev.key) != NULL);
    rt_buf_cleanup(&subject);
    rt_buf_cleanup(&body);
    rt_event_holder_free(holder);
    cJSON_free(json);
}

RT_TEST(verification_done_says_how_many_moved)
{
    struct rt_event ev = {
        .kind = RT_EV_LABEL_JOB_DONE, .job = "check", .state = "verify", .images = 100, .moved = 9};
    struct rt_buf subject, body;
    rt_buf_init(&subject, 4096);
    rt_buf_init(&body, 4096);
    RT_ASSERT_OK(rt_event_format(&ev, &subject, &body));
    RT_ASSERT_STR_EQ(subject.data, "[retraind] Verification job check done: 9 moved");
    RT_ASSERT(strstr(body.data, "checked 100 images; 9 were in the wrong folder") != NULL);
    rt_buf_cleanup(&subject);
    rt_buf_cleanup(&body);
}
