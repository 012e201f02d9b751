/*
 * fuzz_manifest.c - libFuzzer target for the Ground Truth manifest parser: whole manifests with
 * the label attribute given and found, plus a writer round trip of every entry parsed.
 */
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
    if (rt_manifest_append(&out, e->attribute, &l, &werr) == 0) {
        struct rt_manifest_entry back;
        rt_error_clear(&werr);
        if (rt_manifest_parse_line(out.data, out.len, e->attribute, &back, &werr) != 0 ||
            strcmp(back.key, e->key) != 0 || strcmp(back.label, e->label) != 0 ||
            strcmp(back.bucket, e->bucket) != 0 || back.class_index != e->class_index)
            abort();
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
