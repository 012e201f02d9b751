/* test_manifest.c - Ground Truth manifest lines: exact shape, round trip, and bad lines. */
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/manifest.h"
#include "rt_test.h"

static void append(struct rt_buf *b, const char *key, const char *label, int idx)
{
    struct rt_manifest_line l = {"local", key, label, idx, "2024-05-01T10:00:00.000Z", "tr-1"};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_manifest_append(b, "retraind-label", &l, &err));
}

RT_TEST(exact_line_shape)
{
    struct rt_buf b;
    rt_buf_init(&b, 1 << 16);
    append(&b, "images_labeled_by_folder/cat/a.png", "cat", 0);
    RT_ASSERT_STR_EQ(b.data,
                     "{\"source-ref\":\"s3://local/images_labeled_by_folder/cat/a.png\","
                     "\"retraind-label\":0,\"retraind-label-metadata\":{\"class-name\":\"cat\","
                     "\"confidence\":1,\"human-annotated\":\"yes\","
                     "\"creation-date\":\"2024-05-01T10:00:00.000Z\","
                     "\"type\":\"groundtruth/image-classification\","
                     "\"job-name\":\"labeling-job/tr-1\"}}\n");
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

struct collected {
    struct rt_manifest_entry e[8];
    size_t lines[8];
    int n, bad;
    size_t bad_lines[8];
    char last_err[512];
};

static int collect(size_t line_no,
                   int status,
                   const struct rt_manifest_entry *e,
                   const struct rt_error *err,
                   void *ud)
{
    struct collected *c = ud;
    if (status != 0) {
        RT_ASSERT(e == NULL && err != NULL);
        c->bad_lines[c->bad++] = line_no;
        rt_strlcpy(c->last_err, err->msg, sizeof(c->last_err));
        return 0;
    }
    RT_ASSERT(c->n < 8);
    c->e[c->n] = *e;
    c->lines[c->n++] = line_no;
    return 0;
}

RT_TEST(round_trip_raw_key)
{
    struct rt_buf b;
    rt_buf_init(&b, 1 << 16);
    const char *key = "images_labeled_by_folder/dog/humanLoopName-x-a b\"c%20\xc3\xbc.jpg";
    append(&b, "images_labeled_by_folder/cat/a.png", "cat", 0);
    append(&b, key, "dog", 1);
    /* Raw, not percent-encoded: only the quote is escaped. */
    RT_ASSERT_CONTAINS(b.data, "s3://local/images_labeled_by_folder/dog/humanLoopName-x-a "
                               "b\\\"c%20\xc3\xbc.jpg");
    struct collected c;
    memset(&c, 0, sizeof(c));
    RT_ASSERT_INT_EQ(rt_manifest_parse(b.data, b.len, "retraind-label", collect, &c), 0);
    RT_ASSERT_INT_EQ(c.n, 2);
    RT_ASSERT_STR_EQ(c.e[0].bucket, "local");
    RT_ASSERT_STR_EQ(c.e[0].key, "images_labeled_by_folder/cat/a.png");
    RT_ASSERT_STR_EQ(c.e[0].label, "cat");
    RT_ASSERT_INT_EQ(c.e[0].class_index, 0);
    RT_ASSERT_STR_EQ(c.e[1].key, key);
    RT_ASSERT_STR_EQ(c.e[1].label, "dog");
    RT_ASSERT_INT_EQ(c.e[1].class_index, 1);
    RT_ASSERT_STR_EQ(c.e[1].creation_date, "2024-05-01T10:00:00.000Z");
    RT_ASSERT_STR_EQ(c.e[1].job_name, "labeling-job/tr-1");
    RT_ASSERT_STR_EQ(c.e[1].attribute, "retraind-label");
    /* The attribute is found when not given. */
    memset(&c, 0, sizeof(c));
    RT_ASSERT_INT_EQ(rt_manifest_parse(b.data, b.len, NULL, collect, &c), 0);
    RT_ASSERT_INT_EQ(c.n, 2);
    RT_ASSERT_STR_EQ(c.e[1].attribute, "retraind-label");
    rt_buf_cleanup(&b);
}

RT_TEST(bad_lines_reported_by_number)
{
    const char *text =
        "{\"source-ref\":\"s3://b/k1.png\",\"a\":0,\"a-metadata\":{\"class-name\":\"x\"}}\n"
        "not json\n"
        "\r\n"
        "{\"source-ref\":\"s3://b/k2.png\",\"a\":1,\"a-metadata\":{\"class-name\":\"y\"}}\r\n"
        "{\"source-ref\":\"http://b/k.png\",\"a\":0,\"a-metadata\":{\"class-name\":\"x\"}}\n";
    struct collected c;
    memset(&c, 0, sizeof(c));
    RT_ASSERT_INT_EQ(rt_manifest_parse(text, strlen(text), "a", collect, &c), 2);
    RT_ASSERT_INT_EQ(c.n, 2);
    RT_ASSERT_INT_EQ(c.lines[1], 4);
    RT_ASSERT_STR_EQ(c.e[1].key, "k2.png");
    RT_ASSERT_INT_EQ(c.bad_lines[0], 2);
    RT_ASSERT_INT_EQ(c.bad_lines[1], 5);
    RT_ASSERT_CONTAINS(c.last_err, "line 5:");
    RT_ASSERT_CONTAINS(c.last_err, "s3://");
}

static void expect_bad(const char *line, const char *why)
{
    struct rt_manifest_entry e;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt_manifest_parse_line(line, strlen(line), "a", &e, &err);
    if (rc == 0)
        RT_FAIL("accepted: %s", line);
    RT_ASSERT_CONTAINS(err.msg, why);
}

RT_TEST(bad_fields_rejected)
{
    expect_bad("[1,2]", "not a JSON object");
    expect_bad("{\"a\":0,\"a-metadata\":{\"class-name\":\"x\"}}", "missing \"source-ref\"");
    expect_bad("{\"source-ref\":5,\"a\":0,\"a-metadata\":{\"class-name\":\"x\"}}", "not a string");
    expect_bad("{\"source-ref\":\"s3://b\",\"a\":0,\"a-metadata\":{\"class-name\":\"x\"}}",
               "no bucket");
    expect_bad("{\"source-ref\":\"s3:///k\",\"a\":0,\"a-metadata\":{\"class-name\":\"x\"}}",
               "no bucket");
    expect_bad("{\"source-ref\":\"s3://b/\",\"a\":0,\"a-metadata\":{\"class-name\":\"x\"}}",
               "no key");
    expect_bad("{\"source-ref\":\"s3://b/k\\n\",\"a\":0,\"a-metadata\":{\"class-name\":\"x\"}}",
               "control character");
    expect_bad("{\"source-ref\":\"s3://b/k\",\"a\":-1,\"a-metadata\":{\"class-name\":\"x\"}}",
               "class index");
    expect_bad("{\"source-ref\":\"s3://b/k\",\"a\":1.5,\"a-metadata\":{\"class-name\":\"x\"}}",
               "class index");
    expect_bad("{\"source-ref\":\"s3://b/k\",\"a\":\"0\",\"a-metadata\":{\"class-name\":\"x\"}}",
               "class index");
    expect_bad("{\"source-ref\":\"s3://b/k\",\"a\":0}", "missing object");
    expect_bad("{\"source-ref\":\"s3://b/k\",\"a\":0,\"a-metadata\":{}}", "class-name");
    expect_bad("{\"source-ref\":\"s3://b/k\",\"a\":0,\"a-metadata\":{\"class-name\":\"\"}}",
               "empty");
    expect_bad("{\"source-ref\":\"s3://b/k\",\"a\":0,\"a-metadata\":{\"class-name\":\"x\","
               "\"type\":\"groundtruth/object-detection\"}}",
               "type");
    expect_bad("{\"source-ref\":\"s3://b/k\",\"b\":0,\"b-metadata\":{\"class-name\":\"x\"}}",
               "missing label attribute");
    /* A label longer than the field is refused rather than cut. */
    char line[600];
    char label[300];
    memset(label, 'x', sizeof(label) - 1);
    label[sizeof(label) - 1] = '\0';
    rt_snprintf(line, sizeof(line),
                "{\"source-ref\":\"s3://b/k\",\"a\":0,\"a-metadata\":{\"class-name\":\"%s\"}}",
                label);
    expect_bad(line, "longer than");
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(overlong_line_rejected)
{
    size_t n = RT_MANIFEST_LINE_MAX + 10;
    char *line = rt_malloc(n);
    memset(line, ' ', n);
    struct rt_manifest_entry e;
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_manifest_parse_line(line, n, NULL, &e, &err), RT_ETOOBIG);
    rt_free(line);
}

RT_TEST(writer_refuses_bad_input)
{
    struct rt_buf b;
    rt_buf_init(&b, 1 << 16);
    struct rt_error err;
    rt_error_clear(&err);
    struct rt_manifest_line l = {"local", "k.png", "cat", -1, "t", "j"};
    RT_ASSERT_INT_EQ(rt_manifest_append(&b, "a", &l, &err), RT_EINVAL);
    l.class_index = 0;
    l.key = "";
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_manifest_append(&b, "a", &l, &err), RT_EINVAL);
    l.key = "k.png";
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_manifest_append(&b, "source-ref", &l, &err), RT_EINVAL);
    /* A full buffer leaves it unchanged. */
    struct rt_buf small;
    rt_buf_init(&small, 20);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_manifest_append(&small, "a", &l, &err), RT_ETOOBIG);
    RT_ASSERT_INT_EQ(small.len, 0);
    RT_ASSERT_INT_EQ(b.len, 0);
    rt_buf_cleanup(&small);
    rt_buf_cleanup(&b);
}
