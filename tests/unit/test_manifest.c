/* test_manifest.c - Ground Truth manifest lines: exact shape, round trip, and bad lines. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

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

/* ---- #10: confidence, human-annotated, Ground Truth's creation-date, input manifests ---- */

RT_TEST(labeled_line_shape)
{
    struct rt_buf b;
    rt_buf_init(&b, 1 << 16);
    char date[RT_MANIFEST_DATE_MAX];
    struct rt_manifest_line l = {"my-bucket",
                                 "unlabeled/a.png",
                                 "dog",
                                 1,
                                 rt_manifest_date(1583516799176, date, sizeof(date)),
                                 "cats-dogs"};
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_manifest_append_labeled(&b, "cats-dogs", &l, 0.94, false, &err));
    RT_ASSERT_STR_EQ(b.data, "{\"source-ref\":\"s3://my-bucket/unlabeled/a.png\","
                             "\"cats-dogs\":1,\"cats-dogs-metadata\":{\"class-name\":\"dog\","
                             "\"confidence\":0.94,\"human-annotated\":\"no\","
                             "\"creation-date\":\"2020-03-06T17:46:39.176\","
                             "\"type\":\"groundtruth/image-classification\","
                             "\"job-name\":\"labeling-job/cats-dogs\"}}\n");
    /* 0 and 1 are written as integers, as Ground Truth does. */
    RT_ASSERT_OK(rt_manifest_append_labeled(&b, "a", &l, 0, true, &err));
    RT_ASSERT_CONTAINS(b.data, "\"confidence\":0,\"human-annotated\":\"yes\"");
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(confidence_and_human_read_back)
{
    struct rt_buf b;
    rt_buf_init(&b, 1 << 16);
    struct rt_manifest_line l = {"local", "k1.png", "cat", 0, "2020-03-06T17:46:39.176", "j"};
    struct rt_error err;
    rt_error_clear(&err);
    const double confs[] = {0.94, 0.1 + 0.2, 1.0 / 3.0, 0, 1, 0.999999};
    for (size_t i = 0; i < sizeof(confs) / sizeof(confs[0]); i++) {
        char key[16];
        rt_snprintf(key, sizeof(key), "k%zu.png", i);
        l.key = key;
        RT_ASSERT_OK(rt_manifest_append_labeled(&b, "a", &l, confs[i], i % 2 == 0, &err));
    }
    struct collected c;
    memset(&c, 0, sizeof(c));
    RT_ASSERT_INT_EQ(rt_manifest_parse(b.data, b.len, "a", collect, &c), 0);
    RT_ASSERT_INT_EQ(c.n, 6);
    RT_ASSERT(c.e[0].confidence == 0.94); /* as written, "0.94" */
    for (int i = 0; i < c.n; i++) {
        /* cJSON prints 15 significant digits when they read back within its epsilon. */
        if (fabs(c.e[i].confidence - confs[i]) > 1e-15)
            RT_FAIL("line %d: confidence %.17g read back as %.17g", i + 1, confs[i],
                    c.e[i].confidence);
        RT_ASSERT_INT_EQ(c.e[i].human_annotated, i % 2 == 0 ? 1 : 0);
    }
    /* Today's lines: confidence 1 and "yes". */
    rt_buf_reset(&b);
    append(&b, "k.png", "cat", 0);
    memset(&c, 0, sizeof(c));
    RT_ASSERT_INT_EQ(rt_manifest_parse(b.data, b.len, NULL, collect, &c), 0);
    RT_ASSERT(c.n == 1 && c.e[0].confidence == 1 && c.e[0].human_annotated == 1);
    /* Lines without them (hand-made, other tools) still parse: -1 says absent. */
    const char *bare = "{\"source-ref\":\"s3://b/k.png\",\"a\":0,\"a-metadata\":{\"class-name\":"
                       "\"x\"}}";
    struct rt_manifest_entry e;
    RT_ASSERT_OK(rt_manifest_parse_line(bare, strlen(bare), NULL, &e, &err));
    RT_ASSERT(e.confidence == -1 && e.human_annotated == -1);
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(bad_confidence_and_human_rejected)
{
    const char *pre = "{\"source-ref\":\"s3://b/k\",\"a\":0,\"a-metadata\":{\"class-name\":\"x\",";
    const char *bad[][2] = {
        {"\"confidence\":1.5}}", "confidence"},     {"\"confidence\":-0.01}}", "confidence"},
        {"\"confidence\":\"0.9\"}}", "confidence"}, {"\"confidence\":null}}", "confidence"},
        {"\"confidence\":1e999}}", "confidence"},   {"\"human-annotated\":\"Yes\"}}", "human"},
        {"\"human-annotated\":true}}", "human"},    {"\"human-annotated\":\"\"}}", "human"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char line[256];
        rt_snprintf(line, sizeof(line), "%s%s", pre, bad[i][0]);
        expect_bad(line, bad[i][1]);
    }
    /* The writer refuses what the parser would. */
    struct rt_buf b;
    rt_buf_init(&b, 1 << 16);
    struct rt_manifest_line l = {"local", "k.png", "cat", 0, "t", "j"};
    const double no[] = {1.0000001, -0.5, NAN, INFINITY};
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        struct rt_error err;
        rt_error_clear(&err);
        RT_ASSERT_INT_EQ(rt_manifest_append_labeled(&b, "a", &l, no[i], true, &err), RT_EINVAL);
        RT_ASSERT_CONTAINS(err.msg, "confidence");
    }
    RT_ASSERT_INT_EQ(b.len, 0);
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(gt_creation_date)
{
    char d[RT_MANIFEST_DATE_MAX];
    RT_ASSERT_STR_EQ(rt_manifest_date(1583516799176, d, sizeof(d)), "2020-03-06T17:46:39.176");
    RT_ASSERT_STR_EQ(rt_manifest_date(0, d, sizeof(d)), "1970-01-01T00:00:00.000");
    RT_ASSERT_STR_EQ(rt_manifest_date(-1, d, sizeof(d)), "1969-12-31T23:59:59.999");
    RT_ASSERT_STR_EQ(rt_manifest_date(951782400000, d, sizeof(d)), "2000-02-29T00:00:00.000");
    char small[8] = "x";
    RT_ASSERT_STR_EQ(rt_manifest_date(0, small, sizeof(small)), "");
}

RT_TEST(input_manifest_lines)
{
    struct rt_buf b;
    rt_buf_init(&b, 1 << 16);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_manifest_append_source(&b, "my-bucket", "unlabeled/a.png", &err));
    RT_ASSERT_OK(
        rt_manifest_append_source(&b, "my-bucket", "unlabeled/b b\"c%20\xc3\xbc\\.jpg", &err));
    RT_ASSERT_STR_EQ(b.data, "{\"source-ref\":\"s3://my-bucket/unlabeled/a.png\"}\n"
                             "{\"source-ref\":\"s3://my-bucket/unlabeled/b b\\\"c%20\xc3\xbc"
                             "\\\\.jpg\"}\n");
    size_t len = b.len;
    RT_ASSERT_INT_EQ(rt_manifest_append_source(&b, "my-bucket", "", &err), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_manifest_append_source(&b, "", "k", &err), RT_EINVAL);
    RT_ASSERT_INT_EQ(rt_manifest_append_source(&b, "a/b", "k", &err), RT_EINVAL);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_manifest_append_source(&b, "b", "a\nb", &err), RT_EINVAL);
    RT_ASSERT_CONTAINS(err.msg, "control character");
    RT_ASSERT_INT_EQ(b.len, len);
    struct rt_buf small;
    rt_buf_init(&small, 20);
    RT_ASSERT_INT_EQ(rt_manifest_append_source(&small, "my-bucket", "k.png", &err), RT_ETOOBIG);
    RT_ASSERT_INT_EQ(small.len, 0);
    rt_buf_cleanup(&small);
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

/* Runs tests/integration/gt_manifest_check.py on path; returns its exit status. */
static int gt_check(const char *path, const char *args)
{
    char cmd[2048];
    rt_snprintf(cmd, sizeof(cmd), "python3 '%s/tests/integration/gt_manifest_check.py' '%s' %s",
                RT_SRC_DIR, path, args);
    int st = system(cmd);
    RT_ASSERT(st != -1 && WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void write_file(const char *path, const struct rt_buf *b)
{
    FILE *f = fopen(path, "wb");
    RT_ASSERT(f != NULL);
    RT_ASSERT(fwrite(b->data, 1, b->len, f) == b->len);
    RT_ASSERT(fclose(f) == 0);
}

/* What the C writer writes passes the Python checker (and the checker does fail on a Z date). */
RT_TEST(written_manifests_pass_gt_checker)
{
    if (system("python3 -c '' >/dev/null 2>&1") != 0)
        RT_SKIP("python3 is not installed");
    const char *keys[] = {"unlabeled/cats-dogs/a.png", "unlabeled/cats-dogs/b b\"c%20.jpg",
                          "unlabeled/cats-dogs/\xc3\xbc\xe7\x8c\xab.png",
                          "unlabeled/cats-dogs/back\\slash (1).jpeg"};
    const char *labels[] = {"cat", "dog", "cat", "bird"};
    const int idx[] = {0, 1, 0, 2};
    const double conf[] = {0.94, 1, 0, 2.0 / 3.0};
    struct rt_buf out, in, today;
    rt_buf_init(&out, 1 << 16);
    rt_buf_init(&in, 1 << 16);
    rt_buf_init(&today, 1 << 16);
    char date[RT_MANIFEST_DATE_MAX];
    rt_manifest_date(1764787299123, date, sizeof(date));
    struct rt_error err;
    rt_error_clear(&err);
    for (int i = 0; i < 4; i++) {
        struct rt_manifest_line l = {"my-bucket", keys[i], labels[i], idx[i], date, "cats-dogs"};
        RT_ASSERT_OK(rt_manifest_append_labeled(&out, "cats-dogs", &l, conf[i], i != 3, &err));
        RT_ASSERT_OK(rt_manifest_append_source(&in, "my-bucket", keys[i], &err));
        l.creation_date = "2024-05-01T10:00:00.000Z"; /* RFC 3339 with a zone: not GT's form */
        RT_ASSERT_OK(rt_manifest_append(&today, "retraind-label", &l, &err));
    }
    char out_path[512], in_path[512], today_path[512];
    rt_snprintf(out_path, sizeof(out_path), "%s/output.manifest", rt_test_tmpdir());
    rt_snprintf(in_path, sizeof(in_path), "%s/input.manifest", rt_test_tmpdir());
    rt_snprintf(today_path, sizeof(today_path), "%s/today.manifest", rt_test_tmpdir());
    write_file(out_path, &out);
    write_file(in_path, &in);
    write_file(today_path, &today);
    RT_ASSERT_INT_EQ(gt_check(out_path, "--attr cats-dogs --job-name cats-dogs"), 0);
    RT_ASSERT_INT_EQ(gt_check(in_path, "--input"), 0);
    /* An RFC 3339 "Z" date is not Ground Truth's creation-date form (the census writes
     * rt_manifest_date's). */
    RT_ASSERT_INT_EQ(gt_check(today_path, "> /dev/null"), 1);
    rt_buf_cleanup(&out);
    rt_buf_cleanup(&in);
    rt_buf_cleanup(&today);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}
