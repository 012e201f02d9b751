/*
 * synth.h - deterministic synthetic training images (no downloads).
 *
 * The demo, the tests and the benchmark need labeled images that a small classifier can tell
 * apart. Each class has its own pattern and dominant colour; a seeded PRNG varies position,
 * scale, phase and pixel noise, so the same (class, index, size) always gives the same pixels
 * and different indices give different images:
 *   class 0: red-dominant horizontal stripes
 *   class 1: blue-dominant filled circles
 *   class 2: green checkerboard
 *   class 3: yellow diagonal stripes
 */
#ifndef RETRAIND_SYNTH_H
#define RETRAIND_SYNTH_H

#include <stddef.h>
#include <stdint.h>

#include "retraind/buf.h"
#include "retraind/error.h"

/* Number of distinct classes; class indices are 0..RT_SYNTH_CLASSES-1. */
#define RT_SYNTH_CLASSES 4
/* Accepted image sizes (square, pixels). */
#define RT_SYNTH_SIZE_MIN 8
#define RT_SYNTH_SIZE_MAX 4096

enum rt_synth_format { RT_SYNTH_PNG = 0, RT_SYNTH_JPEG = 1 };

/*
 * Renders image `index` of class `cls` into rgb (size*size*3 bytes, row-major RGB, caller owned).
 * Returns: 0, or RT_EINVAL for a class or size out of range (err says which).
 */
int rt_synth_render(int cls, uint64_t index, int size, uint8_t *rgb, struct rt_error *err);

/*
 * Renders and encodes one image, appending the file bytes to out (a PNG via libpng, or a
 * JPEG at quality 90 via libjpeg).
 * Returns: 0, RT_EINVAL, RT_ENOMEM, RT_ETOOBIG (out's max) or RT_EIMAGE (encoder failure).
 */
int rt_synth_encode(int cls,
                    uint64_t index,
                    int size,
                    enum rt_synth_format fmt,
                    struct rt_buf *out,
                    struct rt_error *err);

/*
 * Writes one image to path (replaced atomically: written to path.tmp, then renamed).
 * Returns: 0, the rt_synth_encode errors, or -errno from the file calls.
 */
int rt_synth_write_file(const char *path,
                        int cls,
                        uint64_t index,
                        int size,
                        enum rt_synth_format fmt,
                        struct rt_error *err);

/*
 * Blends: every pixel is (100 - percent)% of image `index` of class cls and percent% of image
 * `index` of class cls2, rounded (percent 0..100; 0 gives exactly rt_synth_render's pixels and
 * ignores cls2). Half and half is an image a classifier trained on the two classes is unsure of:
 * the demo draws its ambiguous detections with it.
 * Returns: 0, or RT_EINVAL (a class, size or percent out of range), RT_ENOMEM.
 */
int rt_synth_render_blend(
    int cls, int cls2, int percent, uint64_t index, int size, uint8_t *rgb, struct rt_error *err);

/* rt_synth_encode and rt_synth_write_file of a blend (rt_synth_render_blend). */
int rt_synth_encode_blend(int cls,
                          int cls2,
                          int percent,
                          uint64_t index,
                          int size,
                          enum rt_synth_format fmt,
                          struct rt_buf *out,
                          struct rt_error *err);
int rt_synth_write_blend_file(const char *path,
                              int cls,
                              int cls2,
                              int percent,
                              uint64_t index,
                              int size,
                              enum rt_synth_format fmt,
                              struct rt_error *err);

/* Parses "png", "jpg" or "jpeg". Returns: 0 and *out, or RT_EINVAL. */
int rt_synth_format_parse(const char *s, enum rt_synth_format *out);

#endif
