/*
 * fuzz_store_key.c - fuzz target for rt_store_key_check and rt_store_training_label.
 *
 * Input: "<prefix>\n<key>" (no newline: the whole input is the key and the prefix is the default
 * labeled prefix). Besides crashes, it checks properties the rest of the daemon relies on: an
 * accepted key never starts with '/', holds no control byte or backslash and has no "." or ".."
 * segment; a counted image has a non-empty label without '/' that lies inside the key.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/error.h"
#include "retraind/store.h"

static void check_accepted(const char *key, size_t len, bool trailing)
{
    if (len == 0 || len > RT_STORE_KEY_MAX || key[0] == '/')
        abort();
    size_t seg = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)key[i] : '/';
        if (i < len && (c < 0x20 || c == 0x7f || c == '\\'))
            abort();
        if (c != '/')
            continue;
        size_t n = i - seg;
        if (n == 0 && !(i == len && trailing))
            abort();
        if ((n == 1 && key[seg] == '.') || (n == 2 && key[seg] == '.' && key[seg + 1] == '.'))
            abort();
        seg = i + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    for (int t = 0; t < 2; t++) {
        struct rt_error err;
        rt_error_clear(&err);
        int rc = rt_store_key_check(buf, size, t == 1, &err);
        if (rc == 0)
            check_accepted(buf, size, t == 1);
        else if (rc != RT_EKEY || err.code != RT_EKEY || memchr(err.msg, '\n', sizeof(err.msg)))
            abort();
    }
    const char *prefix = "images_labeled_by_folder/";
    char *key = buf;
    char *nl = memchr(buf, '\n', size);
    if (nl) {
        *nl = '\0';
        prefix = buf;
        key = nl + 1;
    }
    struct rt_str label = {NULL, 0};
    if (rt_store_training_label(prefix, key, &label)) {
        size_t klen = strlen(key);
        if (label.len == 0 || label.p < key || label.p + label.len > key + klen ||
            memchr(label.p, '/', label.len))
            abort();
        if (strncmp(key, prefix, strlen(prefix)) != 0)
            abort();
    }
    free(buf);
    return 0;
}
