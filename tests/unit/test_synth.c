/* test_synth.c - synthetic images: deterministic, distinct, and decodable as PNG and JPEG. */
#include <string.h>
#include <sys/stat.h>

#include "../../src/engine/builtin/image.h"
#include "retraind/alloc.h"
#include "retraind/synth.h"
#include "rt_test.h"

RT_TEST(deterministic_and_varied)
{
    size_t n = 64 * 64 * 3;
    uint8_t *a = rt_malloc(n), *b = rt_malloc(n), *c = rt_malloc(n);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_synth_render(0, 7, 64, a, &err));
    RT_ASSERT_OK(rt_synth_render(0, 7, 64, b, &err));
    RT_ASSERT(memcmp(a, b, n) == 0);
    RT_ASSERT_OK(rt_synth_render(0, 8, 64, c, &err));
    RT_ASSERT(memcmp(a, c, n) != 0);
    RT_ASSERT_OK(rt_synth_render(1, 7, 64, c, &err));
    RT_ASSERT(memcmp(a, c, n) != 0);
    rt_free(a);
    rt_free(b);
    rt_free(c);
}

/* Class 0 is red-dominant, class 1 blue-dominant, class 2 green-dominant. */
RT_TEST(classes_have_their_colour)
{
    size_t n = 96 * 96 * 3;
    uint8_t *p = rt_malloc(n);
    struct rt_error err;
    rt_error_clear(&err);
    for (int cls = 0; cls < 3; cls++) {
        for (uint64_t i = 0; i < 20; i++) {
            RT_ASSERT_OK(rt_synth_render(cls, i, 96, p, &err));
            double s[3] = {0, 0, 0};
            for (size_t k = 0; k < n; k++)
                s[k % 3] += p[k];
            int dom = s[0] >= s[1] && s[0] >= s[2] ? 0 : s[1] >= s[2] ? 1 : 2;
            int want = cls == 0 ? 0 : cls == 1 ? 2 : 1;
            RT_ASSERT_INT_EQ(dom, want);
        }
    }
    rt_free(p);
}

RT_TEST(bad_arguments)
{
    uint8_t px[8 * 8 * 3];
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_synth_render(RT_SYNTH_CLASSES, 0, 8, px, &err), RT_EINVAL);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_synth_render(-1, 0, 8, px, &err), RT_EINVAL);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_synth_render(0, 0, 4, px, &err), RT_EINVAL);
    enum rt_synth_format f;
    RT_ASSERT_OK(rt_synth_format_parse("jpg", &f));
    RT_ASSERT_INT_EQ(f, RT_SYNTH_JPEG);
    RT_ASSERT_INT_EQ(rt_synth_format_parse("gif", &f), RT_EINVAL);
}

static void encode_decode(enum rt_synth_format fmt, int size)
{
    struct rt_buf b;
    rt_buf_init(&b, 1 << 24);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_synth_encode(2, 3, size, fmt, &b, &err));
    RT_ASSERT(b.len > 100);
    struct rt__image img;
    RT_ASSERT_OK(rt__image_decode(b.data, b.len, RT__IMAGE_MAX_BYTES, &img, &err));
    RT_ASSERT_INT_EQ(img.w, size);
    RT_ASSERT_INT_EQ(img.h, size);
    rt__image_free(&img);
    rt_buf_cleanup(&b);
}

RT_TEST(png_and_jpeg_decode)
{
    encode_decode(RT_SYNTH_PNG, 64);
    encode_decode(RT_SYNTH_JPEG, 64);
    encode_decode(RT_SYNTH_PNG, 130);
    encode_decode(RT_SYNTH_JPEG, 100);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}

RT_TEST(write_file)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/x.jpg", rt_test_tmpdir());
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_synth_write_file(path, 1, 0, 64, RT_SYNTH_JPEG, &err));
    struct stat st;
    RT_ASSERT(stat(path, &st) == 0 && st.st_size > 100);
    snprintf(path, sizeof(path), "%s/no/such/dir/x.png", rt_test_tmpdir());
    rt_error_clear(&err);
    RT_ASSERT(rt_synth_write_file(path, 1, 0, 64, RT_SYNTH_PNG, &err) < 0);
    RT_ASSERT(err.msg[0] != '\0');
}

/* A blend mixes two classes' images pixel by pixel: 0% is the first image exactly, 100% the
 * second, 40% the weighted mean; a bad percent or class is refused. */
RT_TEST(blend)
{
    size_t n = 64 * 64 * 3;
    uint8_t *a = rt_malloc(n), *b = rt_malloc(n), *m = rt_malloc(n);
    struct rt_error err;
    rt_error_clear(&err);
    RT_ASSERT_OK(rt_synth_render(0, 5, 64, a, &err));
    RT_ASSERT_OK(rt_synth_render(1, 5, 64, b, &err));
    RT_ASSERT_OK(rt_synth_render_blend(0, 1, 0, 5, 64, m, &err));
    RT_ASSERT(memcmp(m, a, n) == 0);
    RT_ASSERT_OK(rt_synth_render_blend(0, 1, 100, 5, 64, m, &err));
    RT_ASSERT(memcmp(m, b, n) == 0);
    RT_ASSERT_OK(rt_synth_render_blend(0, 1, 40, 5, 64, m, &err));
    for (size_t i = 0; i < n; i++) {
        int want = (a[i] * 60 + b[i] * 40 + 50) / 100;
        RT_ASSERT_INT_EQ(m[i], want);
    }
    RT_ASSERT(memcmp(m, a, n) != 0 && memcmp(m, b, n) != 0);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_synth_render_blend(0, 1, 101, 5, 64, m, &err), RT_EINVAL);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_synth_render_blend(0, 1, -1, 5, 64, m, &err), RT_EINVAL);
    rt_error_clear(&err);
    RT_ASSERT_INT_EQ(rt_synth_render_blend(0, RT_SYNTH_CLASSES, 50, 5, 64, m, &err), RT_EINVAL);

    /* Encoded, it decodes; percent 0 gives rt_synth_encode's very bytes. */
    struct rt_buf x, y;
    rt_buf_init(&x, 1 << 24);
    rt_buf_init(&y, 1 << 24);
    RT_ASSERT_OK(rt_synth_encode_blend(0, 1, 0, 5, 64, RT_SYNTH_PNG, &x, &err));
    RT_ASSERT_OK(rt_synth_encode(0, 5, 64, RT_SYNTH_PNG, &y, &err));
    RT_ASSERT(x.len == y.len && memcmp(x.data, y.data, x.len) == 0);
    rt_buf_cleanup(&x);
    rt_buf_init(&x, 1 << 24);
    RT_ASSERT_OK(rt_synth_encode_blend(0, 1, 40, 5, 64, RT_SYNTH_PNG, &x, &err));
    struct rt__image img;
    RT_ASSERT_OK(rt__image_decode(x.data, x.len, RT__IMAGE_MAX_BYTES, &img, &err));
    RT_ASSERT_INT_EQ(img.w, 64);
    rt__image_free(&img);
    rt_buf_cleanup(&x);
    rt_buf_cleanup(&y);
    rt_free(a);
    rt_free(b);
    rt_free(m);
    RT_ASSERT_INT_EQ(rt_alloc_live(), 0);
}
