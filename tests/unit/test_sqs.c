/*
 * test_sqs.c - the pure SQS parts of src/aws/sqs.c: the S3 event notification parser
 * (aws-wire.md 7.2), the ReceiveMessage reply parser (MD5OfBody) and the DeleteMessageBatch
 * reply parser.
 */
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/aws.h"
#include "rt_test.h"

static int parse(const char *json, struct rt_s3_event *ev, struct rt_error *err)
{
    rt_error_clear(err);
    return rt_s3_event_parse(rt_str_c(json), ev, err);
}

#define RECORD(version, name, key, extra)                                                          \
    "{\"eventVersion\":\"" version "\",\"eventSource\":\"aws:s3\",\"eventName\":\"" name           \
    "\",\"s3\":{\"s3SchemaVersion\":\"1.0\",\"bucket\":{\"name\":\"mybucket\"},"                   \
    "\"object\":{\"key\":\"" key "\"" extra "}}}"

RT_TEST(s3_event_record_decoded)
{
    struct rt_s3_event ev;
    struct rt_error err;
    RT_ASSERT_OK(parse(
        "{\"Records\":[" RECORD("2.1", "ObjectCreated:Put",
                                "images_for_detection/red+flower%2B%C3%BC.jpg",
                                ",\"size\":1024,\"eTag\":\"d41d8cd98f00b204e9800998ecf8427e\","
                                "\"sequencer\":\"0055AED6DCD90281E5\",\"unknown\":[1,2]") "]}",
        &ev, &err));
    RT_ASSERT_INT_EQ((int64_t)ev.n, 1);
    RT_ASSERT(!ev.test);
    RT_ASSERT_STR_EQ(ev.records[0].key, "images_for_detection/red flower+\xc3\xbc.jpg");
    RT_ASSERT_STR_EQ(ev.records[0].bucket, "mybucket");
    RT_ASSERT_STR_EQ(ev.records[0].etag, "d41d8cd98f00b204e9800998ecf8427e");
    RT_ASSERT_STR_EQ(ev.records[0].sequencer, "0055AED6DCD90281E5");
    RT_ASSERT_INT_EQ(ev.records[0].size, 1024);
    RT_ASSERT(rt_s3_event_is_created(ev.records[0].event_name));
    rt_s3_event_free(&ev);
    /* ObjectRemoved: no eTag, no size; parsed, not "created". */
    RT_ASSERT_OK(
        parse("{\"Records\":[" RECORD("2.2", "ObjectRemoved:Delete", "a%20b", "") "]}", &ev, &err));
    RT_ASSERT(!rt_s3_event_is_created(ev.records[0].event_name));
    RT_ASSERT(ev.records[0].etag == NULL);
    RT_ASSERT_INT_EQ(ev.records[0].size, -1);
    RT_ASSERT_STR_EQ(ev.records[0].key, "a b");
    rt_s3_event_free(&ev);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(s3_event_test_event_and_sns_envelope)
{
    struct rt_s3_event ev;
    struct rt_error err;
    RT_ASSERT_OK(parse("{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Time\":\"x\","
                       "\"Bucket\":\"b\",\"RequestId\":\"r\",\"HostId\":\"h\"}",
                       &ev, &err));
    RT_ASSERT(ev.test);
    RT_ASSERT_INT_EQ((int64_t)ev.n, 0);
    rt_s3_event_free(&ev);
    RT_ASSERT_OK(
        parse("{\"Type\":\"Notification\",\"Message\":\"{\\\"Records\\\":[{"
              "\\\"eventVersion\\\":\\\"2.1\\\",\\\"eventName\\\":\\\"ObjectCreated:Copy\\\","
              "\\\"s3\\\":{\\\"bucket\\\":{\\\"name\\\":\\\"b\\\"},\\\"object\\\":{"
              "\\\"key\\\":\\\"k%2Bx\\\",\\\"eTag\\\":\\\"\\\\\\\"q\\\\\\\"\\\"}}}]}\"}",
              &ev, &err));
    RT_ASSERT_INT_EQ((int64_t)ev.n, 1);
    RT_ASSERT_STR_EQ(ev.records[0].key, "k+x");
    RT_ASSERT_STR_EQ(ev.records[0].etag, "q"); /* quotes taken off */
    rt_s3_event_free(&ev);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(s3_event_malformed_refused_with_cause)
{
    struct rt_s3_event ev;
    struct rt_error err;
    const char *bad[][2] = {
        {"not json", "not JSON"},
        {"[1]", "not a JSON object"},
        {"{\"Records\":5}", "no Records"},
        {"{\"Records\":[" RECORD("1.0", "ObjectCreated:Put", "k", "") "]}", "eventVersion"},
        {"{\"Records\":[" RECORD("20.1", "ObjectCreated:Put", "k", "") "]}", "eventVersion"},
        {"{\"Records\":[" RECORD("2.1", "ObjectCreated:Put", "k%zz", "") "]}", "escape"},
        {"{\"Records\":[" RECORD("2.1", "ObjectCreated:Put", "k%00", "") "]}", "escape"},
        {"{\"Records\":[" RECORD("2.1", "ObjectCreated:Put", "", "") "]}", "lacks"},
        {"{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:sqs\"}]}", "aws:s3"},
        {"{\"Type\":\"Notification\",\"Message\":\"nope\"}", "SNS envelope"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        RT_ASSERT_INT_EQ(parse(bad[i][0], &ev, &err), RT_EPARSE);
        RT_ASSERT(ev.n == 0 && ev.records == NULL);
        if (!strstr(err.msg, bad[i][1]))
            RT_FAIL("case %zu: %s lacks %s", i, err.msg, bad[i][1]);
    }
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(sqs_receive_reply_parsed_md5_checked)
{
    struct rt_aws_sqs_messages m;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_sqs_parse_receive(rt_str_c("{}"), &m, &err));
    RT_ASSERT_INT_EQ((int64_t)m.n, 0); /* nothing arrived: Messages absent */
    RT_ASSERT_OK(rt_aws_sqs_parse_receive(
        rt_str_c("{\"Messages\":[{\"MessageId\":\"1\",\"ReceiptHandle\":\"rh1\",\"MD5OfBody\":"
                 "\"99914B932BD37A50B983C5E7C90AE93B\",\"Body\":\"{}\",\"Attributes\":{"
                 "\"ApproximateReceiveCount\":\"3\"}},{\"MessageId\":\"2\",\"ReceiptHandle\":"
                 "\"rh2\",\"MD5OfBody\":\"00000000000000000000000000000000\",\"Body\":\"{}\"}]}"),
        &m, &err));
    RT_ASSERT_INT_EQ((int64_t)m.n, 2);
    RT_ASSERT_STR_EQ(m.items[0].receipt, "rh1");
    RT_ASSERT(m.items[0].md5_ok);
    RT_ASSERT_INT_EQ(m.items[0].receive_count, 3);
    RT_ASSERT(!m.items[1].md5_ok);
    rt_aws_sqs_messages_free(&m);
    RT_ASSERT_INT_EQ(
        rt_aws_sqs_parse_receive(rt_str_c("{\"Messages\":[{\"Body\":\"x\"}]}"), &m, &err),
        RT_EPARSE);
    RT_ASSERT_INT_EQ(rt_aws_sqs_parse_receive(rt_str_c("<xml/>"), &m, &err), RT_EPARSE);
    size_t failed = 0;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_aws_sqs_parse_delete_batch(rt_str_c(""), &failed, &err));
    RT_ASSERT_OK(rt_aws_sqs_parse_delete_batch(rt_str_c("{\"Successful\":[{\"Id\":\"m0\"}],"
                                                        "\"Failed\":[]}"),
                                               &failed, &err));
    RT_ASSERT_INT_EQ(
        rt_aws_sqs_parse_delete_batch(
            rt_str_c("{\"Failed\":[{\"Id\":\"m1\",\"Code\":\"ReceiptHandleIsInvalid\"}]}"), &failed,
            &err),
        RT_EAWS);
    RT_ASSERT_INT_EQ((int64_t)failed, 1);
    RT_ASSERT(strstr(err.msg, "ReceiptHandleIsInvalid") != NULL);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}
