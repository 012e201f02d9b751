/*
 * fuzz_image.c - libFuzzer target for the builtin engine's image decoder (PNG and JPEG) and the
 * feature extraction that follows it. Any input must either decode to an image within the
 * limits or fail with an error and a message; nothing may crash, leak or read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/engine/builtin/image.h"
#include "retraind/alloc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rt__image img;
    struct rt_error err;
    rt_error_clear(&err);
    int rc = rt__image_decode(data, size, RT__IMAGE_MAX_BYTES, &img, &err);
    if (rc == 0) {
        if (img.w < RT__IMAGE_MIN_SIDE || img.h < RT__IMAGE_MIN_SIDE || !img.rgb)
            abort();
        float feat[RT__FEATURES];
        if (rt__image_features(&img, feat) != 0)
            abort();
        rt__image_free(&img);
    } else if (img.rgb || err.code == 0 || err.msg[0] == '\0') {
        abort();
    }
    return 0;
}
