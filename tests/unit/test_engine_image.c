/*
 * test_engine_image.c - hardened decoding: valid PNG/JPEG in every pixel layout, and truncated,
 * corrupt, empty, oversized, undersized and non-image input, none of which may crash.
 */
#include <png.h>
#include <string.h>

#include "../../src/engine/builtin/image.h"
#include "retraind/alloc.h"
#include "retraind/buf.h"
#include "retraind/synth.h"
#include "rt_test.h"

static void synth(enum rt_synth_format fmt, int size, struct rt_buf *b)
{
    struct rt_error err;
    rt_error_clear(&err);
    rt_buf_init(b, 1 << 24);
    RT_ASSERT_OK(rt_synth_encode(0, 1, size, fmt, b, &err));
}

static int decode(const void *p, size_t n, struct rt_error *err)
{
    struct rt__image img;
    rt_error_clear(err);
    int rc = rt__image_decode(p, n, RT__IMAGE_MAX_BYTES, &img, err);
    if (rc == 0) {
        RT_ASSERT(img.w >= 64 && img.h >= 64 && img.rgb);
        rt__image_free(&img);
    } else {
        RT_ASSERT(img.rgb == NULL);
        RT_ASSERT(err->msg[0] != '\0');
    }
    return rc;
}

static void png_write_cb(png_structp png, png_bytep data, size_t len)
{
    rt_buf_append(png_get_io_ptr(png), data, len);
}

static void png_flush_cb(png_structp png)
{
    (void)png;
}

/* Encodes a w x h PNG of the given colour type and depth (pixels: a simple gradient). */
static void make_png(struct rt_buf *b, int w, int h, int ctype, int depth)
{
    rt_buf_init(b, 1 << 24);
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    RT_ASSERT(png && info);
    if (setjmp(png_jmpbuf(png)))
        RT_FAIL("libpng write failed");
    png_set_write_fn(png, b, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, depth, ctype, PNG_INTERLACE_ADAM7,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_color palette[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {9, 9, 9}};
    png_byte trans[4] = {255, 128, 0, 255};
    if (ctype == PNG_COLOR_TYPE_PALETTE) {
        png_set_PLTE(png, info, palette, 4);
        png_set_tRNS(png, info, trans, 4, NULL);
    }
    png_write_info(png, info);
    int channels = ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_PALETTE ? 1
                   : ctype == PNG_COLOR_TYPE_GRAY_ALPHA                            ? 2
                   : ctype == PNG_COLOR_TYPE_RGB                                   ? 3
                                                                                   : 4;
    size_t rowbytes = ((size_t)w * (size_t)channels * (size_t)depth + 7) / 8;
    png_bytep row = rt_calloc(1, rowbytes);
    png_bytep *rows = rt_malloc(sizeof(png_bytep) * (size_t)h);
    png_bytep pixels = rt_calloc((size_t)h, rowbytes);
    for (int y = 0; y < h; y++) {
        rows[y] = pixels + (size_t)y * rowbytes;
        for (size_t i = 0; i < rowbytes; i++)
            rows[y][i] = ctype == PNG_COLOR_TYPE_PALETTE && depth == 8
                             ? (png_byte)((i + (size_t)y) % 4)
                             : (png_byte)((i * 7 + (size_t)y * 3) & (depth < 8 ? 0x55 : 0xff));
    }
    png_write_image(png, rows);
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    rt_free(row);
    rt_free(rows);
    rt_free(pixels);
}

RT_TEST(valid_png_and_jpeg)
{
    struct rt_buf b;
    struct rt_error err;
    synth(RT_SYNTH_PNG, 64, &b);
    RT_ASSERT_OK(decode(b.data, b.len, &err));
    rt_buf_cleanup(&b);
    synth(RT_SYNTH_JPEG, 200, &b);
    struct rt__image img;
    RT_ASSERT_OK(rt__image_decode(b.data, b.len, RT__IMAGE_MAX_BYTES, &img, &err));
    RT_ASSERT_INT_EQ(img.w, 100); /* halved while the short side stays >= 64 */
    rt__image_free(&img);
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(large_jpeg_decoded_at_reduced_scale)
{
    struct rt_buf b;
    struct rt_error err;
    rt_error_clear(&err);
    synth(RT_SYNTH_JPEG, 1024, &b);
    struct rt__image img;
    RT_ASSERT_OK(rt__image_decode(b.data, b.len, RT__IMAGE_MAX_BYTES, &img, &err));
    RT_ASSERT_INT_EQ(img.w, 128); /* 1024 / 8 */
    rt__image_free(&img);
    rt_buf_cleanup(&b);
}

RT_TEST(png_pixel_layouts)
{
    static const struct {
        int ctype, depth;
    } cases[] = {{PNG_COLOR_TYPE_GRAY, 1},       {PNG_COLOR_TYPE_GRAY, 4},
                 {PNG_COLOR_TYPE_GRAY, 8},       {PNG_COLOR_TYPE_GRAY, 16},
                 {PNG_COLOR_TYPE_GRAY_ALPHA, 8}, {PNG_COLOR_TYPE_GRAY_ALPHA, 16},
                 {PNG_COLOR_TYPE_PALETTE, 2},    {PNG_COLOR_TYPE_PALETTE, 8},
                 {PNG_COLOR_TYPE_RGB, 16},       {PNG_COLOR_TYPE_RGB_ALPHA, 8},
                 {PNG_COLOR_TYPE_RGB_ALPHA, 16}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct rt_buf b;
        struct rt_error err;
        make_png(&b, 70, 65, cases[i].ctype, cases[i].depth);
        struct rt__image img;
        rt_error_clear(&err);
        int rc = rt__image_decode(b.data, b.len, RT__IMAGE_MAX_BYTES, &img, &err);
        if (rc != 0)
            RT_FAIL("ctype %d depth %d: %s", cases[i].ctype, cases[i].depth, err.msg);
        RT_ASSERT_INT_EQ(img.w, 70);
        RT_ASSERT_INT_EQ(img.h, 65);
        float feat[RT__FEATURES];
        RT_ASSERT_OK(rt__image_features(&img, feat));
        rt__image_free(&img);
        rt_buf_cleanup(&b);
    }
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(truncated_fails)
{
    struct rt_error err;
    for (int fmt = 0; fmt < 2; fmt++) {
        struct rt_buf b;
        synth(fmt ? RT_SYNTH_JPEG : RT_SYNTH_PNG, 96, &b);
        /* Every cut point of a real file: none may crash; a cut before the end fails. */
        for (size_t cut = 0; cut < b.len - 2; cut += 7) {
            int rc = decode(b.data, cut, &err);
            if (rc == 0)
                RT_FAIL("fmt %d cut at %zu of %zu decoded", fmt, cut, b.len);
        }
        RT_ASSERT_INT_EQ(decode(b.data, b.len / 2, &err), RT_EIMAGE);
        RT_ASSERT_CONTAINS(err.msg, fmt ? "jpeg" : "png");
        rt_buf_cleanup(&b);
    }
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(corrupt_never_crashes)
{
    struct rt_error err;
    uint64_t s = 42;
    for (int fmt = 0; fmt < 2; fmt++) {
        struct rt_buf b;
        synth(fmt ? RT_SYNTH_JPEG : RT_SYNTH_PNG, 80, &b);
        char *copy = rt_malloc(b.len);
        int failed = 0;
        for (int round = 0; round < 300; round++) {
            memcpy(copy, b.data, b.len);
            for (int k = 0; k < 4; k++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                copy[(s >> 33) % b.len] ^= (char)(1 + ((s >> 20) & 0x7f));
            }
            if (decode(copy, b.len, &err) != 0)
                failed++;
        }
        RT_ASSERT(failed > 0); /* PNG CRCs catch most flips; JPEG headers some */
        rt_free(copy);
        rt_buf_cleanup(&b);
    }
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(empty_and_non_image)
{
    struct rt_error err;
    RT_ASSERT_INT_EQ(decode("", 0, &err), RT_EIMAGE);
    RT_ASSERT_CONTAINS(err.msg, "empty");
    const char *text = "GIF89a this is not what we read";
    RT_ASSERT_INT_EQ(decode(text, strlen(text), &err), RT_EIMAGE);
    RT_ASSERT_CONTAINS(err.msg, "not a PNG or JPEG");
    RT_ASSERT_INT_EQ(decode("\x89PNG\r\n\x1a\n", 8, &err), RT_EIMAGE);
    RT_ASSERT_INT_EQ(decode("\xff\xd8\xff", 3, &err), RT_EIMAGE);
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
    }
    return ~c;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Rewrites the IHDR dimensions of a PNG (with a valid CRC, so only our limits stop it). */
static void png_set_dims(struct rt_buf *b, uint32_t w, uint32_t h)
{
    uint8_t *p = (uint8_t *)b->data;
    RT_ASSERT(memcmp(p + 12, "IHDR", 4) == 0);
    put32(p + 16, w);
    put32(p + 20, h);
    put32(p + 29, crc32_of(p + 12, 17));
}

/* Rewrites the SOF0 dimensions of a baseline JPEG. */
static void jpeg_set_dims(struct rt_buf *b, unsigned w, unsigned h)
{
    uint8_t *p = (uint8_t *)b->data;
    for (size_t i = 2; i + 9 < b->len; i++) {
        if (p[i] == 0xff && p[i + 1] == 0xc0) {
            p[i + 5] = (uint8_t)(h >> 8);
            p[i + 6] = (uint8_t)h;
            p[i + 7] = (uint8_t)(w >> 8);
            p[i + 8] = (uint8_t)w;
            return;
        }
    }
    RT_FAIL("no SOF0 marker");
}

RT_TEST(dimension_limits_before_decoding)
{
    struct rt_error err;
    struct rt_buf b;
    synth(RT_SYNTH_PNG, 64, &b);
    png_set_dims(&b, 100000, 100000);
    RT_ASSERT(decode(b.data, b.len, &err) != 0);
    png_set_dims(&b, 5000, 64);
    RT_ASSERT_INT_EQ(decode(b.data, b.len, &err), RT_ETOOBIG);
    RT_ASSERT_CONTAINS(err.msg, "larger than 4096x4096");
    png_set_dims(&b, 32, 32);
    RT_ASSERT_INT_EQ(decode(b.data, b.len, &err), RT_EIMAGE);
    RT_ASSERT_CONTAINS(err.msg, "smaller than 64x64");
    png_set_dims(&b, 4000, 100);
    RT_ASSERT_INT_EQ(decode(b.data, b.len, &err), RT_EIMAGE);
    RT_ASSERT_CONTAINS(err.msg, "aspect ratio");
    rt_buf_cleanup(&b);

    synth(RT_SYNTH_JPEG, 64, &b);
    jpeg_set_dims(&b, 60000, 60000);
    RT_ASSERT_INT_EQ(decode(b.data, b.len, &err), RT_ETOOBIG);
    jpeg_set_dims(&b, 40, 64);
    RT_ASSERT_INT_EQ(decode(b.data, b.len, &err), RT_EIMAGE);
    jpeg_set_dims(&b, 4096, 4096); /* within limits: data runs out, reported as truncated */
    RT_ASSERT_INT_EQ(decode(b.data, b.len, &err), RT_EIMAGE);
    rt_buf_cleanup(&b);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(byte_limit_before_parsing)
{
    struct rt_buf b;
    struct rt_error err;
    synth(RT_SYNTH_PNG, 64, &b);
    struct rt__image img;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt__image_decode(b.data, b.len, b.len - 1, &img, &err), RT_ETOOBIG);
    RT_ASSERT_CONTAINS(err.msg, "bytes");
    rt_buf_cleanup(&b);
}
