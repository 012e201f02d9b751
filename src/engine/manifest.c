/*
 * manifest.c - Ground Truth image-classification manifest lines: writer and hardened parser.
 *
 * Design: cJSON builds and parses each line. The writer inserts members in Ground Truth's order
 * so the file reads like one Ground Truth wrote. The parser treats every line as hostile: it caps
 * the line length before parsing, checks each field's type and length, and copies into
 * fixed-size fields so a parsed entry can cross to the thread pool by value.
 */
#include "retraind/manifest.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "retraind/alloc.h"

static const char type_name[] = "groundtruth/image-classification";

char *rt_manifest_date(int64_t epoch_ms, char *out, size_t size)
{
    if (!out || size == 0)
        return out;
    out[0] = '\0';
    if (size < RT_MANIFEST_DATE_MAX)
        return out;
    time_t secs = (time_t)(epoch_ms / 1000);
    int ms = (int)(epoch_ms % 1000);
    if (ms < 0) {
        ms += 1000;
        secs -= 1;
    }
    struct tm tm;
    if (!gmtime_r(&secs, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return out;
    rt_snprintf(out, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03d", tm.tm_year + 1900, tm.tm_mon + 1,
                tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
    return out;
}

/* Restores out to old_len after a failed append and names the cause. */
static int append_text(struct rt_buf *out, char *text, struct rt_error *err)
{
    size_t old_len = out->len;
    int rc = rt_buf_append_str(out, text);
    if (rc == 0)
        rc = rt_buf_append_char(out, '\n');
    cJSON_free(text);
    if (rc != 0) {
        if (out->data) {
            out->len = old_len;
            out->data[old_len] = '\0';
        }
        return rt_error_set(err, rc, "manifest: buffer full (%s)", rt_err_name(rc));
    }
    return 0;
}

static bool has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

int rt_manifest_append_source(struct rt_buf *out,
                              const char *bucket,
                              const char *key,
                              struct rt_error *err)
{
    if (!out || !bucket || !bucket[0] || !key || !key[0])
        return rt_error_set(err, RT_EINVAL, "input manifest line: bucket or key is missing");
    if (strchr(bucket, '/'))
        return rt_error_set(err, RT_EINVAL, "input manifest line: bucket \"%.100s\" holds a '/'",
                            bucket);
    if (has_control(key))
        return rt_error_set(err, RT_EINVAL, "input manifest line: key holds a control character");
    struct rt_buf ref;
    rt_buf_init(&ref, (size_t)1 << 20);
    int rc = rt_buf_printf(&ref, "s3://%s/%s", bucket, key);
    if (rc != 0) {
        rt_buf_cleanup(&ref);
        return rt_error_set(err, rc, "input manifest line: the key is too long");
    }
    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    if (root && cJSON_AddStringToObject(root, "source-ref", ref.data))
        text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    rt_buf_cleanup(&ref);
    if (!text)
        return rt_error_set(err, RT_ENOMEM, "input manifest line: out of memory");
    return append_text(out, text, err);
}

int rt_manifest_append(struct rt_buf *out,
                       const char *label_attr,
                       const struct rt_manifest_line *line,
                       struct rt_error *err)
{
    return rt_manifest_append_labeled(out, label_attr, line, 1, true, err);
}

int rt_manifest_append_labeled(struct rt_buf *out,
                               const char *label_attr,
                               const struct rt_manifest_line *line,
                               double confidence,
                               bool human_annotated,
                               struct rt_error *err)
{
    if (!out || !line || !label_attr || !label_attr[0] || !line->bucket || !line->bucket[0] ||
        !line->key || !line->key[0] || !line->label || !line->label[0] || !line->creation_date ||
        !line->job_name)
        return rt_error_set(err, RT_EINVAL, "manifest line: a required field is missing");
    if (line->class_index < 0)
        return rt_error_set(err, RT_EINVAL, "manifest line: negative class index %d",
                            line->class_index);
    if (!isfinite(confidence) || confidence < 0 || confidence > 1)
        return rt_error_set(err, RT_EINVAL, "manifest line: confidence %g is not in 0..1",
                            confidence);
    size_t attr_len = strlen(label_attr);
    if (attr_len >= RT_MANIFEST_ATTR_MAX || strcmp(label_attr, "source-ref") == 0)
        return rt_error_set(err, RT_EINVAL, "manifest line: bad label attribute name");

    char meta_name[RT_MANIFEST_ATTR_MAX + 16];
    rt_snprintf(meta_name, sizeof(meta_name), "%s-metadata", label_attr);

    struct rt_buf ref, job;
    rt_buf_init(&ref, (size_t)1 << 20);
    rt_buf_init(&job, (size_t)1 << 20);
    int rc = rt_buf_printf(&ref, "s3://%s/%s", line->bucket, line->key);
    if (rc == 0)
        rc = rt_buf_printf(&job, "labeling-job/%s", line->job_name);
    if (rc != 0) {
        rt_buf_cleanup(&ref);
        rt_buf_cleanup(&job);
        return rt_error_set(err, rc, "manifest line: a field is too long");
    }

    char *text = NULL;
    cJSON *root = cJSON_CreateObject();
    cJSON *meta = cJSON_CreateObject();
    bool ok = root && meta && cJSON_AddStringToObject(root, "source-ref", ref.data) &&
              cJSON_AddNumberToObject(root, label_attr, line->class_index) &&
              cJSON_AddStringToObject(meta, "class-name", line->label) &&
              cJSON_AddNumberToObject(meta, "confidence", confidence) &&
              cJSON_AddStringToObject(meta, "human-annotated", human_annotated ? "yes" : "no") &&
              cJSON_AddStringToObject(meta, "creation-date", line->creation_date) &&
              cJSON_AddStringToObject(meta, "type", type_name) &&
              cJSON_AddStringToObject(meta, "job-name", job.data);
    if (ok && cJSON_AddItemToObject(root, meta_name, meta))
        meta = NULL; /* owned by root now */
    else
        ok = false;
    if (ok)
        text = cJSON_PrintUnformatted(root);
    cJSON_Delete(meta);
    cJSON_Delete(root);
    rt_buf_cleanup(&ref);
    rt_buf_cleanup(&job);
    if (!text)
        return rt_error_set(err, RT_ENOMEM, "manifest line: out of memory");
    return append_text(out, text, err);
}

/* Copies a JSON string member into a fixed field. Returns: 0 or RT_EPARSE. */
static int copy_string(const cJSON *item,
                       const char *what,
                       char *out,
                       size_t size,
                       bool required,
                       struct rt_error *err)
{
    out[0] = '\0';
    if (!item) {
        if (required)
            return rt_error_set(err, RT_EPARSE, "missing \"%s\"", what);
        return 0;
    }
    if (!cJSON_IsString(item) || !item->valuestring)
        return rt_error_set(err, RT_EPARSE, "\"%s\" is not a string", what);
    size_t n = strlen(item->valuestring);
    if (required && n == 0)
        return rt_error_set(err, RT_EPARSE, "\"%s\" is empty", what);
    if (n >= size)
        return rt_error_set(err, RT_EPARSE, "\"%s\" is longer than %zu bytes", what, size - 1);
    memcpy(out, item->valuestring, n + 1);
    return 0;
}

/* Splits "s3://bucket/key" into out->bucket and out->key. Returns: 0 or RT_EPARSE. */
static int split_source_ref(const char *ref, struct rt_manifest_entry *out, struct rt_error *err)
{
    if (strncmp(ref, "s3://", 5) != 0)
        return rt_error_set(err, RT_EPARSE, "\"source-ref\" does not start with s3://");
    const char *b = ref + 5;
    const char *slash = strchr(b, '/');
    if (!slash || slash == b)
        return rt_error_set(err, RT_EPARSE, "\"source-ref\" has no bucket");
    size_t blen = (size_t)(slash - b);
    if (blen >= sizeof(out->bucket))
        return rt_error_set(err, RT_EPARSE, "\"source-ref\" bucket is too long");
    const char *key = slash + 1;
    size_t klen = strlen(key);
    if (klen == 0)
        return rt_error_set(err, RT_EPARSE, "\"source-ref\" has no key");
    if (klen >= sizeof(out->key))
        return rt_error_set(err, RT_EPARSE, "\"source-ref\" key is longer than %zu bytes",
                            sizeof(out->key) - 1);
    if (has_control(key))
        return rt_error_set(err, RT_EPARSE, "\"source-ref\" key holds a control character");
    memcpy(out->bucket, b, blen);
    out->bucket[blen] = '\0';
    memcpy(out->key, key, klen + 1);
    return 0;
}

/* Finds the label attribute: a member X (not source-ref) with an object "X-metadata". */
static const cJSON *find_attribute(const cJSON *root)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, root)
    {
        if (!it->string || strcmp(it->string, "source-ref") == 0)
            continue;
        size_t n = strlen(it->string);
        if (n >= RT_MANIFEST_ATTR_MAX || (n > 9 && strcmp(it->string + n - 9, "-metadata") == 0))
            continue;
        char meta_name[RT_MANIFEST_ATTR_MAX + 16];
        rt_snprintf(meta_name, sizeof(meta_name), "%s-metadata", it->string);
        if (cJSON_IsObject(cJSON_GetObjectItemCaseSensitive(root, meta_name)))
            return it;
    }
    return NULL;
}

int rt_manifest_parse_line(const char *line,
                           size_t len,
                           const char *label_attr,
                           struct rt_manifest_entry *out,
                           struct rt_error *err)
{
    memset(out, 0, sizeof(*out));
    while (len > 0 && (line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len > RT_MANIFEST_LINE_MAX)
        return rt_error_set(err, RT_ETOOBIG, "line longer than %d bytes", RT_MANIFEST_LINE_MAX);
    if (label_attr && (!label_attr[0] || strlen(label_attr) >= RT_MANIFEST_ATTR_MAX))
        return rt_error_set(err, RT_EPARSE, "bad label attribute name");

    cJSON *root = cJSON_ParseWithLength(line, len);
    if (!root)
        return rt_error_set(err, RT_EPARSE, "not valid JSON");
    int rc = 0;
    if (!cJSON_IsObject(root)) {
        rc = rt_error_set(err, RT_EPARSE, "not a JSON object");
        goto done;
    }

    char ref[RT_MANIFEST_BUCKET_MAX + RT_MANIFEST_KEY_MAX + 8];
    rc = copy_string(cJSON_GetObjectItemCaseSensitive(root, "source-ref"), "source-ref", ref,
                     sizeof(ref), true, err);
    if (rc == 0)
        rc = split_source_ref(ref, out, err);
    if (rc != 0)
        goto done;

    const cJSON *attr;
    if (label_attr) {
        attr = cJSON_GetObjectItemCaseSensitive(root, label_attr);
        if (!attr) {
            rc = rt_error_set(err, RT_EPARSE, "missing label attribute \"%.127s\"", label_attr);
            goto done;
        }
    } else {
        attr = find_attribute(root);
        if (!attr) {
            rc = rt_error_set(err, RT_EPARSE, "no label attribute with a -metadata object");
            goto done;
        }
    }
    rt_strlcpy(out->attribute, attr->string, sizeof(out->attribute));
    if (!cJSON_IsNumber(attr) || !isfinite(attr->valuedouble) || attr->valuedouble < 0 ||
        attr->valuedouble > INT32_MAX || attr->valuedouble != floor(attr->valuedouble)) {
        rc = rt_error_set(err, RT_EPARSE, "\"%s\" is not a class index (integer >= 0)",
                          out->attribute);
        goto done;
    }
    out->class_index = (long)attr->valuedouble;

    char meta_name[RT_MANIFEST_ATTR_MAX + 16];
    rt_snprintf(meta_name, sizeof(meta_name), "%s-metadata", out->attribute);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, meta_name);
    if (!cJSON_IsObject(meta)) {
        rc = rt_error_set(err, RT_EPARSE, "missing object \"%s\"", meta_name);
        goto done;
    }
    rc = copy_string(cJSON_GetObjectItemCaseSensitive(meta, "class-name"), "class-name", out->label,
                     sizeof(out->label), true, err);
    if (rc == 0 && has_control(out->label))
        rc = rt_error_set(err, RT_EPARSE, "\"class-name\" holds a control character");
    if (rc == 0)
        rc = copy_string(cJSON_GetObjectItemCaseSensitive(meta, "creation-date"), "creation-date",
                         out->creation_date, sizeof(out->creation_date), false, err);
    if (rc == 0)
        rc = copy_string(cJSON_GetObjectItemCaseSensitive(meta, "job-name"), "job-name",
                         out->job_name, sizeof(out->job_name), false, err);
    out->confidence = -1;
    out->human_annotated = -1;
    if (rc == 0) {
        const cJSON *conf = cJSON_GetObjectItemCaseSensitive(meta, "confidence");
        if (conf && (!cJSON_IsNumber(conf) || !isfinite(conf->valuedouble) ||
                     conf->valuedouble < 0 || conf->valuedouble > 1))
            rc = rt_error_set(err, RT_EPARSE, "\"confidence\" is not a number in 0..1");
        else if (conf)
            out->confidence = conf->valuedouble;
    }
    if (rc == 0) {
        const cJSON *human = cJSON_GetObjectItemCaseSensitive(meta, "human-annotated");
        if (human && cJSON_IsString(human) && human->valuestring &&
            strcmp(human->valuestring, "yes") == 0)
            out->human_annotated = 1;
        else if (human && cJSON_IsString(human) && human->valuestring &&
                 strcmp(human->valuestring, "no") == 0)
            out->human_annotated = 0;
        else if (human)
            rc = rt_error_set(err, RT_EPARSE, "\"human-annotated\" is not \"yes\" or \"no\"");
    }
    if (rc == 0) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(meta, "type");
        if (type && (!cJSON_IsString(type) || !type->valuestring ||
                     strcmp(type->valuestring, type_name) != 0))
            rc = rt_error_set(err, RT_EPARSE, "\"type\" is not %s", type_name);
    }
done:
    cJSON_Delete(root);
    if (rc != 0)
        memset(out, 0, sizeof(*out));
    return rc;
}

static bool blank(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

long rt_manifest_parse(
    const char *data, size_t len, const char *label_attr, rt_manifest_line_fn *cb, void *ud)
{
    long bad = 0;
    size_t line_no = 0;
    size_t pos = 0;
    struct rt_manifest_entry *entry = rt_malloc(sizeof(*entry));
    if (!entry) {
        struct rt_error e;
        rt_error_clear(&e);
        rt_error_set(&e, RT_ENOMEM, "out of memory");
        int stop = cb(0, RT_ENOMEM, NULL, &e, ud);
        return stop ? stop : 1;
    }
    while (pos < len) {
        const char *start = data + pos;
        const char *nl = memchr(start, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - start) : len - pos;
        pos += n + (nl ? 1 : 0);
        line_no++;
        if (blank(start, n))
            continue;
        struct rt_error e;
        rt_error_clear(&e);
        int rc = rt_manifest_parse_line(start, n, label_attr, entry, &e);
        int stop;
        if (rc == 0) {
            stop = cb(line_no, 0, entry, NULL, ud);
        } else {
            bad++;
            struct rt_error e2;
            rt_error_clear(&e2);
            rt_error_set(&e2, rc, "line %zu: %s", line_no, e.msg);
            stop = cb(line_no, rc, NULL, &e2, ud);
        }
        if (stop) {
            rt_free(entry);
            return stop;
        }
    }
    rt_free(entry);
    return bad;
}
