/*
 * image.c - PNG (libpng) and JPEG (libjpeg-turbo) decoding hardened against hostile files, and
 * the feature vector the classifier learns from.
 *
 * Design: both libraries report fatal errors through a longjmp out of their error callback;
 * every resource that may be live at that point is held in a variable declared volatile (or in
 * memory whose address the library holds) and released on the error path. Warnings are silenced
 * (they would go to stderr), except a premature end of a JPEG, which libjpeg hides by padding the
 * image with gray: we treat it as the truncation it is. Limits are checked in this order: bytes
 * (before anything is parsed), dimensions and aspect (right after the header), then the pixel
 * data is read. Progressive JPEGs are capped in scans, a known CPU-exhaustion vector.
 */
#include "image.h"

/* jpeglib.h needs FILE declared first. */
#include <stdio.h>

#include <jerror.h>
#include <jpeglib.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <string.h>

#include "retraind/alloc.h"
#include "retraind/buf.h"

/* A progressive JPEG needs about 10 scans; hostile files use thousands to burn CPU. */
#define MAX_JPEG_SCANS 100

void rt__image_free(struct rt__image *img)
{
    if (img) {
        rt_free(img->rgb);
        img->rgb = NULL;
        img->w = img->h = 0;
    }
}

static int check_dims(unsigned long w, unsigned long h, struct rt_error *err)
{
    if (w < RT__IMAGE_MIN_SIDE || h < RT__IMAGE_MIN_SIDE)
        return rt_error_set(err, RT_EIMAGE, "image %lux%lu is smaller than %dx%d pixels", w, h,
                            RT__IMAGE_MIN_SIDE, RT__IMAGE_MIN_SIDE);
    if (w > RT__IMAGE_MAX_SIDE || h > RT__IMAGE_MAX_SIDE)
        return rt_error_set(err, RT_ETOOBIG, "image %lux%lu is larger than %dx%d pixels", w, h,
                            RT__IMAGE_MAX_SIDE, RT__IMAGE_MAX_SIDE);
    if (w > h * RT__IMAGE_MAX_ASPECT || h > w * RT__IMAGE_MAX_ASPECT)
        return rt_error_set(err, RT_EIMAGE, "image %lux%lu has an aspect ratio above %d:1", w, h,
                            RT__IMAGE_MAX_ASPECT);
    return 0;
}

/* ---- PNG ---- */

struct png_src {
    const uint8_t *p;
    size_t len, pos;
    char msg[160];
};

static void png_read_cb(png_structp png, png_bytep out, size_t n)
{
    struct png_src *s = png_get_io_ptr(png);
    if (n > s->len - s->pos)
        png_error(png, "file is truncated");
    memcpy(out, s->p + s->pos, n);
    s->pos += n;
}

static void png_error_cb(png_structp png, png_const_charp msg)
{
    struct png_src *s = png_get_error_ptr(png);
    if (s && !s->msg[0])
        rt_strlcpy(s->msg, msg ? msg : "error", sizeof(s->msg));
    png_longjmp(png, 1);
}

static void png_warning_cb(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

static int decode_png(const uint8_t *data, size_t len, struct rt__image *out, struct rt_error *err)
{
    struct png_src src = {data, len, 0, ""};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_error_cb, png_warning_cb);
    if (!png)
        return rt_error_set(err, RT_ENOMEM, "png: out of memory");
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return rt_error_set(err, RT_ENOMEM, "png: out of memory");
    }
    uint8_t *volatile pixels = NULL;
    png_bytep *volatile rows = NULL;
    volatile int rc = 0;
    if (setjmp(png_jmpbuf(png))) {
        if (rc == 0)
            rc = rt_error_set(err, RT_EIMAGE, "png: %s", src.msg[0] ? src.msg : "corrupt");
        png_destroy_read_struct(&png, &info, NULL);
        rt_free(pixels);
        rt_free(rows);
        return rc;
    }
    png_set_read_fn(png, &src, png_read_cb);
    /* libpng's own guards: dimensions, and the memory one ancillary chunk may take. */
    png_set_user_limits(png, 65535, 65535); /* ours (check_dims) are tighter and run next */
    png_set_chunk_cache_max(png, 128);
    png_set_chunk_malloc_max(png, (png_alloc_size_t)8 << 20);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int dims_rc = check_dims(w, h, err);
    if (dims_rc != 0) {
        rc = dims_rc;
        png_error(png, "limits");
    }
    int ctype = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    if (depth == 16)
        png_set_strip_16(png);
    if (ctype == PNG_COLOR_TYPE_PALETTE)
        png_set_palette_to_rgb(png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8)
        png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS))
        png_set_tRNS_to_alpha(png);
    if (ctype == PNG_COLOR_TYPE_GRAY || ctype == PNG_COLOR_TYPE_GRAY_ALPHA)
        png_set_gray_to_rgb(png);
    png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)w * 3 || png_get_channels(png, info) != 3 ||
        png_get_bit_depth(png, info) != 8)
        png_error(png, "unsupported pixel layout");
    pixels = rt_malloc((size_t)w * h * 3);
    rows = rt_malloc(sizeof(png_bytep) * h);
    if (!pixels || !rows) {
        rc = rt_error_set(err, RT_ENOMEM, "png: out of memory for %ux%u pixels", w, h);
        png_error(png, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; y++)
        rows[y] = pixels + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    rt_free(rows);
    out->w = (int)w;
    out->h = (int)h;
    out->rgb = pixels;
    return 0;
}

/* ---- JPEG ---- */

struct jpeg_err {
    struct jpeg_error_mgr mgr;
    jmp_buf jmp;
    int truncated;
    int too_many_scans;
};

static void jpeg_error_exit_cb(j_common_ptr cinfo)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    longjmp(e->jmp, 1);
}

static void jpeg_emit_message_cb(j_common_ptr cinfo, int level)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    if (level < 0) {
        /* Both mean the compressed data ended before the image did; libjpeg would pad the
         * rest with gray and report success. */
        if (e->mgr.msg_code == JWRN_JPEG_EOF || e->mgr.msg_code == JWRN_HIT_MARKER)
            e->truncated = 1;
        e->mgr.num_warnings++;
    }
}

static void jpeg_progress_cb(j_common_ptr cinfo)
{
    struct jpeg_err *e = (struct jpeg_err *)cinfo->err;
    if (cinfo->is_decompressor) {
        j_decompress_ptr d = (j_decompress_ptr)cinfo;
        if (d->input_scan_number > MAX_JPEG_SCANS) {
            e->too_many_scans = 1;
            longjmp(e->jmp, 1);
        }
    }
}

static int decode_jpeg(const uint8_t *data, size_t len, struct rt__image *out, struct rt_error *err)
{
    struct jpeg_decompress_struct cinfo;
    struct jpeg_err jerr;
    struct jpeg_progress_mgr progress;
    memset(&cinfo, 0, sizeof(cinfo));
    memset(&jerr, 0, sizeof(jerr));
    cinfo.err = jpeg_std_error(&jerr.mgr);
    jerr.mgr.error_exit = jpeg_error_exit_cb;
    jerr.mgr.emit_message = jpeg_emit_message_cb;
    uint8_t *volatile pixels = NULL;
    uint8_t *volatile row = NULL;
    volatile int rc = 0;
    if (setjmp(jerr.jmp)) {
        if (rc == 0) {
            if (jerr.too_many_scans) {
                rc = rt_error_set(err, RT_EIMAGE, "jpeg: more than %d scans", MAX_JPEG_SCANS);
            } else {
                char msg[JMSG_LENGTH_MAX];
                msg[0] = '\0';
                jerr.mgr.format_message((j_common_ptr)&cinfo, msg);
                rc = rt_error_set(err, RT_EIMAGE, "jpeg: %s", msg[0] ? msg : "corrupt");
            }
        }
        jpeg_destroy_decompress(&cinfo);
        rt_free(pixels);
        rt_free(row);
        return rc;
    }
    jpeg_create_decompress(&cinfo);
    progress.progress_monitor = jpeg_progress_cb;
    cinfo.progress = &progress;
    /* Markers we do not need are not kept; libjpeg skips them without allocating. */
    jpeg_mem_src(&cinfo, data, (unsigned long)len);
    jpeg_read_header(&cinfo, TRUE);
    int dims_rc = check_dims(cinfo.image_width, cinfo.image_height, err);
    if (dims_rc != 0) {
        rc = dims_rc;
        longjmp(jerr.jmp, 1);
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    /* Decode large images at a reduced scale: features use a 64x64 view anyway. */
    unsigned int denom = 1;
    unsigned int small =
        cinfo.image_width < cinfo.image_height ? cinfo.image_width : cinfo.image_height;
    while (denom < 8 && small / (denom * 2) >= RT__IMAGE_MIN_SIDE)
        denom *= 2;
    cinfo.scale_num = 1;
    cinfo.scale_denom = denom;
    jpeg_start_decompress(&cinfo);
    unsigned int w = cinfo.output_width, h = cinfo.output_height;
    int comps = cinfo.output_components;
    if ((comps != 3 && comps != 4) || w == 0 || h == 0) {
        rc = rt_error_set(err, RT_EIMAGE, "jpeg: unsupported colour layout (%d components)", comps);
        longjmp(jerr.jmp, 1);
    }
    pixels = rt_malloc((size_t)w * h * 3);
    row = rt_malloc((size_t)w * (size_t)comps);
    if (!pixels || !row) {
        rc = rt_error_set(err, RT_ENOMEM, "jpeg: out of memory for %ux%u pixels", w, h);
        longjmp(jerr.jmp, 1);
    }
    /* Adobe writes CMYK inverted; libjpeg reports the marker it saw. */
    int inverted = cmyk && cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < h) {
        JSAMPROW r = (JSAMPROW)row;
        unsigned int y = cinfo.output_scanline;
        if (jpeg_read_scanlines(&cinfo, &r, 1) != 1) {
            rc = rt_error_set(err, RT_EIMAGE, "jpeg: file is truncated");
            longjmp(jerr.jmp, 1);
        }
        uint8_t *o = pixels + (size_t)y * w * 3;
        if (comps == 3) {
            memcpy(o, row, (size_t)w * 3);
        } else {
            for (unsigned int x = 0; x < w; x++) {
                int c = row[x * 4], m = row[x * 4 + 1], yy = row[x * 4 + 2], k = row[x * 4 + 3];
                if (!inverted) {
                    c = 255 - c, m = 255 - m, yy = 255 - yy, k = 255 - k;
                }
                o[x * 3] = (uint8_t)(c * k / 255);
                o[x * 3 + 1] = (uint8_t)(m * k / 255);
                o[x * 3 + 2] = (uint8_t)(yy * k / 255);
            }
        }
        if (jerr.truncated) {
            rc = rt_error_set(err, RT_EIMAGE, "jpeg: file is truncated");
            longjmp(jerr.jmp, 1);
        }
    }
    jpeg_finish_decompress(&cinfo);
    if (jerr.truncated) {
        rc = rt_error_set(err, RT_EIMAGE, "jpeg: file is truncated");
        longjmp(jerr.jmp, 1);
    }
    jpeg_destroy_decompress(&cinfo);
    rt_free(row);
    out->w = (int)w;
    out->h = (int)h;
    out->rgb = pixels;
    return 0;
}

int rt__image_decode(
    const void *data, size_t len, size_t max_bytes, struct rt__image *out, struct rt_error *err)
{
    out->w = out->h = 0;
    out->rgb = NULL;
    if (len > max_bytes)
        return rt_error_set(err, RT_ETOOBIG, "image of %zu bytes is larger than %zu bytes", len,
                            max_bytes);
    const uint8_t *p = data;
    if (len == 0)
        return rt_error_set(err, RT_EIMAGE, "image is empty (0 bytes)");
    if (len >= 8 && png_sig_cmp((png_const_bytep)p, 0, 8) == 0)
        return decode_png(p, len, out, err);
    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff)
        return decode_jpeg(p, len, out, err);
    return rt_error_set(err, RT_EIMAGE, "not a PNG or JPEG file");
}

/* ---- features ---- */

#define VIEW 64 /* features are computed on a VIEW x VIEW box-filtered copy */

int rt__image_features(const struct rt__image *img, float *feat)
{
    float *view = rt_malloc(sizeof(float) * VIEW * VIEW * 3);
    if (!view)
        return RT_ENOMEM;
    /* Box filter: each view pixel averages the source rectangle it covers. */
    for (int vy = 0; vy < VIEW; vy++) {
        int y0 = vy * img->h / VIEW, y1 = (vy + 1) * img->h / VIEW;
        if (y1 <= y0)
            y1 = y0 + 1;
        for (int vx = 0; vx < VIEW; vx++) {
            int x0 = vx * img->w / VIEW, x1 = (vx + 1) * img->w / VIEW;
            if (x1 <= x0)
                x1 = x0 + 1;
            double s[3] = {0, 0, 0};
            for (int y = y0; y < y1; y++) {
                const uint8_t *r = img->rgb + ((size_t)y * (size_t)img->w + (size_t)x0) * 3;
                for (int x = x0; x < x1; x++, r += 3) {
                    s[0] += r[0];
                    s[1] += r[1];
                    s[2] += r[2];
                }
            }
            double n = (double)(y1 - y0) * (double)(x1 - x0) * 255.0;
            float *o = view + ((size_t)vy * VIEW + (size_t)vx) * 3;
            o[0] = (float)(s[0] / n);
            o[1] = (float)(s[1] / n);
            o[2] = (float)(s[2] / n);
        }
    }
    memset(feat, 0, sizeof(float) * RT__FEATURES);
    float *thumb = feat;       /* 8x8x3 = 192 */
    float *hist = feat + 192;  /* 4x4x4 = 64 */
    float *grad = feat + 256;  /* 2x2x8 = 32 */
    float *stats = feat + 288; /* 6 */
    const float cell = 1.0f / 64.0f;
    const float px = 1.0f / (VIEW * VIEW);
    double sum[3] = {0, 0, 0}, sq[3] = {0, 0, 0};
    for (int y = 0; y < VIEW; y++) {
        for (int x = 0; x < VIEW; x++) {
            const float *v = view + ((size_t)y * VIEW + (size_t)x) * 3;
            int t = ((y / 8) * 8 + x / 8) * 3;
            int bins[3];
            for (int c = 0; c < 3; c++) {
                thumb[t + c] += v[c] * cell;
                sum[c] += v[c];
                sq[c] += (double)v[c] * v[c];
                int b = (int)(v[c] * 4.0f);
                bins[c] = b > 3 ? 3 : b < 0 ? 0 : b;
            }
            hist[bins[0] * 16 + bins[1] * 4 + bins[2]] += px;
            if (x > 0 && y > 0 && x < VIEW - 1 && y < VIEW - 1) {
                /* Central differences on luma; orientation folded to 0..pi, 8 bins. */
                const float *l = v - 3, *r = v + 3, *u = v - VIEW * 3, *d = v + VIEW * 3;
                float gx = 0.299f * (r[0] - l[0]) + 0.587f * (r[1] - l[1]) + 0.114f * (r[2] - l[2]);
                float gy = 0.299f * (d[0] - u[0]) + 0.587f * (d[1] - u[1]) + 0.114f * (d[2] - u[2]);
                float mag = sqrtf(gx * gx + gy * gy);
                if (mag > 1e-4f) {
                    float ang = atan2f(gy, gx);
                    if (ang < 0)
                        ang += (float)M_PI;
                    int b = (int)(ang / (float)M_PI * 8.0f);
                    b = b > 7 ? 7 : b < 0 ? 0 : b;
                    int g = (y >= VIEW / 2) * 2 + (x >= VIEW / 2);
                    grad[g * 8 + b] += mag * px * 4.0f;
                }
            }
        }
    }
    for (int c = 0; c < 3; c++) {
        double m = sum[c] / (VIEW * VIEW);
        double var = sq[c] / (VIEW * VIEW) - m * m;
        stats[c] = (float)m;
        stats[3 + c] = (float)sqrt(var > 0 ? var : 0);
    }
    rt_free(view);
    return 0;
}
