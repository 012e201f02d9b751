/*
 * synth.c - deterministic synthetic images per class and index, encoded as PNG or JPEG.
 *
 * Design: every pixel comes from a splitmix64 stream seeded by (class, index), so images are
 * reproducible across machines and runs with no data files. The classes differ in both colour
 * and structure, with enough random variation (base colour, phase, scale, positions, noise) that
 * no two images are equal, yet a tiny training set (5 per class) separates them reliably.
 */
#include "retraind/synth.h"

/* jpeglib.h needs FILE declared first. */
#include <stdio.h>

#include <errno.h>
#include <fcntl.h>
#include <jpeglib.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"

struct prng {
    uint64_t s;
};

static uint64_t next_u64(struct prng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static double next_unit(struct prng *r)
{
    return (double)(next_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* Uniform integer in [lo, hi]. */
static int next_int(struct prng *r, int lo, int hi)
{
    return lo + (int)(next_unit(r) * (double)(hi - lo + 1));
}

static uint8_t clamp8(int v)
{
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

struct rgb {
    int r, g, b;
};

/* A colour near base, each channel moved by up to +-spread. */
static struct rgb jitter(struct prng *r, struct rgb base, int spread)
{
    return (struct rgb){base.r + next_int(r, -spread, spread),
                        base.g + next_int(r, -spread, spread),
                        base.b + next_int(r, -spread, spread)};
}

struct circle {
    double cx, cy, rad;
};

int rt_synth_render(int cls, uint64_t index, int size, uint8_t *rgb, struct rt_error *err)
{
    if (cls < 0 || cls >= RT_SYNTH_CLASSES)
        return rt_error_set(err, RT_EINVAL, "synth: class %d out of range 0..%d", cls,
                            RT_SYNTH_CLASSES - 1);
    if (size < RT_SYNTH_SIZE_MIN || size > RT_SYNTH_SIZE_MAX)
        return rt_error_set(err, RT_EINVAL, "synth: size %d out of range %d..%d", size,
                            RT_SYNTH_SIZE_MIN, RT_SYNTH_SIZE_MAX);
    struct prng r = {.s = ((uint64_t)(cls + 1) * 0x100000001b3ULL) ^
                          (index * 0x9e3779b97f4a7c15ULL)};
    for (int i = 0; i < 4; i++)
        next_u64(&r);

    static const struct rgb bg_base[RT_SYNTH_CLASSES] = {
        {90, 30, 30}, {30, 40, 100}, {30, 90, 30}, {100, 90, 20}};
    static const struct rgb fg_base[RT_SYNTH_CLASSES] = {
        {230, 50, 40}, {70, 120, 235}, {60, 220, 70}, {240, 220, 60}};
    struct rgb bg = jitter(&r, bg_base[cls], 20);
    struct rgb fg = jitter(&r, fg_base[cls], 20);
    double s = (double)size;
    double period = s * (0.12 + 0.14 * next_unit(&r)); /* stripes/checks: 12..26% of the side */
    double phase = next_unit(&r) * period;
    double phase2 = next_unit(&r) * period;
    double duty = 0.4 + 0.2 * next_unit(&r);
    struct circle circles[6];
    int n_circles = 0;
    if (cls == 1) {
        n_circles = next_int(&r, 2, 6);
        for (int i = 0; i < n_circles; i++) {
            circles[i].rad = s * (0.08 + 0.14 * next_unit(&r));
            circles[i].cx = s * next_unit(&r);
            circles[i].cy = s * next_unit(&r);
        }
    }
    int noise = next_int(&r, 8, 24);

    for (int y = 0; y < size; y++) {
        for (int x = 0; x < size; x++) {
            double px = x + 0.5, py = y + 0.5;
            bool on = false;
            switch (cls) {
            case 0: {
                double t = (py + phase) / period;
                on = t - (double)(long)t < duty;
                break;
            }
            case 1:
                for (int i = 0; i < n_circles && !on; i++) {
                    double dx = px - circles[i].cx, dy = py - circles[i].cy;
                    on = dx * dx + dy * dy <= circles[i].rad * circles[i].rad;
                }
                break;
            case 2:
                on = (((long)((px + phase) / period) + (long)((py + phase2) / period)) & 1) != 0;
                break;
            default: {
                double t = (px + py + phase) / (period * 1.4);
                on = t - (double)(long)t < duty;
                break;
            }
            }
            struct rgb c = on ? fg : bg;
            uint8_t *o = rgb + ((size_t)y * (size_t)size + (size_t)x) * 3;
            o[0] = clamp8(c.r + next_int(&r, -noise, noise));
            o[1] = clamp8(c.g + next_int(&r, -noise, noise));
            o[2] = clamp8(c.b + next_int(&r, -noise, noise));
        }
    }
    return 0;
}

/* ---- PNG ---- */

struct png_out {
    struct rt_buf *buf;
    int rc;
};

static void png_write_cb(png_structp png, png_bytep data, size_t len)
{
    struct png_out *o = png_get_io_ptr(png);
    int rc = rt_buf_append(o->buf, data, len);
    if (rc != 0) {
        o->rc = rc;
        png_error(png, "write failed");
    }
}

static void png_flush_cb(png_structp png)
{
    (void)png;
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
    (void)msg;
    png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int encode_png(const uint8_t *rgb, int size, struct rt_buf *out, struct rt_error *err)
{
    struct png_out o = {out, 0};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, png_error_cb, png_warning_cb);
    if (!png)
        return rt_error_set(err, RT_ENOMEM, "synth: png_create_write_struct failed");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return rt_error_set(err, RT_ENOMEM, "synth: png_create_info_struct failed");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        int rc = o.rc ? o.rc : RT_EIMAGE;
        return rt_error_set(err, rc, "synth: PNG encoding failed");
    }
    png_set_write_fn(png, &o, png_write_cb, png_flush_cb);
    png_set_IHDR(png, info, (png_uint_32)size, (png_uint_32)size, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < size; y++)
        png_write_row(png, (png_const_bytep)(rgb + (size_t)y * (size_t)size * 3));
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    return 0;
}

/* ---- JPEG ---- */

struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jmp;
};

static void jpeg_error_exit_cb(j_common_ptr cinfo)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    longjmp(e->jmp, 1);
}

static void jpeg_output_message_cb(j_common_ptr cinfo)
{
    (void)cinfo;
}

static int encode_jpeg(const uint8_t *rgb, int size, struct rt_buf *out, struct rt_error *err)
{
    struct jpeg_compress_struct cinfo;
    struct jpeg_err jerr;
    /* Both are written by libjpeg through their addresses, so they live in memory and keep
     * their values across the longjmp below. */
    unsigned char *mem = NULL;
    unsigned long mem_len = 0;
    memset(&cinfo, 0, sizeof(cinfo));
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = jpeg_error_exit_cb;
    jerr.mgr.output_message = jpeg_output_message_cb;
    if (setjmp(jerr.jmp)) {
        jpeg_destroy_compress(&cinfo);
        free(mem); /* allocated by libjpeg's memory destination with malloc */
        return rt_error_set(err, RT_EIMAGE, "synth: JPEG encoding failed");
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &mem, &mem_len);
    cinfo.image_width = (JDIMENSION)size;
    cinfo.image_height = (JDIMENSION)size;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 90, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(rgb + (size_t)cinfo.next_scanline * (size_t)size * 3);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    int rc = rt_buf_append(out, mem, mem_len);
    free(mem);
    if (rc != 0)
        return rt_error_set(err, rc, "synth: output buffer full");
    return 0;
}

int rt_synth_render_blend(
    int cls, int cls2, int percent, uint64_t index, int size, uint8_t *rgb, struct rt_error *err)
{
    if (percent < 0 || percent > 100)
        return rt_error_set(err, RT_EINVAL, "synth: blend percent %d out of range 0..100", percent);
    int rc = rt_synth_render(cls, index, size, rgb, err);
    if (rc != 0 || percent == 0)
        return rc;
    if (cls2 < 0 || cls2 >= RT_SYNTH_CLASSES)
        return rt_error_set(err, RT_EINVAL, "synth: class %d out of range 0..%d", cls2,
                            RT_SYNTH_CLASSES - 1);
    size_t n = (size_t)size * (size_t)size * 3;
    uint8_t *other = rt_malloc(n);
    if (!other)
        return rt_error_set(err, RT_ENOMEM, "synth: out of memory");
    rc = rt_synth_render(cls2, index, size, other, err);
    if (rc == 0)
        for (size_t i = 0; i < n; i++)
            rgb[i] = (uint8_t)((rgb[i] * (100 - percent) + other[i] * percent + 50) / 100);
    rt_free(other);
    return rc;
}

int rt_synth_encode_blend(int cls,
                          int cls2,
                          int percent,
                          uint64_t index,
                          int size,
                          enum rt_synth_format fmt,
                          struct rt_buf *out,
                          struct rt_error *err)
{
    if (size < RT_SYNTH_SIZE_MIN || size > RT_SYNTH_SIZE_MAX)
        return rt_error_set(err, RT_EINVAL, "synth: size %d out of range %d..%d", size,
                            RT_SYNTH_SIZE_MIN, RT_SYNTH_SIZE_MAX);
    uint8_t *rgb = rt_malloc((size_t)size * (size_t)size * 3);
    if (!rgb)
        return rt_error_set(err, RT_ENOMEM, "synth: out of memory");
    int rc = rt_synth_render_blend(cls, cls2, percent, index, size, rgb, err);
    if (rc == 0) {
        size_t old = out->len;
        rc = fmt == RT_SYNTH_JPEG ? encode_jpeg(rgb, size, out, err)
                                  : encode_png(rgb, size, out, err);
        if (rc != 0 && out->data) {
            out->len = old;
            out->data[old] = '\0';
        }
    }
    rt_free(rgb);
    return rc;
}

int rt_synth_encode(int cls,
                    uint64_t index,
                    int size,
                    enum rt_synth_format fmt,
                    struct rt_buf *out,
                    struct rt_error *err)
{
    return rt_synth_encode_blend(cls, cls, 0, index, size, fmt, out, err);
}

int rt_synth_write_file(const char *path,
                        int cls,
                        uint64_t index,
                        int size,
                        enum rt_synth_format fmt,
                        struct rt_error *err)
{
    return rt_synth_write_blend_file(path, cls, cls, 0, index, size, fmt, err);
}

int rt_synth_write_blend_file(const char *path,
                              int cls,
                              int cls2,
                              int percent,
                              uint64_t index,
                              int size,
                              enum rt_synth_format fmt,
                              struct rt_error *err)
{
    struct rt_buf b;
    rt_buf_init(&b, (size_t)256 << 20);
    int rc = rt_synth_encode_blend(cls, cls2, percent, index, size, fmt, &b, err);
    if (rc != 0) {
        rt_buf_cleanup(&b);
        return rc;
    }
    char tmp[4096];
    if (rt_snprintf(tmp, sizeof(tmp), "%s.tmp", path) != 0) {
        rt_buf_cleanup(&b);
        return rt_error_set(err, RT_EINVAL, "synth: path too long");
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = -errno;
        rt_buf_cleanup(&b);
        return rt_error_set(err, rc, "synth: cannot create %s: %s", tmp, rt_strerror(rc));
    }
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(fd, b.data + off, b.len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    rt_buf_cleanup(&b);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0) {
        unlink(tmp);
        return rt_error_set(err, rc, "synth: cannot write %s: %s", path, rt_strerror(rc));
    }
    return 0;
}

int rt_synth_format_parse(const char *s, enum rt_synth_format *out)
{
    if (!s)
        return RT_EINVAL;
    if (strcmp(s, "png") == 0)
        *out = RT_SYNTH_PNG;
    else if (strcmp(s, "jpg") == 0 || strcmp(s, "jpeg") == 0)
        *out = RT_SYNTH_JPEG;
    else
        return RT_EINVAL;
    return 0;
}
