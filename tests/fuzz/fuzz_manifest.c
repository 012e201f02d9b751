/*
 * fuzz_manifest.c - libFuzzer target for the Ground Truth manifest parser: whole manifests with
 * the label attribute given and found, plus a writer round trip of every entry parsed (confidence
 * and human-annotated included) and an input-manifest line of its source-ref.
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retraind/buf.h"
#include "retraind/manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int check(size_t line_no,
                 int status,
                 const struct rt_manifest_entry *e,
                 const struct rt_error *err,
                 void *ud)
{
    (void)ud;
    if (line_no == 0)
        abort();
    if (status != 0) {
        if (e || !err || err->msg[0] == '\0')
            abort();
        return 0;
    }
    if (!e || !e->key[0] || !e->bucket[0] || !e->label[0] || e->class_index < 0)
        abort();
    /* What was read can be written again and reads back the same. */
    struct rt_buf out;
    rt_buf_init(&out, 1 << 20);
    struct rt_manifest_line l = {e->bucket,           e->key,           e->label,
                                 (int)e->class_index, e->creation_date, "j"};
    struct rt_error werr;
    rt_error_clear(&werr);
    if (e->confidence != -1 && (!(e->confidence >= 0) || e->confidence > 1))
        abort();
    if (e->human_annotated < -1 || e->human_annotated > 1)
        abort();
    double conf = e->confidence >= 0 ? e->confidence : 1;
    if (rt_manifest_append_labeled(&out, e->attribute, &l, conf, e->human_annotated != 0, &werr) ==
        0) {
        struct rt_manifest_entry back;
        rt_error_clear(&werr);
        if (rt_manifest_parse_line(out.data, out.len, e->attribute, &back, &werr) != 0 ||
            strcmp(back.key, e->key) != 0 || strcmp(back.label, e->label) != 0 ||
            strcmp(back.bucket, e->bucket) != 0 || back.class_index != e->class_index ||
            fabs(back.confidence - conf) > 1e-15 ||
            back.human_annotated != (e->human_annotated != 0))
            abort();
    }
    /* The input-manifest line of the same image holds exactly its source-ref. */
    rt_buf_reset(&out);
    if (rt_manifest_append_source(&out, e->bucket, e->key, &werr) != 0)
        abort(); /* a parsed bucket has no '/', a parsed key no control character */
    {
        cJSON *root = cJSON_ParseWithLength(out.data, out.len);
        const cJSON *ref = cJSON_GetObjectItemCaseSensitive(root, "source-ref");
        if (!cJSON_IsString(ref) || cJSON_GetArraySize(root) != 1 ||
            strncmp(ref->valuestring, "s3://", 5) != 0 ||
            strncmp(ref->valuestring + 5, e->bucket, strlen(e->bucket)) != 0 ||
            strcmp(ref->valuestring + 5 + strlen(e->bucket) + 1, e->key) != 0)
            abort();
        cJSON_Delete(root);
    }
    rt_buf_cleanup(&out);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rt_manifest_parse((const char *)data, size, NULL, check, NULL);
    rt_manifest_parse((const char *)data, size, "retraind-label", check, NULL);
    return 0;
}
