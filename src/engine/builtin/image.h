/*
 * image.h - hardened PNG/JPEG decoding for the builtin engine (private to src/engine/).
 *
 * Limits follow Rekognition Custom Labels (aws-wire.md 3.5) so an image the builtin engine
 * accepts would also be accepted by the AWS driver: at most 15 MB per training image (5 MB for
 * detection bytes), 64..4096 pixels per side, aspect ratio at most 20:1. Byte limits are
 * checked before any decoding, dimensions right after the header and before pixel data.
 */
#ifndef RT_ENGINE_IMAGE_H
#define RT_ENGINE_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "retraind/error.h"

#define RT__IMAGE_MAX_BYTES ((size_t)15 * 1024 * 1024) /* S3 image size */
#define RT__IMAGE_DETECT_MAX_BYTES ((size_t)5242880)   /* Image.Bytes */
#define RT__IMAGE_MIN_SIDE 64
#define RT__IMAGE_MAX_SIDE 4096
#define RT__IMAGE_MAX_ASPECT 20

/* A decoded image: 8-bit RGB, row-major, w*h*3 bytes (owned; free with rt__image_free). */
struct rt__image {
    int w, h;
    uint8_t *rgb;
};

/*
 * Decodes a PNG or JPEG held in data (len bytes, at most max_bytes) into out. Grayscale,
 * palette, 16-bit, alpha (dropped), interlaced PNG and gray/RGB/CMYK JPEG are handled; large
 * JPEGs may be decoded at a reduced scale (sides halved while both stay >= 64 pixels).
 * Thread-safe (no shared state). Returns: 0 and *out, or RT_ETOOBIG (bytes or dimensions beyond
 * the limits), RT_EIMAGE (not PNG/JPEG, corrupt, truncated) or RT_ENOMEM; err says why.
 */
int rt__image_decode(
    const void *data, size_t len, size_t max_bytes, struct rt__image *out, struct rt_error *err);

void rt__image_free(struct rt__image *img);

/* Number of features rt__image_features writes. */
#define RT__FEATURES 294

/*
 * Computes the feature vector of img into feat (RT__FEATURES floats): an 8x8 RGB thumbnail,
 * a 4x4x4 colour histogram, a 2x2 grid of 8-bin gradient-orientation histograms, and the mean
 * and standard deviation of each channel. Returns: 0 or RT_ENOMEM.
 */
int rt__image_features(const struct rt__image *img, float *feat);

#endif
